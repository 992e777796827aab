"""Test videos of moving shapes, and a deterministic segmenter that finds those shapes.

A red square and a green disc, both "person", cross each other (the disc passes in front);
a blue square, a "sports ball", stays still. The audio track is a 440 Hz tone.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from party_button.render.segmenter import Detection, SegmenterOptions

BACKGROUND = (40, 40, 48)
SHAPES = {"square": (220, 40, 40), "disc": (40, 200, 60), "ball": (40, 60, 220)}
LABELS = {"square": "person", "disc": "person", "ball": "sports ball"}
SCORES = {"square": 0.95, "disc": 0.85, "ball": 0.8}
TONE_HZ = 440
SAMPLE_RATE = 48000


@dataclass(frozen=True)
class ShapeVideo:
    """Where a test video is and how it was made."""

    path: Path
    width: int
    height: int
    fps: int
    frames: int


def shape_masks(index: int, frames: int, width: int, height: int) -> dict[str, np.ndarray]:
    """The visible pixels of each shape in frame ``index`` (the disc covers the square)."""
    rows, cols = np.mgrid[0:height, 0:width]
    travel = index / max(1, frames - 1)
    size = height // 5
    square_x = round(0.05 * width + travel * 0.75 * width)
    square_y = height // 2 - size // 2
    square = (
        (cols >= square_x)
        & (cols < square_x + size)
        & (rows >= square_y)
        & (rows < square_y + size)
    )
    disc_cx = 0.9 * width - travel * 0.75 * width
    disc = (cols - disc_cx) ** 2 + (rows - height / 2 - 3) ** 2 <= (size / 2) ** 2
    ball = (
        (cols >= width - size)
        & (cols < width - size // 3)
        & (rows >= 2)
        & (rows < 2 + size * 2 // 3)
    )
    return {"square": square & ~disc, "disc": disc, "ball": ball}


def shape_frame(index: int, frames: int, width: int, height: int) -> np.ndarray:
    """Frame ``index`` of the test video as an RGB picture."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[...] = BACKGROUND
    for name, mask in shape_masks(index, frames, width, height).items():
        image[mask] = SHAPES[name]
    return image


def make_video(
    path: Path,
    *,
    frames: int = 40,
    width: int = 160,
    height: int = 120,
    fps: int = 10,
    audio: bool = True,
    audio_codec: str = "aac",
    video_codec: str = "libx264",
    sideways: bool = False,
    keyframe_every: int | None = None,
) -> ShapeVideo:
    """Write a video of the shapes (and a tone) to ``path`` with PyAV.

    ``keyframe_every`` frames there is a keyframe (default: the encoder's choice; for H.264
    only the first in a video shorter than 250 frames). ``sideways`` stores the pictures
    turned a quarter clockwise, with a display matrix that tells players to turn them back,
    as phones store portrait video.
    """
    with av.open(str(path), "w") as container:
        video = container.add_stream(video_codec, rate=fps)
        video.width, video.height = (height, width) if sideways else (width, height)
        if sideways:
            video.set_display_rotation(90)
        video.pix_fmt = "yuv420p" if video_codec == "libx264" else "yuvj420p"
        if video_codec == "libx264":
            video.options = {"crf": "10"}
        if keyframe_every is not None:
            video.codec_context.gop_size = keyframe_every
        sound = None
        if audio:
            sound = container.add_stream(audio_codec, rate=SAMPLE_RATE, layout="mono")
        for index in range(frames):
            image = shape_frame(index, frames, width, height)
            if sideways:
                image = np.ascontiguousarray(np.rot90(image, k=-1))
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            _write_tone(container, sound, frames / fps)
    return ShapeVideo(path, width, height, fps, frames)


def _write_tone(
    container: av.container.OutputContainer, sound: av.AudioStream, seconds: float
) -> None:
    samples = round(seconds * SAMPLE_RATE)
    chunk = 1024
    fmt = "fltp" if sound.codec_context.name in ("aac", "libopus", "opus") else "s16"
    for first in range(0, samples, chunk):
        count = min(chunk, samples - first)
        t = (np.arange(first, first + count) / SAMPLE_RATE).astype(np.float64)
        wave = 0.3 * np.sin(2 * np.pi * TONE_HZ * t)
        data = (wave.astype(np.float32) if fmt == "fltp" else (wave * 32767).astype(np.int16))[
            None, :
        ]
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = first
        frame.time_base = Fraction(1, SAMPLE_RATE)
        container.mux(sound.encode(frame))
    container.mux(sound.encode(None))


@dataclass(frozen=True)
class DecodedVideo:
    """What a test sees in a video file."""

    frames: list[np.ndarray]
    times: list[float]
    rate: Fraction
    audio_codec: str | None
    audio_seconds: float


def read_video(path: Path) -> DecodedVideo:
    """Decode every frame of ``path`` (RGB) and measure its audio."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames, times = [], []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            times.append(float(frame.time))
        rate = Fraction(stream.average_rate)
    audio_codec, seconds = None, 0.0
    with av.open(str(path)) as container:
        if container.streams.audio:
            audio = container.streams.audio[0]
            audio_codec = audio.codec_context.name
            samples = sum(frame.samples for frame in container.decode(audio))
            seconds = samples / audio.codec_context.sample_rate
    return DecodedVideo(frames, times, rate, audio_codec, seconds)


def work_folder(clip: Path) -> Path:
    """The work folder of an unfinished render of ``clip``."""
    return clip.parent / f".{clip.name}.render"


def assert_same_clip(clip: Path, reference: Path) -> None:
    """Same pictures, timestamps, audio and detections as ``reference``."""
    ours, theirs = read_video(clip), read_video(reference)
    assert len(ours.frames) == len(theirs.frames)
    assert ours.times == theirs.times
    for index, (a, b) in enumerate(zip(ours.frames, theirs.frames, strict=True)):
        assert np.array_equal(a, b), f"frame {index} differs"
    assert ours.audio_seconds == theirs.audio_seconds
    frames = json.loads(clip.with_suffix(".json").read_text())["frames"]
    assert frames == json.loads(reference.with_suffix(".json").read_text())["frames"]


def find_colour(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """Pixels of ``image`` close to ``colour`` (allowing for compression)."""
    distance = np.abs(image.astype(np.int16) - np.array(colour, dtype=np.int16)).sum(axis=2)
    return distance < 90


class ShapeSegmenter:
    """Finds the test shapes by their colours: the render's deterministic stand-in for Mask
    R-CNN. Detections come sorted from left to right, so their order flips as the shapes
    cross, as a model's order would."""

    def __init__(self, options: SegmenterOptions) -> None:
        self.options = options
        self.frames_seen = 0

    def segment(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        results = []
        for image in frames:
            found = []
            for name, colour in SHAPES.items():
                label, score = LABELS[name], SCORES[name]
                mask = find_colour(image, colour)
                if (
                    label not in self.options.classes
                    or score < self.options.score_threshold
                    or mask.sum() < 4
                ):
                    continue
                rows, cols = np.nonzero(mask)
                box = (
                    float(cols.min()),
                    float(rows.min()),
                    float(cols.max() + 1),
                    float(rows.max() + 1),
                )
                found.append(Detection.from_frame_mask(label, score, box, mask))
            results.append(sorted(found, key=lambda d: d.box[0]))
        self.frames_seen += len(frames)
        return results

    def describe(self) -> dict[str, object]:
        return {"name": "shapes", "classes": list(self.options.classes)}


class StoppingSegmenter(ShapeSegmenter):
    """A :class:`ShapeSegmenter` whose process gets the signal named by ``SHAPES_SIGNAL``
    (SIGKILL: a crash; SIGINT: Ctrl-C) once it has seen ``SHAPES_STOP_AFTER`` frames and
    the file ``SHAPES_WAIT_FOR`` exists (the render's saved state). Without
    ``SHAPES_STOP_AFTER`` in the environment it never stops."""

    def segment(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        stop_after = os.environ.get("SHAPES_STOP_AFTER")
        if stop_after is not None and self.frames_seen >= int(stop_after):
            wait_for = Path(os.environ["SHAPES_WAIT_FOR"])
            deadline = time.monotonic() + 20
            while not wait_for.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            os.kill(os.getpid(), getattr(signal, os.environ["SHAPES_SIGNAL"]))
        return super().segment(frames)


class TallySegmenter(ShapeSegmenter):
    """A :class:`ShapeSegmenter` that says in its description which process it runs in and
    how many segmenters that process has built: one per worker, however many videos."""

    built = 0

    def __init__(self, options: SegmenterOptions) -> None:
        super().__init__(options)
        TallySegmenter.built += 1

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "process": os.getpid(), "built": TallySegmenter.built}


class KillingSegmenter(ShapeSegmenter):
    """A :class:`ShapeSegmenter` that kills its own process (SIGKILL, as a machine that
    dies) once, as the JSON file named by ``SHAPES_KILL_PLAN`` says: after ``after`` frames,
    as soon as the file ``wait_for`` exists (the segments saved so far), unless the file
    ``marker`` exists; it writes ``marker`` first, so the retry lives. Without the plan file
    it never kills."""

    def segment(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        plan_file = Path(os.environ.get("SHAPES_KILL_PLAN", "/nonexistent"))
        if plan_file.exists():
            plan = json.loads(plan_file.read_text())
            marker = Path(plan["marker"])
            if self.frames_seen >= plan["after"] and not marker.exists():
                wait_for = Path(plan["wait_for"])
                deadline = time.monotonic() + 60
                while not wait_for.exists() and time.monotonic() < deadline:
                    time.sleep(0.02)
                marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        return super().segment(frames)

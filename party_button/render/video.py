"""Reading the input video with PyAV: what is in it, and its frames as RGB pictures."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.sidedata.sidedata import Type

from party_button.errors import InputVideoError, reason

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Orientation:
    """How to turn decoded pictures upright, as the stream's display matrix asks.

    Phones store portrait video sideways and say so in the matrix; players turn it on
    screen. The clip is written upright, so the render turns each picture itself: a swap
    of rows and columns, then flips, which together make all eight quarter turns and mirrors.
    """

    swap: bool = False
    flip_rows: bool = False
    flip_cols: bool = False

    @classmethod
    def from_matrix(cls, matrix: Sequence[int], path: Path) -> Orientation:
        """The orientation of a display matrix (nine 16.16 fixed-point numbers, row by row).

        A point (x, y) of the stored picture, x rightwards and y downwards, is shown at
        (a x + c y, b x + d y). A matrix that is no quarter turn or mirror is left alone.
        """
        a, b, c, d = (round(int(matrix[i]) / 65536, 3) for i in (0, 1, 3, 4))
        if a == d == 0 and abs(b) == abs(c) == 1:
            return cls(swap=True, flip_rows=b < 0, flip_cols=c < 0)
        if b == c == 0 and abs(a) == abs(d) == 1:
            return cls(flip_rows=d < 0, flip_cols=a < 0)
        log.warning(
            "%s: the display matrix turns the picture by no quarter turn; it is left as stored",
            path,
        )
        return cls()

    def stored_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The width and height to decode to, for upright pictures of ``size``."""
        return (size[1], size[0]) if self.swap else size

    def upright(self, image: np.ndarray) -> np.ndarray:
        """``image`` (rows, columns, channels) as it is shown."""
        if self.swap:
            image = image.transpose(1, 0, 2)
        if self.flip_rows:
            image = image[::-1]
        if self.flip_cols:
            image = image[:, ::-1]
        return np.ascontiguousarray(image)


@dataclass(frozen=True)
class VideoInfo:
    """The facts about an input video that the render needs."""

    path: Path
    width: int  # as shown: after the display matrix's turn
    height: int
    rate: Fraction
    time_base: Fraction
    frames: int | None
    audio_codec: str | None
    orientation: Orientation = Orientation()

    def output_size(self, height: int) -> tuple[int, int]:
        """Width and height of the clip: ``height`` tall at most, never enlarged, both even."""
        height = min(height, self.height)
        width = round(self.width * height / self.height)
        return max(2, width - width % 2), max(2, height - height % 2)


@dataclass(frozen=True)
class SourceFrame:
    """One decoded frame: its number among decodable frames, timestamp and picture.

    ``skipped_before`` lists the corrupt frames that were left out since the frame before.
    """

    index: int
    pts: int
    image: np.ndarray
    skipped_before: tuple[dict[str, object], ...] = ()


def open_input(path: Path) -> av.container.InputContainer:
    """Open ``path`` for reading, or raise :class:`InputVideoError` saying why not."""
    if not path.exists():
        raise InputVideoError(f"{path}: no such file")
    if path.is_dir():
        raise InputVideoError(f"{path}: is a folder, not a video file")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as error:
        raise InputVideoError(
            f"{path}: not a video file that ffmpeg can read ({reason(error)})"
        ) from None


def probe(path: Path) -> VideoInfo:
    """Read what :class:`VideoInfo` holds from ``path``'s first video stream."""
    with open_input(path) as container:
        if not container.streams.video:
            raise InputVideoError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        context = stream.codec_context
        if not context.width or not context.height:
            raise InputVideoError(f"{path}: the video stream has no picture size")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise InputVideoError(f"{path}: the video stream has no frame rate")
        aspect = context.sample_aspect_ratio or Fraction(1)
        audio = container.streams.audio
        orientation = _orientation(container, stream, path)
        width, height = round(context.width * aspect), context.height
        if orientation.swap:
            width, height = height, width
        return VideoInfo(
            path=path,
            width=width,
            height=height,
            rate=Fraction(rate),
            time_base=Fraction(stream.time_base),
            frames=_frame_count(stream, container, Fraction(rate)),
            audio_codec=audio[0].codec_context.name if audio else None,
            orientation=orientation,
        )


def _orientation(
    container: av.container.InputContainer, stream: av.VideoStream, path: Path
) -> Orientation:
    """The orientation that the first frame which decodes carries (upright when none)."""
    for frame in _decode(container, stream):
        if isinstance(frame, _Damage):
            continue
        for data in frame.side_data:
            if data.type is Type.DISPLAYMATRIX:
                return Orientation.from_matrix(np.frombuffer(bytes(data), dtype=np.int32), path)
        break
    return Orientation()


def _frame_count(
    stream: av.VideoStream, container: av.container.InputContainer, rate: Fraction
) -> int | None:
    if stream.frames:
        return stream.frames
    if stream.duration is not None:
        return round(stream.duration * stream.time_base * rate)
    if container.duration is not None:
        return round(Fraction(container.duration, av.time_base) * rate)
    return None


class FrameReader:
    """Decodes frames ``start`` to ``stop`` (``None``: to the end), scaled to ``size``.

    Frames are numbered in decoding order, counting only frames that decode. Packets in the
    range that fail to decode are logged, left out, and listed with the next frame.

    A reader that starts later than the first frame seeks: it finds the timestamp of frame
    ``start`` among the stream's packets (read without decoding), jumps to the keyframe at
    or before it and decodes forward to that frame. Where that cannot be trusted (packets
    without timestamps, the jump landing past the frame, a packet on the way that does not
    decode) it decodes from the first frame instead. ``threads`` caps the decoder's threads
    (``None``: as many as ffmpeg picks for this machine).
    """

    def __init__(
        self,
        info: VideoInfo,
        size: tuple[int, int],
        start: int = 0,
        stop: int | None = None,
        threads: int | None = None,
    ) -> None:
        self.info = info
        self.size = size
        self.start = start
        self.stop = stop
        self.threads = threads

    def __iter__(self) -> Iterator[SourceFrame]:
        if self.stop is not None and self.stop <= self.start:
            return
        if self.start:
            with open_input(self.info.path) as container:
                frames = self._seek(container)
                if frames is not None:
                    yield from self._read(frames, self.start)
                    return
            log.debug("%s: decoding from the start to frame %d", self.info.path, self.start)
        with open_input(self.info.path) as container:
            yield from self._read(self._decoded(container), 0)

    def _decoded(self, container: av.container.InputContainer) -> Iterator[av.VideoFrame | _Damage]:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if self.threads is not None:
            stream.thread_count = self.threads
        return _decode(container, stream)

    def _seek(
        self, container: av.container.InputContainer
    ) -> Iterator[av.VideoFrame | _Damage] | None:
        """The decoded frames from frame ``start`` on, reached by a seek; ``None`` where a
        seek cannot be trusted to reach exactly that frame."""
        stream = container.streams.video[0]
        target = _frame_pts(container, stream, self.start)
        if target is None:
            return None
        container.seek(target, backward=True, any_frame=False, stream=stream)
        frames = self._decoded(container)
        for frame in frames:
            if isinstance(frame, _Damage) or frame.pts is None or frame.pts > target:
                return None
            if frame.pts == target:
                return itertools.chain([frame], frames)
        return None

    def _read(self, frames: Iterator[av.VideoFrame | _Damage], index: int) -> Iterator[SourceFrame]:
        """The frames from ``frames`` (the first of which is frame ``index``) that are in
        the range."""
        last_pts: int | None = None
        skipped: list[dict[str, object]] = []
        for frame in frames:
            if isinstance(frame, _Damage):
                if index >= self.start:
                    skipped.extend(self._report(frame, index))
                continue
            if index >= self.start:
                last_pts = self._pts(frame, index, last_pts)
                width, height = self.info.orientation.stored_size(self.size)
                image = frame.to_ndarray(width=width, height=height, format="rgb24")
                image = self.info.orientation.upright(image)
                yield SourceFrame(index, last_pts, image, tuple(skipped))
                skipped.clear()
            index += 1
            if self.stop is not None and index >= self.stop:
                return

    def _report(self, damage: _Damage, index: int) -> list[dict[str, object]]:
        if damage.truncated:
            log.warning(
                "%s: the file ends early, after frame %d (%s)",
                self.info.path,
                index - 1,
                damage.reason,
            )
            return []
        when = "" if damage.time is None else f" near {damage.time:.2f} s"
        log.warning("%s: a corrupt frame%s was skipped (%s)", self.info.path, when, damage.reason)
        return [{"time": damage.time, "reason": damage.reason}]

    def _pts(self, frame: av.VideoFrame, index: int, last_pts: int | None) -> int:
        """The frame's timestamp; made up from its number, or nudged, where it is missing or
        does not increase, so that the encoder can take it."""
        pts = frame.pts
        if pts is None:
            pts = round(index / self.info.rate / self.info.time_base)
        if last_pts is not None and pts <= last_pts:
            pts = last_pts + 1
        return pts


@dataclass(frozen=True)
class _Damage:
    """A packet that did not decode, or the point where the file breaks off."""

    reason: str
    time: float | None = None
    truncated: bool = False


def _decode(
    container: av.container.InputContainer, stream: av.VideoStream
) -> Iterator[av.VideoFrame | _Damage]:
    """The stream's frames, with a :class:`_Damage` in place of each packet that fails."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as error:
            yield _Damage(reason(error), truncated=True)
            return
        try:
            yield from packet.decode()
        except (av.InvalidDataError, av.error.PatchWelcomeError, av.error.BugError) as error:
            time = None if packet.pts is None else float(packet.pts * stream.time_base)
            yield _Damage(reason(error), time)


def _frame_pts(
    container: av.container.InputContainer, stream: av.VideoStream, index: int
) -> int | None:
    """The timestamp of frame ``index`` (counted from the first, in display order), from the
    packets' timestamps, read without decoding; ``None`` where they cannot say (missing or
    repeated timestamps, too few packets)."""
    stamps = []
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        if packet.pts is None:
            return None
        stamps.append(packet.pts)
    stamps.sort()
    if index >= len(stamps) or len(set(stamps)) != len(stamps):
        return None
    return stamps[index]

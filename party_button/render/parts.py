"""Rendering a part of a video (a range of frames) into finished segments, wherever it runs.

The same functions run in the command's own process and on the workers of a Ray cluster
(:mod:`party_button.render.cluster`). A part is rendered in one go (:func:`render_part`:
find, track, draw, encode), or, when a long video is cut into chunks, in two passes:
:func:`detect_part` finds the objects, the machine that runs the command follows the tracks
through all chunks in order, and :func:`render_part` with the found objects draws and
encodes, so that every chunk starts with the tracks exactly as one run would have them.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from party_button.render.drawing import Painter
from party_button.render.encoder import SegmentEncoder
from party_button.render.maskrcnn import MaskRCNNSegmenter
from party_button.render.options import RenderOptions
from party_button.render.pipeline import Pipeline
from party_button.render.segmenter import (
    Box,
    Detection,
    Segmenter,
    SegmenterOptions,
    load_factory,
)
from party_button.render.tracking import TrackedDetection, Tracker
from party_button.render.video import FrameReader, SourceFrame, VideoInfo
from party_button.render.workdir import SavedSegment

#: How often (seconds) a part reports the frames done since its last report.
REPORT_SECONDS = 1.0


@dataclass(frozen=True)
class PartRequest:
    """Frames ``first`` to ``stop`` (``None``: to the end) of a render that begins at frame
    ``start``; ``tracker`` is the tracker's state before ``first`` (``None``: no tracks);
    ``threads`` caps the threads of decoding and of drawing (``None``: sized to this
    machine), for a task given a share of a machine's cores. The encoder keeps x264's own
    choice: its output depends on its number of threads, and must not depend on where a
    part ran."""

    options: RenderOptions
    info: VideoInfo
    size: tuple[int, int]
    start: int
    first: int
    stop: int | None
    segment_frames: int
    tracker: dict | None = None
    threads: int | None = None

    def with_video(self, path: Path) -> PartRequest:
        """The same request, reading the video from ``path`` (a copy on a worker)."""
        return replace(self, info=replace(self.info, path=path))

    def frames(self) -> FrameReader:
        """The frames of the part."""
        return FrameReader(self.info, self.size, self.first, self.stop, self.threads)

    def segment_of(self, index: int) -> int:
        """The number of the segment that frame ``index`` belongs to."""
        return (index - self.start) // self.segment_frames

    def new_tracker(self) -> Tracker:
        """The tracker as it stands before the part's first frame."""
        tracker = Tracker(max_misses=max(1, round(self.info.rate)))
        if self.tracker is not None:
            tracker.restore(self.tracker)
        return tracker


@dataclass
class SegmentDone:
    """A finished segment: where it is, what is in it; ``data`` holds its video when it was
    encoded on another machine."""

    segment: SavedSegment
    records: list[dict]
    model: dict
    data: bytes | None = None


@dataclass(frozen=True)
class FramesDone:
    """Frames finished since the part's last report."""

    frames: int


Progress = SegmentDone | FramesDone


def segmenter_options(options: RenderOptions) -> SegmenterOptions:
    """What the segmenter is asked to find."""
    return SegmenterOptions(
        classes=options.classes,
        score_threshold=options.score_threshold,
        device=options.device,
        half=options.half,
        input_size=options.input_size,
        max_detections=options.max_detections,
        model=options.model,
        weights=options.weights,
    )


class Segmenters:
    """Segmenters built once and kept for later videos with the same settings: one per
    command run here, one per process on a cluster's worker."""

    def __init__(self, progress: bool = False) -> None:
        self.progress = progress
        self._built: dict[tuple, Segmenter] = {}
        self._lock = threading.Lock()

    def get(self, options: RenderOptions) -> Segmenter:
        """The segmenter for ``options``, built on first use."""
        key = (options.segmenter, segmenter_options(options))
        with self._lock:
            if key not in self._built:
                self._built[key] = self._build(options.segmenter, key[1])
            return self._built[key]

    def _build(self, spec: str | None, wanted: SegmenterOptions) -> Segmenter:
        if spec:
            return load_factory(spec)(wanted)
        return MaskRCNNSegmenter(wanted, progress=self.progress)


def here(segmenter: Segmenter) -> dict:
    """Where a part runs: machine, process and device, for the sidecar."""
    where: dict = {"host": socket.gethostname(), "pid": os.getpid()}
    device = segmenter.describe().get("device")
    if device is not None:
        where["device"] = device
    return where


def frame_record(frame: SourceFrame, tracked: Sequence[TrackedDetection]) -> dict:
    """What the sidecar says about one frame (``pts`` in the input's time base)."""
    record: dict = {
        "index": frame.index,
        "pts": frame.pts,
        "detections": [
            {
                "class": item.detection.label,
                "score": round(item.detection.score, 4),
                "box": [round(v, 1) for v in item.detection.box],
                "track": item.track_id,
            }
            for item in tracked
        ],
    }
    if frame.skipped_before:
        record["skipped_before"] = list(frame.skipped_before)
    return record


class _SegmentSink:
    """The pipeline's sink: encodes frames into segment files in ``folder`` and hands each
    finished one to ``deliver``."""

    def __init__(
        self,
        request: PartRequest,
        folder: Path,
        model: dict,
        where: dict,
        deliver: Callable[[SegmentDone], None],
    ) -> None:
        self.request = request
        self.folder = folder
        self.model = model
        self.where = where
        self.deliver = deliver
        self.written = 0
        self._encoder: SegmentEncoder | None = None
        self._records: list[dict] = []

    def write(self, frame: SourceFrame, tracked: Sequence[TrackedDetection]) -> None:
        """Encode ``frame`` into the current segment, opening one if needed."""
        if self._encoder is None:
            number = self.request.segment_of(frame.index)
            info = self.request.info
            self._encoder = SegmentEncoder(
                self.folder / f"segment-{number:05d}.mp4",
                self.request.size,
                info.rate,
                info.time_base,
                self.request.options.crf,
            )
            self._records = []
        self._encoder.write(frame.image, frame.pts)
        self._records.append(frame_record(frame, tracked))
        self.written += 1

    def end_segment(self, tracker_state: dict) -> None:
        """Finish the current segment and deliver it."""
        if self._encoder is None:
            return
        encoder, self._encoder = self._encoder, None
        encoder.close()
        records = self._records
        first = records[0]["index"]
        segment = SavedSegment(
            number=self.request.segment_of(first),
            first=first,
            frames=len(records),
            next_index=records[-1]["index"] + 1,
            tracker=tracker_state,
            where=self.where,
        )
        self.deliver(SegmentDone(segment, records, self.model))

    def abandon(self) -> None:
        """Drop the unfinished segment after an interruption or failure."""
        if self._encoder is not None:
            self._encoder.abandon()
            self._encoder.path.unlink(missing_ok=True)
            self._encoder = None


class _Replay:
    """A segmenter that hands out objects found earlier, frame by frame."""

    def __init__(self, found: Sequence[list[Detection]], model: dict) -> None:
        self._found = iter(found)
        self._model = model

    def segment(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        return [next(self._found) for _ in frames]

    def describe(self) -> dict[str, object]:
        return self._model


def render_part(
    request: PartRequest,
    segmenter: Segmenter | None,
    folder: Path,
    found: DetectedPart | None = None,
) -> Iterator[Progress]:
    """Render the part into segment files in ``folder``; yields each finished segment, and
    every :data:`REPORT_SECONDS` the frames done. With ``found`` (from :func:`detect_part`,
    from the part's first frame or before) the objects found then are drawn instead of
    running ``segmenter``."""
    if found is not None:
        model, where = found.model, found.where
        segmenter = _Replay(found.unpacked(request.first), model)
    else:
        model, where = segmenter.describe(), here(segmenter)
    done: queue.Queue[SegmentDone | None] = queue.Queue()
    sink = _SegmentSink(request, folder, model, where, done.put)
    pipeline = Pipeline(
        request.frames(),
        segmenter,
        request.new_tracker(),
        Painter(request.options.style),
        sink,
        batch_size=request.options.batch_size,
        segment_frames=request.segment_frames,
        first_index=request.start,
        draw_workers=min(4, request.threads or os.cpu_count() or 1),
    )
    failure: list[BaseException] = []

    def run() -> None:
        try:
            pipeline.run()
        except BaseException as error:
            failure.append(error)
        finally:
            sink.abandon()
            done.put(None)

    thread = threading.Thread(target=run, name="render-part", daemon=True)
    thread.start()
    reported = 0
    try:
        while True:
            try:
                item = done.get(timeout=REPORT_SECONDS)
            except queue.Empty:
                item = False
            if sink.written > reported:
                written = sink.written
                yield FramesDone(written - reported)
                reported = written
            if item is None:
                break
            if item:
                yield item
        if failure:
            raise failure[0]
    finally:
        pipeline.stop()
        thread.join()


@dataclass
class DetectedPart:
    """What :func:`detect_part` found from frame ``first`` on: per frame, each object's class
    and box (for the tracks) and its mask packed in bits (for the drawing)."""

    first: int
    boxes: list[list[tuple[str, Box]]]
    packed: list[list[tuple[str, float, Box, np.ndarray, tuple[int, int], tuple[int, int]]]]
    model: dict
    where: dict

    def unpacked(self, first: int) -> Iterator[list[Detection]]:
        """The detections of each frame from frame ``first`` on, masks unpacked."""
        for frame in self.packed[first - self.first :]:
            yield [
                Detection(
                    label,
                    score,
                    box,
                    np.unpackbits(bits, count=shape[0] * shape[1]).astype(bool).reshape(shape),
                    origin,
                )
                for label, score, box, bits, shape, origin in frame
            ]


def detect_part(request: PartRequest, segmenter: Segmenter) -> Iterator[FramesDone | DetectedPart]:
    """Find the objects in every frame of the part, in the batches one run would use;
    yields the frames done after each batch, and at the end what was found."""
    found = DetectedPart(request.first, [], [], segmenter.describe(), here(segmenter))

    def infer(batch: list[SourceFrame]) -> FramesDone:
        for detections in segmenter.segment([frame.image for frame in batch]):
            found.boxes.append([(d.label, d.box) for d in detections])
            found.packed.append(
                [
                    (d.label, d.score, d.box, np.packbits(d.mask), d.mask.shape, d.mask_origin)
                    for d in detections
                ]
            )
        return FramesDone(len(batch))

    batch: list[SourceFrame] = []
    for frame in request.frames():
        if batch and (
            len(batch) == request.options.batch_size
            or request.segment_of(frame.index) != request.segment_of(batch[0].index)
        ):
            yield infer(batch)
            batch = []
        batch.append(frame)
    if batch:
        yield infer(batch)
    yield found


def follow_tracks(request: PartRequest, boxes: Sequence[list[tuple[str, Box]]]) -> dict:
    """The tracker's state after the part, from the boxes :func:`detect_part` found."""
    tracker = request.new_tracker()
    empty = np.zeros((0, 0), dtype=bool)
    for frame in boxes:
        tracker.update([Detection(label, 0.0, box, empty, (0, 0)) for label, box in frame])
    return tracker.state()

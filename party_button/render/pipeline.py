"""Decoding, inference, drawing and encoding at the same time, so the model sets the pace.

One thread decodes into a bounded queue; the calling thread runs the segmenter on batches
and the tracker on its results; a pool of threads draws; one thread encodes, in order. The
frames are cut into segments of ``segment_frames``: a batch never spans two segments, and
the sink hears when a segment is complete, with the tracker's state after its last frame,
so that an interrupted render can carry on from any segment's end exactly as if it had not
stopped.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from party_button.render.drawing import Painter
from party_button.render.segmenter import Segmenter
from party_button.render.tracking import TrackedDetection, Tracker
from party_button.render.video import SourceFrame

_POLL_SECONDS = 0.1


class FrameSink(Protocol):
    """Where drawn frames go, in order."""

    def write(self, frame: SourceFrame, tracked: Sequence[TrackedDetection]) -> None:
        """Take one drawn frame (its picture is ``frame.image``)."""

    def end_segment(self, tracker_state: dict) -> None:
        """The frames written since the last call make a complete segment."""


@dataclass(frozen=True)
class _Drawn:
    frame: SourceFrame
    tracked: list[TrackedDetection]
    picture: Future[np.ndarray]


@dataclass(frozen=True)
class _SegmentEnd:
    tracker_state: dict


class _Stopped(Exception):
    """Another stage failed or the render was interrupted."""


class _End:
    """Marks the end of a queue's items."""


class Pipeline:
    """Runs ``frames`` through ``segmenter``, ``tracker`` and ``painter`` into ``sink``.

    ``first_index`` is the index of the first frame of the render (segment positions count
    from it); ``on_frame`` is called after each frame is written.
    """

    def __init__(
        self,
        frames: Iterable[SourceFrame],
        segmenter: Segmenter,
        tracker: Tracker,
        painter: Painter,
        sink: FrameSink,
        *,
        batch_size: int,
        segment_frames: int,
        first_index: int,
        draw_workers: int = 2,
        on_frame: Callable[[], None] | None = None,
    ) -> None:
        self.frames = frames
        self.segmenter = segmenter
        self.tracker = tracker
        self.painter = painter
        self.sink = sink
        self.batch_size = batch_size
        self.segment_frames = segment_frames
        self.first_index = first_index
        self.draw_workers = draw_workers
        self.on_frame = on_frame or (lambda: None)
        self._decoded: queue.Queue = queue.Queue(maxsize=2 * batch_size + 2)
        self._drawn: queue.Queue = queue.Queue(maxsize=2 * batch_size + 2 * draw_workers)
        self._stop = threading.Event()
        self._error: BaseException | None = None

    def run(self) -> None:
        """Render every frame; raise the first error of any stage."""
        decoder = threading.Thread(
            target=self._guard, args=(self._decode,), name="render-decode", daemon=True
        )
        encoder = threading.Thread(
            target=self._guard, args=(self._encode,), name="render-encode", daemon=True
        )
        decoder.start()
        encoder.start()
        try:
            with ThreadPoolExecutor(self.draw_workers, "render-draw") as painters:
                self._guard(self._infer, painters)
            encoder.join()
        except BaseException:
            self._stop.set()
            raise
        finally:
            self._stop.set()
            decoder.join()
            encoder.join()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """Make :meth:`run` stop soon, from another thread; the frames in flight are dropped."""
        self._stop.set()

    def _guard(self, stage: Callable[..., None], *args: object) -> None:
        try:
            stage(*args)
        except _Stopped:
            pass
        except BaseException as error:
            if self._error is None:
                self._error = error
            self._stop.set()
            if isinstance(error, KeyboardInterrupt):
                raise

    def _decode(self) -> None:
        for frame in self.frames:
            self._put(self._decoded, frame)
        self._put(self._decoded, _End())

    def _infer(self, painters: ThreadPoolExecutor) -> None:
        segment_open = False
        for batch in self._batches():
            results = self.segmenter.segment([frame.image for frame in batch])
            for frame, detections in zip(batch, results, strict=True):
                tracked = self.tracker.update(detections)
                picture = painters.submit(self.painter.paint, frame.image, tracked)
                self._put(self._drawn, _Drawn(frame, tracked, picture))
                segment_open = self._segment_of(frame.index + 1) == self._segment_of(frame.index)
                if not segment_open:
                    self._put(self._drawn, _SegmentEnd(self.tracker.state()))
        if segment_open:
            self._put(self._drawn, _SegmentEnd(self.tracker.state()))
        self._put(self._drawn, _End())

    def _batches(self) -> Iterator[list[SourceFrame]]:
        batch: list[SourceFrame] = []
        while not isinstance(frame := self._get(self._decoded), _End):
            if batch and (
                len(batch) == self.batch_size
                or self._segment_of(frame.index) != self._segment_of(batch[0].index)
            ):
                yield batch
                batch = []
            batch.append(frame)
        if batch:
            yield batch

    def _encode(self) -> None:
        while not isinstance(item := self._get(self._drawn), _End):
            if isinstance(item, _SegmentEnd):
                self.sink.end_segment(item.tracker_state)
                continue
            while True:
                try:
                    item.picture.result(timeout=_POLL_SECONDS)
                    break
                except TimeoutError:
                    if self._stop.is_set():
                        raise _Stopped from None
            self.sink.write(item.frame, item.tracked)
            self.on_frame()

    def _segment_of(self, index: int) -> int:
        return (index - self.first_index) // self.segment_frames

    def _put(self, channel: queue.Queue, item: object) -> None:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                channel.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def _get(self, channel: queue.Queue) -> object:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                return channel.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue

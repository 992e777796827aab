"""Encoding outlined pictures into H.264 MP4 files with PyAV."""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from party_button.errors import OutputError


class SegmentEncoder:
    """Writes pictures as one H.264 (yuv420p) MP4 file, keeping each frame's timestamp.

    No B-frames, so decoding order is display order and segments join without reordering.
    """

    def __init__(
        self, path: Path, size: tuple[int, int], rate: Fraction, time_base: Fraction, crf: int
    ) -> None:
        self.path = path
        self.frames = 0
        try:
            self._container = av.open(str(path), "w", format="mp4")
            stream = self._container.add_stream("libx264", rate=rate)
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = time_base
            stream.options = {"crf": str(crf), "preset": "fast", "x264-params": "bframes=0"}
            self._stream = stream
        except (OSError, av.FFmpegError) as error:
            raise OutputError.writing(path, error) from None
        self._time_base = time_base

    def write(self, image: np.ndarray, pts: int) -> None:
        """Encode ``image`` (height x width x 3, RGB) shown at ``pts``."""
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = pts
        frame.time_base = self._time_base
        self._mux(self._stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file; safe to call twice."""
        if self._container is None:
            return
        container, self._container = self._container, None
        try:
            self._mux(self._stream.encode(None), container)
            container.close()
        except (OSError, av.FFmpegError) as error:
            raise OutputError.writing(self.path, error) from None

    def abandon(self) -> None:
        """Close without flushing, after a failure; the file is left incomplete."""
        if self._container is not None:
            container, self._container = self._container, None
            with contextlib.suppress(OSError, av.FFmpegError):
                container.close()

    def _mux(self, packets: list[av.Packet], container: object = None) -> None:
        try:
            (container or self._container).mux(packets)
        except (OSError, av.FFmpegError) as error:
            raise OutputError.writing(self.path, error) from None

    def __enter__(self) -> SegmentEncoder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abandon()

"""The interface between the render pipeline and whatever finds objects in frames."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from party_button.errors import SettingsError

#: A box as (left, top, right, bottom) in pixels of the frame.
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Detection:
    """One object found in a frame.

    ``mask`` covers only the pixels from ``mask_origin`` (column, row) to
    ``mask_origin + mask.shape``, so that masks stay small; :meth:`from_frame_mask` cuts a
    whole-frame mask down to that.
    """

    label: str
    score: float
    box: Box
    mask: np.ndarray
    mask_origin: tuple[int, int]

    @classmethod
    def from_frame_mask(
        cls, label: str, score: float, box: Box, frame_mask: np.ndarray
    ) -> Detection:
        """A detection whose mask is the part of ``frame_mask`` (bool, frame-sized) in
        ``box``, rounded outwards to whole pixels."""
        height, width = frame_mask.shape
        left, top = max(0, int(box[0])), max(0, int(box[1]))
        right = min(width, max(left + 1, int(np.ceil(box[2]))))
        bottom = min(height, max(top + 1, int(np.ceil(box[3]))))
        return cls(label, score, box, frame_mask[top:bottom, left:right].copy(), (left, top))


@dataclass(frozen=True)
class SegmenterOptions:
    """What a segmenter is asked to find, and where it may run."""

    classes: tuple[str, ...]
    score_threshold: float
    device: str = "auto"
    half: bool = False
    input_size: int = 800
    max_detections: int = 100
    model: str = "maskrcnn_resnet50_fpn_v2"
    weights: Path | None = None


class Segmenter(Protocol):
    """Finds objects in frames: the render job's only use of a model.

    ``segment`` takes a batch of frames (height x width x 3, RGB, uint8) and returns, for
    each frame, the detections of the wanted classes scoring at least the threshold (at most
    ``max_detections``, the best scoring).
    ``describe`` says what ran, for the sidecar.
    """

    def segment(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]: ...

    def describe(self) -> dict[str, object]: ...


SegmenterFactory = Callable[[SegmenterOptions], Segmenter]


def load_factory(spec: str) -> SegmenterFactory:
    """The callable named by ``spec`` (``module:name``) that builds a segmenter."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SettingsError(f"--segmenter {spec!r}: expected MODULE:CALLABLE")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise SettingsError(
            f"--segmenter {spec!r}: cannot import {module_name} ({error})"
        ) from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise SettingsError(f"--segmenter {spec!r}: {module_name} has no callable {attribute}")
    return factory

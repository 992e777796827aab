"""Drawing glowing outlines (and optional fills and labels) around tracked objects."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from party_button.render.options import OutlineStyle
from party_button.render.tracking import TrackedDetection

Colour = tuple[int, int, int]
_GOLDEN = 0.618033988749895
GLOW_OPACITY = 0.85


def track_colour(track_id: int) -> Colour:
    """The colour of a track: vivid, the same for the same id, far from its neighbours'."""
    hue = (0.12 + track_id * _GOLDEN) % 1.0
    return tuple(round(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.85, 1.0))


def _box_sum(values: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Sum over a window of ``2 * radius + 1`` along ``axis``, edges repeated outwards."""
    if axis == 1:
        return _box_sum(values.T, radius, 0).T
    padded = np.concatenate(
        [np.repeat(values[:1], radius + 1, axis=0), values, np.repeat(values[-1:], radius, axis=0)]
    )
    total = np.cumsum(padded, axis=0, dtype=values.dtype)
    return total[2 * radius + 1 :] - total[: -2 * radius - 1]


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Pixels within ``radius`` (a square) of the mask."""
    if radius <= 0:
        return mask
    counts = _box_sum(_box_sum(mask.astype(np.int32), radius, 0), radius, 1)
    return counts > 0


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Mask pixels more than ``radius`` pixels inside its edge."""
    return ~dilate(~mask, radius)


def blur(values: np.ndarray, radius: int) -> np.ndarray:
    """A soft blur: two box blurs of ``radius`` in each direction."""
    size = 2 * radius + 1
    for _ in range(2):
        for axis in (0, 1):
            values = _box_sum(values, radius, axis) / size
    return values


def outline_band(mask: np.ndarray, thickness: int) -> np.ndarray:
    """A band ``thickness`` pixels wide along the mask's edge, mostly inside it."""
    outside = thickness // 2
    return dilate(mask, outside) & ~erode(mask, thickness - outside)


class Painter:
    """Draws one frame's tracked detections in a given :class:`OutlineStyle`."""

    def __init__(self, style: OutlineStyle) -> None:
        self.style = style
        self.margin = style.thickness + 2 * style.glow + 1

    def paint(self, image: np.ndarray, tracked: Sequence[TrackedDetection]) -> np.ndarray:
        """Draw the detections onto ``image`` (height x width x 3, RGB) and return it."""
        for item in tracked:
            self._outline(image, item)
        if self.style.labels:
            for item in tracked:
                self._label(image, item)
        return image

    def _outline(self, canvas: np.ndarray, item: TrackedDetection) -> None:
        detection = item.detection
        if not detection.mask.any():
            return
        height, width = canvas.shape[:2]
        left, top = detection.mask_origin
        bottom, right = top + detection.mask.shape[0], left + detection.mask.shape[1]
        x0, y0 = max(0, left - self.margin), max(0, top - self.margin)
        x1, y1 = min(width, right + self.margin), min(height, bottom + self.margin)
        mask = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        mask[top - y0 : bottom - y0, left - x0 : right - x0] = detection.mask
        band = outline_band(mask, self.style.thickness)
        alpha = np.zeros(mask.shape, dtype=np.float32)
        if self.style.glow:
            alpha = np.minimum(blur(band.astype(np.float32), self.style.glow) * 2.0, GLOW_OPACITY)
        if self.style.fill:
            alpha = np.maximum(alpha, mask * np.float32(self.style.fill))
        colour = np.array(track_colour(item.track_id), dtype=np.float32)
        target = canvas[y0:y1, x0:x1]
        region = target.astype(np.float32)
        region -= colour
        region *= 1.0 - alpha[..., None]
        region += colour
        region[band] = colour * 0.6 + 255 * 0.4
        np.copyto(target, region, casting="unsafe")

    def _label(self, canvas: np.ndarray, item: TrackedDetection) -> None:
        colour = track_colour(item.track_id)
        patch = _label_patch(
            f"{item.detection.label} {item.track_id}", colour, max(10, self.style.thickness * 4)
        )
        height, width = canvas.shape[:2]
        left = int(np.clip(item.detection.box[0], 0, max(0, width - patch.shape[1])))
        top = int(
            np.clip(item.detection.box[1] - patch.shape[0], 0, max(0, height - patch.shape[0]))
        )
        visible = canvas[top : top + patch.shape[0], left : left + patch.shape[1]]
        visible[...] = patch[: visible.shape[0], : visible.shape[1]]


@lru_cache(maxsize=256)
def _label_patch(text: str, colour: Colour, size: int) -> np.ndarray:
    """``text`` in dark or light letters on a tag of ``colour``."""
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = font.getbbox(text)
    pad = max(2, size // 5)
    tag = Image.new("RGB", (right - left + 2 * pad, bottom - top + 2 * pad), colour)
    ink = (0, 0, 0) if sum(colour) > 380 else (255, 255, 255)
    ImageDraw.Draw(tag).text((pad - left, pad - top), text, fill=ink, font=font)
    return np.asarray(tag)

"""Keeping each object's identity from frame to frame, so that it keeps its colour.

Each track remembers its last box and how fast that box moves. In a new frame every track
predicts where its box is now; detections are paired with the predictions they overlap most
(same class only). Predicting the motion is what keeps two people apart when they cross: each
track looks where its own person is heading, not where the other one now stands. A track
that finds nothing (a person hidden behind another) coasts along its prediction for up to
``max_misses`` frames before it is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from party_button.render.segmenter import Box, Detection


@dataclass
class Track:
    """One object followed over frames."""

    id: int
    label: str
    box: Box
    velocity: Box = (0.0, 0.0, 0.0, 0.0)
    misses: int = 0
    hits: int = 1

    def predicted(self) -> Box:
        """Where the box should be in the next frame."""
        steps = self.misses + 1
        return tuple(b + v * steps for b, v in zip(self.box, self.velocity, strict=True))


@dataclass(frozen=True)
class TrackedDetection:
    """A detection and the id of the track it belongs to."""

    detection: Detection
    track_id: int


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class Tracker:
    """Gives every detection a track id that stays the same while the object is seen."""

    def __init__(self, max_misses: int = 30, min_iou: float = 0.1, smoothing: float = 0.5) -> None:
        self.max_misses = max_misses
        self.min_iou = min_iou
        self.smoothing = smoothing
        self.tracks: list[Track] = []
        self.next_id = 1

    def update(self, detections: Sequence[Detection]) -> list[TrackedDetection]:
        """Pair ``detections`` (one frame's) with tracks; new objects start new tracks."""
        pairs = sorted(
            (
                (iou(track.predicted(), det.box), t, d)
                for t, track in enumerate(self.tracks)
                for d, det in enumerate(detections)
                if det.label == track.label
            ),
            key=lambda pair: (-pair[0], pair[1], pair[2]),
        )
        track_of: dict[int, Track] = {}
        matched_tracks: set[int] = set()
        for overlap, t, d in pairs:
            if overlap < self.min_iou:
                break
            if t in matched_tracks or d in track_of:
                continue
            matched_tracks.add(t)
            track_of[d] = self.tracks[t]
            self._follow(self.tracks[t], detections[d].box)
        for t, track in enumerate(self.tracks):
            if t not in matched_tracks:
                track.misses += 1
        self.tracks = [track for track in self.tracks if track.misses <= self.max_misses]
        for d, det in enumerate(detections):
            if d not in track_of:
                track_of[d] = Track(self.next_id, det.label, det.box)
                self.tracks.append(track_of[d])
                self.next_id += 1
        return [TrackedDetection(det, track_of[d].id) for d, det in enumerate(detections)]

    def _follow(self, track: Track, box: Box) -> None:
        steps = track.misses + 1
        moved = [(new - old) / steps for new, old in zip(box, track.box, strict=True)]
        weight = 1.0 if track.hits == 1 else self.smoothing
        track.velocity = tuple(
            weight * m + (1 - weight) * v for m, v in zip(moved, track.velocity, strict=True)
        )
        track.box = box
        track.misses = 0
        track.hits += 1

    def state(self) -> dict[str, object]:
        """Everything needed to carry on tracking later, as JSON-ready data."""
        return {"next_id": self.next_id, "tracks": [asdict(track) for track in self.tracks]}

    def restore(self, state: dict) -> None:
        """Carry on from what :meth:`state` returned."""
        self.next_id = int(state["next_id"])
        self.tracks = [
            Track(
                t["id"], t["label"], tuple(t["box"]), tuple(t["velocity"]), t["misses"], t["hits"]
            )
            for t in state["tracks"]
        ]

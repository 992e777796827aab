"""The work folder of an unfinished render: finished segments and the state to resume from.

It sits next to the clip as ``.<clip name>.render/``. A segment counts only once its video
file is closed, its frame records are written and ``state.json`` (replaced atomically) lists
it; anything else in the folder is left over from an interruption and is written again.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from party_button.render.encoder import SegmentEncoder
from party_button.render.errors import OutputError, SettingsError, reason
from party_button.render.tracking import TrackedDetection
from party_button.render.video import SourceFrame

STATE_VERSION = 1


def write_json_atomically(path: Path, data: object) -> None:
    """Write ``data`` to ``path`` through a temporary file, so that ``path`` is never half
    written."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as file:
            json.dump(data, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        raise OutputError.writing(path, error) from None


@dataclass
class RenderState:
    """How far a render got, and what it needs to carry on."""

    settings: dict
    segment_frames: int
    segments: list[str] = field(default_factory=list)
    frames: int = 0
    next_index: int | None = None
    first_pts: int | None = None
    tracker: dict | None = None
    seconds: float = 0.0
    runs: int = 0


class WorkFolder:
    """The folder where the render of ``output`` keeps its segments until the clip is done."""

    def __init__(self, output: Path) -> None:
        self.path = output.parent / f".{output.name}.render"
        self.state_file = self.path / "state.json"

    def exists(self) -> bool:
        """True if the folder is there (an unfinished render, or its leftovers)."""
        return self.path.exists()

    def create(self) -> None:
        """Make the folder, empty."""
        self.remove()
        try:
            self.path.mkdir()
        except OSError as error:
            raise OutputError(f"cannot write to {self.path.parent}: {reason(error)}") from None

    def remove(self) -> None:
        """Delete the folder and everything in it."""
        shutil.rmtree(self.path, ignore_errors=True)

    def load(self) -> RenderState | None:
        """The saved state, or None when no segment was finished."""
        if not self.state_file.exists():
            return None
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            if data.pop("version") != STATE_VERSION:
                raise ValueError("written by another version of party-button")
            return RenderState(**data)
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise SettingsError(
                f"{self.state_file}: cannot resume from it ({error}); "
                f"use --overwrite to start again"
            ) from None

    def save(self, state: RenderState) -> None:
        """Record ``state`` atomically."""
        write_json_atomically(self.state_file, {"version": STATE_VERSION, **asdict(state)})

    def segment_path(self, number: int) -> Path:
        """The video file of segment ``number``."""
        return self.path / f"segment-{number:05d}.mp4"

    def segment_paths(self, state: RenderState) -> list[Path]:
        """The video files of the finished segments, in order."""
        return [self.path / name for name in state.segments]

    def frame_records(self, state: RenderState) -> Iterator[dict]:
        """The records of every finished frame, in order."""
        for path in self.segment_paths(state):
            with path.with_suffix(".json").open(encoding="utf-8") as file:
                yield from json.load(file)


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


class SegmentSink:
    """The pipeline's sink: encodes frames into segment files and saves progress after each
    complete segment."""

    def __init__(
        self, folder: WorkFolder, state: RenderState, open_encoder: Callable[[Path], SegmentEncoder]
    ) -> None:
        self.folder = folder
        self.state = state
        self.open_encoder = open_encoder
        self._encoder: SegmentEncoder | None = None
        self._records: list[dict] = []
        self._seconds_before = state.seconds
        self._started = time.monotonic()

    def write(self, frame: SourceFrame, tracked: Sequence[TrackedDetection]) -> None:
        """Encode ``frame`` into the current segment, opening one if needed."""
        if self._encoder is None:
            self._encoder = self.open_encoder(self.folder.segment_path(len(self.state.segments)))
            self._records = []
        if self.state.first_pts is None:
            self.state.first_pts = frame.pts
        self._encoder.write(frame.image, frame.pts)
        self._records.append(frame_record(frame, tracked))

    def end_segment(self, tracker_state: dict) -> None:
        """Finish the current segment and record it as done."""
        if self._encoder is None:
            return
        encoder, self._encoder = self._encoder, None
        encoder.close()
        _sync(encoder.path)
        write_json_atomically(encoder.path.with_suffix(".json"), self._records)
        self.state.segments.append(encoder.path.name)
        self.state.frames += len(self._records)
        self.state.next_index = self._records[-1]["index"] + 1
        self.state.tracker = tracker_state
        self.state.seconds = self._seconds_before + time.monotonic() - self._started
        self.folder.save(self.state)

    def abandon(self) -> None:
        """Drop the unfinished segment after an interruption or failure."""
        if self._encoder is not None:
            self._encoder.abandon()
            self._encoder = None


def _sync(path: Path) -> None:
    try:
        with path.open("rb") as file:
            os.fsync(file.fileno())
    except OSError as error:
        raise OutputError.writing(path, error) from None

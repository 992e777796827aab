"""The work folder of an unfinished render: finished segments and the state to resume from.

It sits next to the clip as ``.<clip name>.render/`` on the machine that runs the command,
also when the frames are rendered elsewhere (segments come back over the network). The
frames are cut into segments on a fixed grid from the render's first frame; a segment counts
only once its video file and frame records are written and ``state.json`` (replaced
atomically) lists it, so parts of a video may finish in any order and a render carries on
from whatever was saved. A lock file keeps two runs from using one folder at once, and only
files the render writes are ever deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from party_button.atomic import write_json_atomically
from party_button.errors import OutputError, SettingsError, reason

STATE_VERSION = 2
LOCK_NAME = "lock"
#: The names of the files a render writes into its work folder; nothing else is deleted.
_OURS = re.compile(
    r"^(state\.json|lock|clip\.mp4|sidecar\.json|segment-\d{5}\.(mp4|json))(\.tmp|\.part)?$"
    r"|^\.(state|sidecar|segment-\d{5})\.json\.\w+\.tmp$"
)


def write_json(path: Path, data: object) -> None:
    """Write ``data`` to ``path`` atomically; a failure is an :class:`OutputError`."""
    try:
        write_json_atomically(path, data)
    except OSError as error:
        raise OutputError.writing(path, error) from None


def sync_file(path: Path) -> None:
    """Flush ``path``'s data to the disk."""
    try:
        with path.open("rb") as file:
            os.fsync(file.fileno())
    except OSError as error:
        raise OutputError.writing(path, error) from None


def sync_folder(path: Path) -> None:
    """Make the renames in folder ``path`` durable."""
    with contextlib.suppress(OSError):
        descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


@dataclass
class SavedSegment:
    """One finished segment: its frames, the tracker's state after its last frame, where it
    was rendered, and the first frame of the task that rendered it."""

    number: int
    first: int
    frames: int
    next_index: int
    tracker: dict
    where: dict = field(default_factory=dict)
    task: int = 0


@dataclass
class RenderState:
    """How far a render got, and what it needs to carry on.

    Segment ``n`` holds frames ``start + n * segment_frames`` onwards; ``end`` is the number
    of segments once the video's (or the range's) last frame has been rendered.
    """

    settings: dict
    segment_frames: int
    start: int
    stop: int | None
    segments: dict[int, SavedSegment] = field(default_factory=dict)
    end: int | None = None
    seconds: float = 0.0
    runs: int = 0
    model: dict | None = None
    publishing: bool = False

    @property
    def frames(self) -> int:
        """Frames saved so far."""
        return sum(segment.frames for segment in self.segments.values())

    def first_frame(self, number: int) -> int:
        """The index of segment ``number``'s first frame."""
        return self.start + number * self.segment_frames

    def gaps(self) -> list[tuple[int, int | None]]:
        """The runs of segment numbers still to render, as ``(first, stop)`` with ``stop``
        ``None`` for "to the end"."""
        gaps: list[tuple[int, int | None]] = []
        number = 0
        limit = self.end if self.end is not None else max(self.segments, default=-1) + 1
        while number < limit:
            if number in self.segments:
                number += 1
                continue
            first = number
            while number < limit and number not in self.segments:
                number += 1
            gaps.append((first, number))
        if self.end is None:
            gaps.append((limit, None))
        return gaps

    def complete(self) -> bool:
        """True when every frame has been rendered."""
        return self.end is not None and not self.gaps()

    def ordered(self) -> list[SavedSegment]:
        """The saved segments in order."""
        return [self.segments[number] for number in sorted(self.segments)]


class WorkFolder:
    """The folder where the render of ``output`` keeps its segments until the clip is done.

    Use it as a context manager around :meth:`lock`; :meth:`commit` is safe to call from
    several threads.
    """

    def __init__(self, output: Path) -> None:
        self.output = output
        self.path = output.parent / f".{output.name}.render"
        self.state_file = self.path / "state.json"
        self._lock_file: int | None = None
        self._commit_lock = threading.Lock()

    def exists(self) -> bool:
        """True if the folder is there (an unfinished render, or its leftovers)."""
        return self.path.exists() or self.path.is_symlink()

    def lock(self) -> None:
        """Make the folder if needed and hold its lock; fail if another run holds it."""
        if self.path.is_symlink() or (self.path.exists() and not self.path.is_dir()):
            raise OutputError(f"{self.path}: is in the way of the render's work folder")
        try:
            self.path.mkdir(exist_ok=True)
            descriptor = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise OutputError(f"cannot write to {self.path.parent}: {reason(error)}") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(descriptor, 64).decode(errors="replace").strip() or "another"
            os.close(descriptor)
            raise SettingsError(
                f"{self.output}: process {holder} is rendering "
                f"this clip right now; wait for it, or stop it first"
            ) from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, str(os.getpid()).encode())
        self._lock_file = descriptor

    @property
    def locked(self) -> bool:
        """True while this object holds the folder's lock."""
        return self._lock_file is not None

    def unlock(self) -> None:
        """Let go of the lock; safe to call twice."""
        if self._lock_file is not None:
            descriptor, self._lock_file = self._lock_file, None
            os.close(descriptor)

    def __enter__(self) -> WorkFolder:
        self.lock()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.unlock()

    def clear(self) -> None:
        """Delete what an earlier run of this clip left here (the lock stays)."""
        for entry in self._own_entries():
            if entry.name != LOCK_NAME:
                entry.unlink()

    def remove(self) -> None:
        """Delete the render's files and the folder; a file the render did not write stays,
        and so does the folder around it."""
        for entry in self._own_entries():
            entry.unlink()
        self.unlock()
        with contextlib.suppress(OSError):
            self.path.rmdir()

    def _own_entries(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        return [
            entry
            for entry in self.path.iterdir()
            if _OURS.match(entry.name) and (entry.is_file() or entry.is_symlink())
        ]

    def load(self) -> RenderState | None:
        """The saved state, or None when no segment was finished."""
        if not self.state_file.exists():
            return None
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            if data.pop("version") != STATE_VERSION:
                raise ValueError("written by another version of party-button")
            segments = {
                int(number): SavedSegment(**segment)
                for number, segment in data.pop("segments").items()
            }
            return RenderState(segments=segments, **data)
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            raise SettingsError(
                f"{self.state_file}: cannot resume from it ({error}); "
                f"use --overwrite to start again"
            ) from None

    def save(self, state: RenderState) -> None:
        """Record ``state`` atomically."""
        data = asdict(state)
        data["segments"] = {str(number): segment for number, segment in data["segments"].items()}
        write_json(self.state_file, {"version": STATE_VERSION, **data})

    def segment_path(self, number: int) -> Path:
        """The video file of segment ``number``."""
        return self.path / f"segment-{number:05d}.mp4"

    def commit(self, state: RenderState, segment: SavedSegment, records: list[dict]) -> None:
        """Record a finished segment whose video is at :meth:`segment_path`."""
        path = self.segment_path(segment.number)
        sync_file(path)
        write_json(path.with_suffix(".json"), records)
        with self._commit_lock:
            state.segments[segment.number] = segment
            self.save(state)

    def write_segment(self, number: int, data: bytes) -> None:
        """Store a segment's video that was encoded on another machine."""
        path = self.segment_path(number)
        partial = path.with_name(f"{path.name}.part")
        try:
            partial.write_bytes(data)
            os.replace(partial, path)
        except OSError as error:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise OutputError.writing(path, error) from None

    def frame_records(self, state: RenderState) -> Iterator[dict]:
        """The records of every finished frame, in order."""
        for segment in state.ordered():
            path = self.segment_path(segment.number).with_suffix(".json")
            with path.open(encoding="utf-8") as file:
                yield from json.load(file)

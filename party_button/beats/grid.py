"""Beat grids of songs: the ``.beats.json`` grid file beside each song.

A grid says when the beats and the bars' downbeats fall, so the light show can follow the
music. :mod:`party_button.beats.analysis` makes grids; this module only reads and writes them
and imports nothing heavy, so the daemon runs without the ``beats`` extra and simply has no
grids.

A grid file records the song's size and content hash and :data:`ANALYSIS_VERSION`; a grid
whose song or analysis has changed since is stale and is not used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from party_button.atomic import write_json_atomically
from party_button.names import printable
from party_button.small_files import read_small_file
from party_button.song_file import open_song

log = logging.getLogger(__name__)

ANALYSIS_VERSION = 1
"""Raised whenever the analysis changes in a way that makes older grids worth redoing."""

SIDECAR_SUFFIX = ".beats.json"
SIDECAR_FORMAT = "party-button beat grid"
MAX_GRID_BYTES = 4 * 1024**2
"""A grid file is read up to this size (a 20-minute song at 200 BPM needs about 80 KB)."""

ANALYSIS_MODULES = ("numpy", "soundfile", "soxr")
"""What :mod:`party_button.beats.analysis` imports: the ``beats`` extra."""


@dataclass(frozen=True)
class SongStamp:
    """What identifies the version of a song file that a grid was made from.

    The content's hash, not the modification time, so that a grid stays valid when the
    song is copied to the Pi, checked out by git or installed by a package.
    """

    size: int
    sha256: str

    @classmethod
    def of(cls, song: Path) -> SongStamp:
        """The stamp of ``song`` as it is on disk now; raises ``OSError`` if it cannot be read
        (:class:`SongError`, naming why, when it is no song file: a FIFO, an empty file)."""
        with os.fdopen(open_song(song), "rb") as file:
            return cls.of_file(file)

    @classmethod
    def of_file(cls, file: BinaryIO) -> SongStamp:
        """The stamp of the song open as ``file``, read from where it stands to its end."""
        digest = hashlib.sha256()
        size = 0
        while chunk := file.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        return cls(size=size, sha256=digest.hexdigest())


@dataclass(frozen=True)
class BeatGrid:
    """When a song's beats and downbeats fall, in seconds from its start."""

    tempo_bpm: float
    beats: tuple[float, ...]
    downbeats: tuple[float, ...]
    beats_per_bar: int
    stamp: SongStamp
    analyzer: str
    version: int = ANALYSIS_VERSION


def analysis_available() -> bool:
    """Whether the analysis's libraries (the ``beats`` extra) are installed; imports none."""
    return all(
        sys.modules[name] is not None
        if name in sys.modules
        else importlib.util.find_spec(name) is not None
        for name in ANALYSIS_MODULES
    )


def grid_path(song: Path) -> Path:
    """Where the grid of ``song`` is stored: ``song.ogg`` -> ``song.ogg.beats.json``."""
    return song.with_name(song.name + SIDECAR_SUFFIX)


def grid_document(song: Path, grid: BeatGrid) -> dict[str, object]:
    """``grid`` as the JSON document of a grid file."""
    return {
        "format": SIDECAR_FORMAT,
        "version": grid.version,
        "analyzer": grid.analyzer,
        "song": {"name": song.name, "size": grid.stamp.size, "sha256": grid.stamp.sha256},
        "tempo_bpm": grid.tempo_bpm,
        "beats_per_bar": grid.beats_per_bar,
        "beats": list(grid.beats),
        "downbeats": list(grid.downbeats),
    }


def grid_from_document(document: object) -> BeatGrid:
    """A grid from a grid file's decoded JSON; raises ``ValueError`` naming what is wrong."""
    try:
        return _parse_grid(document)
    except KeyError as exc:
        raise ValueError(f"missing key {exc}") from None


def read_grid_file(path: Path) -> BeatGrid:
    """The grid in the grid file ``path``, read as a file others may have put there (a FIFO,
    a link, a huge file: ``OSError``); ``ValueError`` when it is not a grid."""
    return grid_from_document(json.loads(read_small_file(path, MAX_GRID_BYTES).decode("utf-8")))


def save_grid(song: Path, grid: BeatGrid) -> Path:
    """Write ``grid`` to the grid file of ``song`` atomically (temp file, then rename)."""
    return write_json_atomically(grid_path(song), grid_document(song, grid), newline=True)


def load_grid(song: Path) -> BeatGrid | None:
    """The stored grid of ``song``, or None when there is none or it is stale.

    A grid file that cannot be read or parsed is logged as a warning and treated as missing.
    """
    path = grid_path(song)
    try:
        grid = read_grid_file(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("%s: cannot read beat grid, ignoring it: %s", printable(path), _reason(exc))
        return None
    except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        log.warning("%s: corrupt beat grid, ignoring it: %s", printable(path), _reason(exc))
        return None
    if grid.version != ANALYSIS_VERSION:
        return None
    try:
        current = SongStamp.of(song)
    except OSError:
        return None
    return grid if grid.stamp == current else None


def is_up_to_date(song: Path) -> bool:
    """Whether ``song`` has a grid made by this analysis version from its current file."""
    return load_grid(song) is not None


def _parse_grid(document: object) -> BeatGrid:
    """Check a decoded grid file; raises ``ValueError`` naming the first bad key."""
    if not isinstance(document, dict) or document.get("format") != SIDECAR_FORMAT:
        raise ValueError(f"'format' is not {SIDECAR_FORMAT!r}")
    song = document["song"]
    if not isinstance(song, dict):
        raise ValueError("'song' is not an object")
    grid = BeatGrid(
        tempo_bpm=_number(document, "tempo_bpm"),
        beats=_times(document, "beats"),
        downbeats=_times(document, "downbeats"),
        beats_per_bar=_integer(document, "beats_per_bar"),
        stamp=SongStamp(size=_integer(song, "size"), sha256=str(song["sha256"])),
        analyzer=str(document["analyzer"]),
        version=_integer(document, "version"),
    )
    if grid.tempo_bpm <= 0 or grid.beats_per_bar <= 0:
        raise ValueError("'tempo_bpm' and 'beats_per_bar' must be positive")
    if not set(grid.downbeats) <= set(grid.beats):
        raise ValueError("'downbeats' must be a subset of 'beats'")
    return grid


def _number(document: dict, key: str) -> float:
    value = document[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key!r} is not a number: {value!r}")
    return float(value)


def _integer(document: dict, key: str) -> int:
    value = document[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key!r} is not an integer: {value!r}")
    return value


def _times(document: dict, key: str) -> tuple[float, ...]:
    values = document[key]
    if not isinstance(values, list):
        raise ValueError(f"{key!r} is not a list")
    times = tuple(_number({key: v}, key) for v in values)
    if any(t < 0 for t in times) or list(times) != sorted(times):
        raise ValueError(f"{key!r} must be non-negative times in increasing order")
    return times


def _reason(exc: BaseException) -> str:
    """A one-line reason for an error, for messages."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

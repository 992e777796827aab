"""``party-button analyze [PATH ...] [--force]``: compute and store the beat grids of songs.

Prints one line per song, ``PATH: analysed: ...``, ``PATH: up to date`` or
``PATH: failed: reason``, and returns 0 when no song failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from party_button.beats import analyze_song, is_up_to_date, librosa_available, save_grid
from party_button.config import SONG_EXTENSIONS
from party_button.errors import SongError
from party_button.library import scan_library

NEEDS_EXTRA = "party-button analyze needs the beats extra: pip install 'party-button[beats]'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``analyze`` subcommand's arguments to ``parser``."""
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="song files, or folders searched recursively for .ogg/.mp3/.wav/.flac "
        "(default: the configured songs folder)",
    )
    parser.add_argument(
        "--force", action="store_true", help="analyse songs again even when their grid is current"
    )


def run(args: argparse.Namespace, default_paths: list[Path]) -> int:
    """Analyse the songs named by ``args.paths`` (or ``default_paths``); return the exit code."""
    if not librosa_available():
        print(NEEDS_EXTRA, file=sys.stderr)
        return 1
    paths = args.paths or default_paths
    songs, missing = find_songs(paths)
    for path in missing:
        print(f"{path}: failed: no such file or folder")
    if not songs and not missing:
        print(f"no songs found in {', '.join(str(p) for p in paths) or 'no folder'}")
    failed = bool(missing)
    for song in songs:
        line, ok = _analyze_one(song, args.force)
        print(f"{song}: {line}", flush=True)
        failed = failed or not ok
    return 1 if failed else 0


def find_songs(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """The songs named by ``paths``, each once, and the paths that do not exist.

    A file is taken as it is, whatever its name; a folder yields the audio files below it.
    """
    songs: list[Path] = []
    missing: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found = scan_library([path], SONG_EXTENSIONS)
        elif path.exists():
            found = [path]
        else:
            missing.append(path)
            continue
        for song in found:
            if song.resolve() not in seen:
                seen.add(song.resolve())
                songs.append(song)
    return songs, missing


def _analyze_one(song: Path, force: bool) -> tuple[str, bool]:
    """The report line for one song and whether it went well."""
    if not force and is_up_to_date(song):
        return "up to date", True
    try:
        grid = analyze_song(song)
        save_grid(song, grid)
    except SongError as exc:
        return f"failed: {_without_path(exc, song)}", False
    except OSError as exc:
        return f"failed: cannot write the beat grid: {exc.strerror or exc}", False
    return (
        f"analysed: {grid.tempo_bpm:.1f} BPM, {len(grid.beats)} beats, "
        f"{len(grid.downbeats)} downbeats",
        True,
    )


def _without_path(exc: SongError, song: Path) -> str:
    """The error's message without the leading ``PATH: `` that the report line already has."""
    return str(exc).removeprefix(f"{song}: ")

"""``party-button analyze [PATH ...] [--force]``: compute and store the beat grids of songs.

Prints one line per song, ``PATH: analysed: ...``, ``PATH: up to date`` or
``PATH: failed: reason``, and returns 0 when no song failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

from party_button.beats.grid import analysis_available, is_up_to_date, save_grid
from party_button.cli.common import EXIT_FAILED, EXIT_OK, add_command, config_of
from party_button.errors import MissingExtraError, SongError
from party_button.media.scan import scan_library
from party_button.names import printable
from party_button.song_file import stat_problem

NEEDS_EXTRA = "party-button analyze needs the beats extra: pip install 'party-button[beats]'"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``analyze`` to the main command."""
    text = "compute the songs' beat grids (needs the beats extra)"
    add_arguments(add_command(subparsers, "analyze", run, text, example="songs/lift-off.ogg"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``analyze`` subcommand's arguments to ``parser``."""
    parser.set_defaults(run=run)
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


def run(args: argparse.Namespace) -> int:
    """Analyse the songs named by ``args.paths``, else the configured library's."""
    songs: list[Path] = []
    if not args.paths:
        config = config_of(args)
        found = scan_library(config.songs.folders, config.songs.extensions, config.effect_sounds)
        songs = [Path(song) for song in found]
    return analyze(args, songs)


def analyze(args: argparse.Namespace, default_paths: list[Path]) -> int:
    """Analyse the songs named by ``args.paths`` (or ``default_paths``); return the exit code."""
    if not analysis_available():
        raise MissingExtraError(NEEDS_EXTRA)
    paths = args.paths or default_paths
    songs, missing = find_songs(paths)
    for path, problem in missing:
        print(f"{printable(path)}: failed: {problem}")
    if not songs and not missing:
        print(f"no songs found in {', '.join(printable(p) for p in paths) or 'no folder'}")
    failed = bool(missing)
    for song in songs:
        line, ok = _analyze_one(song, args.force)
        print(f"{printable(song)}: {line}", flush=True)
        failed = failed or not ok
    return EXIT_FAILED if failed else EXIT_OK


def find_songs(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The songs named by ``paths``, each file once, and the paths that cannot be looked at
    (with why: missing, a symlink loop, ...).

    A file is taken as it is, whatever its name; a folder yields the audio files below it.
    """
    from party_button.config.schema import SONG_EXTENSIONS  # the schema only where needed

    songs: list[Path] = []
    missing: list[tuple[Path, str]] = []
    seen: set[object] = set()
    for path in paths:
        try:
            folder = stat.S_ISDIR(os.stat(path).st_mode)
        except OSError as exc:
            problem = stat_problem(path, exc)
            if problem == "no such file":
                problem = "no such file or folder"
            missing.append((path, problem))
            continue
        found = [Path(song) for song in scan_library([path], SONG_EXTENSIONS)] if folder else [path]
        for song in found:
            identity = _identity(song)
            if identity not in seen:
                seen.add(identity)
                songs.append(song)
    return songs, missing


def _identity(song: Path) -> object:
    """What is the same for two names of one file: its device and inode (else its name)."""
    try:
        status = os.stat(song)
    except OSError:
        return song  # the analysis says why it cannot be read
    return (status.st_dev, status.st_ino)


def _analyze_one(song: Path, force: bool) -> tuple[str, bool]:
    """The report line for one song and whether it went well."""
    if not force and is_up_to_date(song):
        return "up to date", True
    from party_button.beats.analysis import analyze_song  # numpy: only when analysing

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
    return str(exc).removeprefix(f"{printable(song)}: ")

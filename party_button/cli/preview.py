"""``party-button preview SHOW [--song FILE] [--duration S] [--png FILE]``: see a show first.

Draws what the relays will do (guards included) as a terminal timeline, and optionally as a
PNG plot. With ``--song`` the drawing uses that song's beat grid (its analysis grid file, when
there is one) and, unless ``--duration`` is given, the song's length.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from party_button.cli.common import EXIT_OK, add_command, config_of
from party_button.config.yaml_reader import did_you_mean
from party_button.errors import CommandError, SongError
from party_button.lights.patterns import BeatGridLike
from party_button.lights.runner import LightShow
from party_button.lights.shows import LightsConfig
from party_button.maker.preview import render_timeline, write_png

# How long a preview lasts when neither --duration, the song, nor the show says.
DEFAULT_PREVIEW_SECONDS = 16.0
_NARROWEST = 10


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``preview`` to the main command."""
    text = "draw a light show's timeline"
    example = "party --song songs/lift-off.ogg --width 60"
    add_arguments(add_command(subparsers, "preview", run, text, example=example))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the preview command's arguments to ``parser``."""
    parser.set_defaults(run=run, error_prefix="party-button preview: ")
    parser.add_argument("show", metavar="SHOW", help="the name of a show in the config")
    parser.add_argument(
        "--song", type=Path, metavar="FILE", help="follow this song's beat grid and length"
    )
    parser.add_argument(
        "--duration",
        type=_positive_seconds,
        metavar="S",
        help=f"seconds to draw (default: the song's or show's length, else "
        f"{DEFAULT_PREVIEW_SECONDS:g})",
    )
    parser.add_argument("--png", type=Path, metavar="FILE", help="also plot it into a PNG file")
    parser.add_argument(
        "--width",
        type=int,
        metavar="N",
        help="columns of time in the terminal drawing (default: fit the terminal)",
    )


def run(args: argparse.Namespace) -> int:
    """Draw the show ``args.show`` of the config's light shows; returns the exit code."""
    return draw(args, config_of(args).lights)


def draw(args: argparse.Namespace, lights: LightsConfig) -> int:
    """Draw the show ``args.show`` of ``lights``; a mistake raises :class:`CommandError`."""
    if args.show not in lights.shows:
        names = sorted(lights.shows)
        hint = did_you_mean(args.show, names)
        raise CommandError(f"unknown show {args.show!r}{hint}; shows: {', '.join(names)}")
    grid: BeatGridLike | None = None
    song_length: float | None = None
    if args.song is not None:
        if not args.song.is_file():
            raise CommandError(f"no such song file: {args.song}")
        song_length = _song_length(args.song)
        grid = _song_grid(args.song)
    show = LightShow(lights, args.show, grid=grid)
    duration = args.duration or song_length or show.duration or DEFAULT_PREVIEW_SECONDS
    label_width = max(len(name) for name in (*lights.relay_names, "beats"))
    width = args.width or shutil.get_terminal_size().columns - label_width - 1
    if width < _NARROWEST:
        raise CommandError(f"--width must be at least {_NARROWEST} columns, got {width}")
    sys.stdout.write(render_timeline(show, duration, width=width))
    if args.png is not None:
        try:
            write_png(show, duration, args.png)
        except OSError as exc:
            raise CommandError(str(exc)) from None
        sys.stdout.write(f"wrote {args.png}\n")
    return EXIT_OK


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text!r}")
    return seconds


def _song_grid(song: Path) -> BeatGridLike | None:
    """The song's beat grid from its grid file; ``None`` (with a note) when it has none or an
    unreadable one (``load_grid`` logs why)."""
    from party_button.beats.grid import load_grid  # only --song needs the beat analysis

    grid = load_grid(song)
    if grid is None:
        sys.stderr.write(f"party-button preview: {song.name} has no beat grid yet; ")
        sys.stderr.write("beat patterns hold steady on\n")
    return grid


def _song_length(song: Path) -> float:
    """The song's length in seconds, decoded with pygame on SDL's dummy audio driver.

    :raises SongError: when pygame cannot decode the file.
    """
    import pygame

    previous = os.environ.get("SDL_AUDIODRIVER")
    os.environ["SDL_AUDIODRIVER"] = "dummy"  # decode only: never take the real sound device
    try:
        pygame.mixer.init()
        return pygame.mixer.Sound(str(song)).get_length()
    except pygame.error as exc:
        raise SongError(f"cannot read song {song}: {exc}") from exc
    finally:
        pygame.mixer.quit()
        if previous is None:
            del os.environ["SDL_AUDIODRIVER"]
        else:
            os.environ["SDL_AUDIODRIVER"] = previous

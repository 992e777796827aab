"""``party-button wiring``: print the wiring table of the config, optionally the SVG too."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from party_button.cli.common import EXIT_OK, add_command, config_of
from party_button.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``wiring`` to the main command."""
    text = "print the wiring table and diagram"
    add_arguments(add_command(subparsers, "wiring", run, text, example="--svg wiring.svg"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's own options to its subparser."""
    parser.set_defaults(run=run, error_prefix="party-button wiring: ")
    parser.add_argument(
        "--svg",
        metavar="FILE",
        type=Path,
        help="also write the wiring diagram to FILE (SVG)",
    )


def run(args: argparse.Namespace) -> int:
    """Print the wiring page of the config in use; see :func:`show`."""
    return show(args, config_of(args))


def show(args: argparse.Namespace, config: Any) -> int:
    """Print the wiring page (Markdown) to stdout, clash warnings to stderr; write the SVG.

    A pin off the header or an unwritable FILE raises :class:`CommandError`.
    """
    # Imported here: its SVG drawing pulls in urllib, http and ssl, which the other commands
    # (the daemon's among them) do without.
    from party_button.maker.wiring import clash_warnings, render_markdown, render_svg

    try:
        markdown = render_markdown(config)
        svg = render_svg(config) if args.svg is not None else None
    except ValueError as error:
        raise CommandError(f"{config.path}: {error}") from None
    if svg is not None:
        try:
            args.svg.write_text(svg, encoding="utf-8")
        except OSError as error:
            raise CommandError(f"cannot write {args.svg}: {error.strerror}") from None
    sys.stdout.write(markdown)
    for warning in clash_warnings(config):
        print(f"party-button wiring: warning: {warning}", file=sys.stderr)
    return EXIT_OK

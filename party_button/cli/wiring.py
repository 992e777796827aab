"""``party-button wiring``: print the wiring table of the loaded config, optionally the SVG too.

The main CLI loads the config (``--config PATH``) and hands it to :func:`run`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from party_button.maker.wiring import clash_warnings, render_markdown, render_svg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's own options to its subparser."""
    parser.add_argument(
        "--svg",
        metavar="FILE",
        type=Path,
        help="also write the wiring diagram to FILE (SVG)",
    )


def run(args: argparse.Namespace, config: Any) -> int:
    """Print the wiring page (Markdown) to stdout, clash warnings to stderr; write the SVG.

    Returns 0, or 1 with a one-line error when a pin is off the header or FILE is unwritable.
    """
    try:
        markdown = render_markdown(config)
        svg = render_svg(config) if args.svg is not None else None
    except ValueError as error:
        print(f"party-button wiring: {config.path}: {error}", file=sys.stderr)
        return 1
    if svg is not None:
        try:
            args.svg.write_text(svg, encoding="utf-8")
        except OSError as error:
            print(
                f"party-button wiring: cannot write {args.svg}: {error.strerror}",
                file=sys.stderr,
            )
            return 1
    sys.stdout.write(markdown)
    for warning in clash_warnings(config):
        print(f"party-button wiring: warning: {warning}", file=sys.stderr)
    return 0

"""``python -m party_button.render VIDEO|FOLDER ...``: the render command on its own.

Clips go to ``songs/`` in the current folder unless ``--output`` says otherwise.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from party_button.cli.common import call
from party_button.cli.render import add_arguments


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and render; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m party_button.render",
        description="Outline the people in a music video and write a clip for the party.",
    )
    add_arguments(parser)
    parser.set_defaults(songs=Path("songs"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="party-button render: %(message)s")
    return call(args)


if __name__ == "__main__":
    sys.exit(main())

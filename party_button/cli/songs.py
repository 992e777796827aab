"""``party-button songs [--seed N] [--count N]``: the library in the order it would play."""

from __future__ import annotations

import argparse

from party_button.cli.common import EXIT_OK, add_command, config_of


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``songs`` to the main command."""
    text = "list the songs in the order they would play"
    parser = add_command(subparsers, "songs", run, text, example="--seed 7 --count 5")
    parser.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    parser.add_argument("--count", type=int, default=0, help="how many picks (default: a round)")


def run(args: argparse.Namespace) -> int:
    """List the library in the order it would play from ``--seed``."""
    from party_button.media.library import scanned_library
    from party_button.names import printable

    library = scanned_library(config_of(args), seed=args.seed).library
    count = args.count or len(library)
    if not len(library):
        print("the songs library is empty")
        return EXIT_OK
    for number in range(1, count + 1):
        print(f"{number:3d}  {printable(library.next_item() or '')}")
    return EXIT_OK

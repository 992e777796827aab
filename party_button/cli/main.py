"""The ``party-button`` command: one subcommand group a module, run through one error mapping.

Exit codes: 0 ok, 1 bad input or configuration (or a failure), 2 usage, 130 interrupted;
:func:`party_button.cli.common.call` is the one place that turns errors into them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from party_button import __version__
from party_button.cli import (
    analyze,
    audio,
    boot_config,
    check_config,
    control,
    mqtt,
    preview,
    relays,
    render,
    run,
    songs,
    sync,
    web,
    wiring,
)
from party_button.cli.common import CONFIG_ORDER, EXIT_CODES, SOCKET_ORDER, add_verbose, call
from party_button.systemd import setup_logging

# The command groups, in the order ``party-button --help`` lists them.
GROUPS = (
    run,
    check_config,
    songs,
    audio,
    relays,
    analyze,
    preview,
    wiring,
    render,
    web,
    mqtt,
    sync,
    boot_config,
    control,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="party-button",
        description="The emergency party button.",
        epilog=f"{CONFIG_ORDER}\n\n{SOCKET_ORDER}\n\n{EXIT_CODES}\n\n"
        "example:\n  party-button check-config\n  party-button run --simulate",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_verbose(parser)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``party-button``; returns the exit code."""
    args = build_parser().parse_args(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    return call(args)


if __name__ == "__main__":
    sys.exit(main())

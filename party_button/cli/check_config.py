"""``party-button check-config [PATH]``: validate a config file; every problem is one line."""

from __future__ import annotations

import argparse

from party_button.cli.common import EXIT_OK, add_command
from party_button.config.location import find_config


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``check-config`` to the main command."""
    parser = add_command(subparsers, "check-config", run, "validate a config file")
    parser.add_argument("path", nargs="?", help="the file to check (default: the one in use)")


def run(args: argparse.Namespace) -> int:
    """Validate the file; its problems are raised as one :class:`ConfigError`."""
    from party_button.config.schema import load_config  # the whole schema only here

    config = load_config(find_config(args.path or args.config))
    print(f"{config.path}: OK ({len(config.relays)} relays)")
    return EXIT_OK

"""``party-button check-config [PATH]``: validate a config file; every problem is one line.
``party-button config``: the effective configuration, every default filled in."""

from __future__ import annotations

import argparse

import yaml

from party_button.cli.common import EXIT_OK, add_command, config_of
from party_button.config.location import find_config


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``check-config`` to the main command."""
    text = "validate a config file"
    parser = add_command(subparsers, "check-config", run, text, example="config/config.yaml")
    parser.add_argument("path", nargs="?", help="the file to check (default: the one in use)")
    text = "print the effective configuration: every setting after defaults, secrets masked"
    add_command(subparsers, "config", show, text, example="--config config/config.yaml")


def run(args: argparse.Namespace) -> int:
    """Validate the file; its problems are raised as one :class:`ConfigError`."""
    from party_button.config.schema import load_config  # the whole schema only here

    config = load_config(find_config(args.path or args.config))
    count = len(config.relays)
    print(f"{config.path}: OK ({count} relay{'' if count == 1 else 's'})")
    return EXIT_OK


def show(args: argparse.Namespace) -> int:
    """Print the config in use as YAML, after defaults, with the web page's secrets masked."""
    from party_button.config.effective import effective  # the whole schema only here

    config = config_of(args)
    print(f"# {config.path}, with every default filled in")
    print(yaml.safe_dump(effective(config), sort_keys=False, allow_unicode=True), end="")
    return EXIT_OK

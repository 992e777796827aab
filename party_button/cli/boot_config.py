"""``party-button boot-config``: the ``config.txt`` lines that hold the relays off from power-on."""

from __future__ import annotations

import argparse

from party_button.cli.common import EXIT_OK, add_command, config_of


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``boot-config`` to the main command."""
    text = "print config.txt lines that hold the relays off at boot"
    add_command(subparsers, "boot-config", run, text, example="--config config/config.yaml")


def run(args: argparse.Namespace) -> int:
    """Print the ``gpio=`` lines for the config's pins."""
    from party_button.maker.boot_config import boot_config_lines  # the schema's types

    print("\n".join(boot_config_lines(config_of(args))))
    return EXIT_OK

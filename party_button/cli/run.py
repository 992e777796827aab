"""``party-button run [--simulate]``: the daemon, or the party on the keyboard and screen."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from party_button.cli.common import add_command, config_of
from party_button.control.protocol import daemon_socket_path
from party_button.errors import ConfigError

# The last line of a start refused for the config: systemctl reload needs a running daemon.
NOT_STARTED = (
    "not started: fix the config, then: "
    "systemctl reset-failed party-button; systemctl restart party-button"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``run`` to the main command."""
    text = "run the party button daemon"
    warning = "without --simulate it drives the real relays, which may switch mains loads"
    example = "--simulate --config config/config.yaml"
    parser = add_command(
        subparsers, "run", run, text, example=example, socket=True, warning=warning
    )
    parser.add_argument(
        "--simulate", action="store_true", help="mock pins, the keyboard is the button"
    )


def run(args: argparse.Namespace) -> int:
    """Run the daemon until it is stopped, or the keyboard simulation with ``--simulate``."""
    try:
        config = config_of(args)
    except ConfigError as exc:
        if os.environ.get("INVOCATION_ID"):  # started by systemd: say how to start again
            raise ConfigError([*exc.problems, NOT_STARTED]) from None
        raise
    socket_path = Path(args.socket) if args.socket else daemon_socket_path()
    if args.simulate:
        from party_button.cli.simulation import simulate

        return simulate(config, control_path=socket_path)
    from party_button.daemon.daemon import Daemon

    return Daemon(config, control_path=socket_path).run()

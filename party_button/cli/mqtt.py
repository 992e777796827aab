"""``party-button mqtt``: run the Home Assistant bridge (or say whether it is enabled)."""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path

from party_button.cli.common import EXIT_FAILED, add_command, add_is_enabled, say_enabled
from party_button.config.location import find_config
from party_button.config.mqtt import load_mqtt_config, read_password
from party_button.config.sync import load_sync_config
from party_button.control.protocol import client_socket_path
from party_button.systemd import Notifier

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mqtt`` to the main command."""
    text = "bridge the daemon to an MQTT broker, with Home Assistant discovery"
    warning = "needs mqtt.enabled: true in the config (else it exits with code 1)"
    parser = add_command(
        subparsers, "mqtt", run, text, example="--is-enabled", socket=True, warning=warning
    )
    add_is_enabled(parser, "mqtt")


def run(args: argparse.Namespace) -> int:
    """Bridge until SIGTERM or SIGINT (0), or 1 when the config says no or is wrong.

    Config problems raise :class:`~party_button.errors.ConfigError`, which the main command
    prints.
    """
    path = find_config(args.config)
    config = load_mqtt_config(path)
    if args.is_enabled:
        return say_enabled(path, "mqtt", config.enabled)
    if not config.enabled:
        print(f"{path}: mqtt.enabled is not true: nothing to bridge")
        return EXIT_FAILED
    password = read_password(config.password_file) if config.password_file else None
    socket_path = Path(args.socket) if args.socket else client_socket_path()

    from party_button.mqtt.bridge import Bridge  # paho only where it is used

    notifier = Notifier()
    sync = load_sync_config(path)  # the rooms, when sync is on
    bridge = Bridge(config, socket_path, password=password, on_status=notifier.status, sync=sync)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: bridge.stop())
    try:
        return bridge.run(ready=lambda: notifier.ready("bridging"))
    finally:
        notifier.stopping()

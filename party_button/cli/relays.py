"""``party-button test-relays`` and ``relays-off``: the relays without the daemon."""

from __future__ import annotations

import argparse
import time

from party_button.cli.common import EXIT_OK, add_command, config_of
from party_button.config.location import find_config


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``test-relays`` and ``relays-off`` to the main command."""
    switches = (
        "this switches the real relays and whatever they drive, mains loads included; "
        "stop the service first (systemctl stop party-button), which owns the pins"
    )
    test = add_command(
        subparsers,
        "test-relays",
        run,
        "click each relay in turn",
        example="--seconds 2",
        warning=switches,
    )
    test.add_argument(
        "--seconds", type=float, default=1.0, help="how long each relay stays on (default 1)"
    )
    text = "drive every relay to its off level (reads only the pins)"
    add_command(subparsers, "relays-off", run, text, example="", warning=switches)


def run(args: argparse.Namespace) -> int:
    """Click the relays in turn (``test-relays``) or drive them all off (``relays-off``)."""
    # gpiozero and the schema only for the commands that drive pins
    from party_button.config.schema import load_relays
    from party_button.gpio.board import make_pin_factory
    from party_button.gpio.devices import drive_relays_off, relay_device

    if args.command == "relays-off":
        # Only the pins: the unit's ExecStopPost runs this whatever else the config holds.
        gpio, relays = load_relays(find_config(args.config))
        factory = make_pin_factory(gpio.pin_factory)
        print(f"relays off: {', '.join(drive_relays_off(factory, relays))}")
        return EXIT_OK
    config = config_of(args)
    factory = make_pin_factory(config.gpio.pin_factory)
    devices = [relay_device(relay, factory) for relay in config.relays]
    try:
        for relay, device in zip(config.relays, devices, strict=True):
            level = "high" if relay.active_high else "low"
            print(f"{relay.name}: GPIO{relay.pin} on (driven {level}) - {relay.drives}", flush=True)
            device.on()
            time.sleep(max(args.seconds, relay.min_interval))
            device.off()
            print(f"{relay.name}: off", flush=True)
            time.sleep(max(args.seconds / 2, relay.min_interval))
    finally:
        for device in devices:
            device.off()
            device.close()
    return EXIT_OK

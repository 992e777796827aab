"""The ``party-button`` command: parses arguments, calls the library, maps errors to exit codes.

Exit codes: 0 ok, 1 bad input or configuration (or a failure), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from party_button.config import Config, find_config, load_config
from party_button.control import client_socket_path, daemon_socket_path, send_command, watch
from party_button.errors import PartyButtonError
from party_button.hardware import drive_relays_off, make_pin_factory
from party_button.systemd import setup_logging

log = logging.getLogger("party_button")

Command = Callable[[argparse.Namespace], int]


def _load(args: argparse.Namespace) -> Config:
    return load_config(find_config(getattr(args, "config", None)))


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon, or the keyboard simulation with ``--simulate``."""
    config = _load(args)
    if args.simulate:
        from party_button.simulation import simulate

        return simulate(config)
    from party_button.daemon import Daemon

    socket_path = Path(args.socket) if args.socket else daemon_socket_path()
    return Daemon(config, control_path=socket_path).run()


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a config file; every problem is printed by :func:`main`."""
    config = load_config(find_config(args.path or args.config))
    print(f"{config.path}: OK ({len(config.relays)} relays)")
    return 0


def cmd_songs(args: argparse.Namespace) -> int:
    """List the library in the order it would play from ``--seed``."""
    from party_button.library import scanned_library
    from party_button.song_file import printable

    library = scanned_library(_load(args), seed=args.seed).library
    count = args.count or len(library)
    if not len(library):
        print("the songs library is empty")
        return 0
    for number in range(1, count + 1):
        print(f"{number:3d}  {printable(library.next_item() or '')}")
    return 0


def cmd_test_relays(args: argparse.Namespace) -> int:
    """Click each relay on and off in turn so that a person can check the wiring."""
    from gpiozero import DigitalOutputDevice

    config = _load(args)
    factory = make_pin_factory(config.gpio.pin_factory)
    devices = [
        DigitalOutputDevice(
            r.pin, active_high=r.active_high, initial_value=False, pin_factory=factory
        )
        for r in config.relays
    ]
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
    return 0


def cmd_relays_off(args: argparse.Namespace) -> int:
    """Drive every configured relay to its off level and exit."""
    config = _load(args)
    names = drive_relays_off(make_pin_factory(config.gpio.pin_factory), config.relays)
    print(f"relays off: {', '.join(names)}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    """Compute the beat grids of songs (the configured library by default)."""
    from party_button import analyze_command
    from party_button.library_scan import scan_library

    songs: list[Path] = []
    if not args.paths:
        config = _load(args)
        found = scan_library(config.songs.folders, config.songs.extensions, config.effect_sounds)
        songs = [Path(song) for song in found]
    return analyze_command.run(args, songs)


def cmd_preview(args: argparse.Namespace) -> int:
    """Draw what a light show will do."""
    from party_button import preview_command

    return preview_command.run(args, _load(args))


def cmd_wiring(args: argparse.Namespace) -> int:
    """Print the wiring table (and write the diagram) for the config's pins."""
    from party_button import wiring_command

    return wiring_command.run(args, _load(args))


def cmd_boot_config(args: argparse.Namespace) -> int:
    """Print the ``config.txt`` lines that hold the relays off from power-on."""
    from party_button.boot_config import boot_config_lines

    print("\n".join(boot_config_lines(_load(args))))
    return 0


def cmd_control(args: argparse.Namespace) -> int:
    """Send ``press``, ``stop``, ``next``, ``status`` or ``reload`` to the running daemon."""
    path = Path(args.socket) if args.socket else client_socket_path()
    if getattr(args, "watch", False):
        return _watch(path, raw=args.json)
    answer = send_command(path, args.command)
    if args.command == "status" or args.json:
        print(json.dumps(answer, indent=2))
    elif args.command == "reload" and not answer.get("ok"):
        for line in answer.get("errors", []) or [answer.get("status", "reload failed")]:
            print(line, file=sys.stderr)
        return 1
    elif not answer.get("ok"):
        print(answer.get("error", answer.get("status", "")), file=sys.stderr)
    else:
        print(answer.get("status", ""))
    return 0 if answer.get("ok") else 1


def _watch(path: Path, *, raw: bool) -> int:
    """Print the daemon's watch stream until it ends: 0 when the daemon stops, else 1."""
    from party_button.watch import describe

    for message in watch(path):
        print(json.dumps(message) if raw else describe(message), flush=True)
        if message.get("event") == "stopping":
            return 0
    print(f"the daemon on {path} ended the stream", file=sys.stderr)
    return 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="party-button", description="The emergency party button.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, command: Command, help_text: str) -> argparse.ArgumentParser:
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        sub_parser.add_argument("--config", metavar="PATH", help="config file to use")
        sub_parser.set_defaults(func=command)
        return sub_parser

    run = add("run", cmd_run, "run the party button daemon")
    run.add_argument(
        "--simulate", action="store_true", help="mock pins, the keyboard is the button"
    )
    run.add_argument("--socket", metavar="PATH", help="control socket to listen on")
    check = add("check-config", cmd_check_config, "validate a config file")
    check.add_argument("path", nargs="?", help="the file to check (default: the one in use)")
    songs = add("songs", cmd_songs, "list the songs in the order they would play")
    songs.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    songs.add_argument("--count", type=int, default=0, help="how many picks (default: a round)")
    test_relays = add("test-relays", cmd_test_relays, "click each relay in turn")
    test_relays.add_argument(
        "--seconds", type=float, default=1.0, help="how long each relay stays on (default 1)"
    )
    add("relays-off", cmd_relays_off, "drive every relay to its off level")
    from party_button import analyze_command, preview_command, wiring_command

    analyze_command.add_arguments(add("analyze", cmd_analyze, "compute the songs' beat grids"))
    preview_command.add_arguments(add("preview", cmd_preview, "draw a light show's timeline"))
    wiring_command.add_arguments(add("wiring", cmd_wiring, "print the wiring table and diagram"))
    from party_button.render import command as render_command

    render_command.register(sub)
    add("boot-config", cmd_boot_config, "print config.txt lines that hold the relays off at boot")
    for name, help_text in (
        ("press", "press the button of the running daemon"),
        ("stop", "end the running party"),
        ("next", "skip to the next song of the running party"),
        ("status", "print what the daemon is doing, as JSON (--watch: every change)"),
        ("reload", "make the daemon re-read its config file"),
    ):
        client = sub.add_parser(name, help=help_text, description=help_text)
        client.add_argument("--socket", metavar="PATH", help="the daemon's control socket")
        client.add_argument("--json", action="store_true", help="print the full JSON answer")
        if name == "status":
            client.add_argument(
                "--watch", action="store_true", help="print a line for every change, until stopped"
            )
        client.set_defaults(func=cmd_control)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``party-button``; returns the exit code."""
    args = build_parser().parse_args(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return args.func(args)
    except PartyButtonError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

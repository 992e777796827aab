"""``party-button press|stop|next|hold|status|reload``: talk to the running daemon."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from party_button.cli.common import EXIT_FAILED, EXIT_OK, add_command
from party_button.config.sync import DEFAULT_PORT
from party_button.control.client import send_command, watch
from party_button.control.protocol import COMMAND_HELP, client_socket_path
from party_button.errors import ControlError

# Every command of the protocol but watch, which ``status --watch`` sends, and follow, which
# only a room's sync service sends (with its argument).
COMMANDS = tuple(
    (name, text) for name, text in COMMAND_HELP.items() if name not in ("watch", "follow")
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the commands that talk to the daemon to the main command."""
    for name, help_text in COMMANDS:
        example = "--watch" if name == "status" else ""
        client = add_command(
            subparsers, name, run, help_text, example=example, config=False, socket=True
        )
        client.add_argument("--json", action="store_true", help="print the full JSON answer")
        if name == "status":
            client.add_argument(
                "--watch", action="store_true", help="print a line for every change, until stopped"
            )
            client.add_argument(
                "--sync",
                metavar="HOST:PORT",
                nargs="?",
                const=f"127.0.0.1:{DEFAULT_PORT}",
                help="also ask the sync service (the role, the rooms; default %(const)s)",
            )


def run(args: argparse.Namespace) -> int:
    """Send the command to the daemon and print its answer: 0 when it says ok, else 1."""
    path = Path(args.socket) if args.socket else client_socket_path()
    if getattr(args, "watch", False):
        return _watch(path, raw=args.json)
    try:
        answer = send_command(path, args.command)
    except ControlError as exc:
        if args.command != "reload":
            raise
        raise ControlError(
            f"{exc}; a daemon that failed to start reads its config when started again: "
            "systemctl reset-failed party-button; systemctl restart party-button"
        ) from None
    if getattr(args, "sync", None):
        from party_button.sync.messages import ask_status  # asyncio only when asked

        host, _, port = args.sync.rpartition(":")
        answer["sync"] = ask_status(host or "127.0.0.1", int(port) if port.isdigit() else 0)
    if args.command in ("status", "grid") or args.json:
        print(json.dumps(answer, indent=2))
    elif args.command == "reload":
        return _reloaded(answer)
    elif not answer.get("ok"):
        print(answer.get("error", answer.get("status", "")), file=sys.stderr)
    else:
        print(answer.get("status", ""))
    return EXIT_OK if answer.get("ok") else EXIT_FAILED


def _reloaded(answer: dict) -> int:
    """Print how a reload went, with the daemon's reasons when it did not (its config's
    FILE:LINE problems, a refusal such as the rate limit); 0 when the config is good."""
    if not answer.get("ok"):
        for line in answer.get("errors") or [answer.get("error") or "reload failed"]:
            print(line, file=sys.stderr)
        return EXIT_FAILED
    if answer.get("applied", True):
        print("the config is applied")
    else:
        print("the config is valid; it applies when the party is over")
    return EXIT_OK


def _watch(path: Path, *, raw: bool) -> int:
    """Print the daemon's watch stream until it ends: 0 when the daemon stops, else 1."""
    from party_button.control.watch import describe

    for message in watch(path):
        print(json.dumps(message) if raw else describe(message), flush=True)
        if message.get("event") == "stopping":
            return EXIT_OK
    print(f"the daemon on {path} ended the stream", file=sys.stderr)
    return EXIT_FAILED

"""What the daemon and its clients agree on: where the socket is, its commands, its peers.

A client connects to a Unix stream socket, sends one command line and reads one JSON line
back; only ``follow`` takes an argument (:mod:`party_button.control.follow`). After
``watch`` the connection stays open and carries the stream of
:mod:`party_button.control.watch`. This package stands alone: it imports nothing of the
daemon, the config or the pins, so that every adapter (and any other client) can use it
cheaply. The daemon maps each command to an event of its own.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# The commands, each with what it asks of the daemon (the command line's help).
COMMAND_HELP = {
    "press": "press the button of the running daemon",
    "stop": "end the running party",
    "next": "skip to the next song of the running party",
    "hold": "the panic stop, as holding the button: relays off and silence at once",
    "status": "print what the daemon is doing, as JSON (--watch: every change)",
    "reload": "make the daemon re-read its config file",
    "watch": "the full state, then every change, on the same connection",
    "grid": "print the beat grid of the song playing, as JSON",
    "follow": "follow a leader's party (a room's sync service sends it, with an argument)",
}
COMMANDS = tuple(COMMAND_HELP)
# The commands that act on the party as the button does; each answers with the status.
PARTY_COMMANDS = ("press", "stop", "next", "hold")
PRESS, STOP, NEXT, HOLD = PARTY_COMMANDS
SOCKET_NAME = "control.sock"
SOCKET_ENV = "PARTY_BUTTON_SOCKET"
SYSTEM_SOCKET = Path("/run/party-button") / SOCKET_NAME


@dataclass(frozen=True)
class Peer:
    """The process at the other end of a control connection, as the kernel tells it."""

    pid: int
    uid: int
    gid: int

    def __str__(self) -> str:
        return f"uid {self.uid} pid {self.pid}"


def daemon_socket_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the daemon listens.

    ``$PARTY_BUTTON_SOCKET``; else the service's runtime directory (``$RUNTIME_DIRECTORY``,
    set by systemd's ``RuntimeDirectory=``, normally ``/run/party-button``); else the
    user's ``$XDG_RUNTIME_DIR/party-button``; else a private folder in the temp directory.
    """
    environ = os.environ if environ is None else environ
    if environ.get(SOCKET_ENV):
        return Path(environ[SOCKET_ENV])
    if environ.get("RUNTIME_DIRECTORY"):
        return Path(environ["RUNTIME_DIRECTORY"].split(":")[0]) / SOCKET_NAME
    if environ.get("XDG_RUNTIME_DIR"):
        return Path(environ["XDG_RUNTIME_DIR"]) / "party-button" / SOCKET_NAME
    return Path(tempfile.gettempdir()) / f"party-button-{os.getuid()}" / SOCKET_NAME


def client_socket_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where a client finds the daemon: the service's socket if there is one, else the user's."""
    environ = os.environ if environ is None else environ
    own = daemon_socket_path(environ)
    if environ.get(SOCKET_ENV) or environ.get("RUNTIME_DIRECTORY"):
        return own
    try:
        if stat.S_ISSOCK(SYSTEM_SOCKET.stat().st_mode):
            return SYSTEM_SOCKET
    except PermissionError:  # the service's, open to its group only: connecting says so
        return SYSTEM_SOCKET
    except OSError:
        pass
    return own


def unknown_command(command: str) -> str:
    shown = command if len(command) <= 40 else command[:40] + "…"
    return f"unknown command {shown!r} (use {', '.join(COMMANDS)})"

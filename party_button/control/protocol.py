"""What the daemon and its clients agree on: where the socket is, and its commands.

A client connects to a Unix stream socket, sends one command line and reads one JSON line
back; after ``watch`` the connection stays open and carries the stream of
:mod:`party_button.control.watch`.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from party_button.daemon.events import REQUESTS

COMMANDS = tuple(REQUESTS)
SOCKET_NAME = "control.sock"
SOCKET_ENV = "PARTY_BUTTON_SOCKET"
SYSTEM_SOCKET = Path("/run/party-button") / SOCKET_NAME


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

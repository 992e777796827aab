"""The control socket: ``party-button press|stop|status|reload`` talking to the running daemon.

A client connects to a Unix stream socket, sends one command line and reads one JSON line
back. The socket is created ``0660``: only its owner and group (the service's group) may
connect, and the kernel refuses everyone else at ``connect()``.

The server never blocks the main loop: it only accepts connections and reads what has
arrived when the :class:`~party_button.events.EventQueue` says so, and puts each command
on the queue as an :class:`~party_button.events.Event` whose ``reply`` answers the client.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from party_button.errors import ControlError
from party_button.events import Event, EventQueue

log = logging.getLogger(__name__)

COMMANDS = ("press", "stop", "status", "reload")
SOCKET_NAME = "control.sock"
SOCKET_ENV = "PARTY_BUTTON_SOCKET"
SYSTEM_SOCKET = Path("/run/party-button") / SOCKET_NAME
SOCKET_MODE = 0o660
MAX_REQUEST = 256
CLIENT_TIMEOUT = 5.0


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


class ControlServer:
    """Listens on ``path`` and turns each request into an event on ``queue``."""

    def __init__(self, path: Path, queue: EventQueue) -> None:
        self.path = path
        self.queue = queue
        self._clients: dict[socket.socket, bytes] = {}
        self._refuse_if_in_use(path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old_umask = os.umask(0o117)  # the socket is never, even briefly, open to others
            try:
                self.sock.bind(str(path))
            finally:
                os.umask(old_umask)
            os.chmod(path, SOCKET_MODE)
            self.sock.listen(8)
            self.sock.setblocking(False)
        except OSError as exc:
            self.sock.close()
            raise ControlError(f"cannot listen on {path}: {exc.strerror or exc}") from None
        queue.add_reader(self.sock, self._accept)
        log.info("control socket %s (mode %o)", path, SOCKET_MODE)

    @staticmethod
    def _refuse_if_in_use(path: Path) -> None:
        """Remove a stale socket file; refuse when another daemon still answers on it."""
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ControlError(f"{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink(missing_ok=True)
            return
        finally:
            probe.close()
        raise ControlError(f"another party-button daemon is listening on {path}")

    def _accept(self) -> None:
        try:
            conn, _address = self.sock.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self._clients[conn] = b""
        self.queue.add_reader(conn, lambda: self._read(conn))

    def _read(self, conn: socket.socket) -> None:
        try:
            chunk = conn.recv(MAX_REQUEST)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        data = self._clients[conn] + chunk
        if b"\n" not in data:
            if chunk and len(data) < MAX_REQUEST:
                self._clients[conn] = data  # the rest of the line is still on its way
                return
            if not data:  # closed without a word
                self._drop(conn)
                return
        self.queue.remove_reader(conn)
        command = data.split(b"\n", 1)[0].decode(errors="replace").strip()
        if command not in COMMANDS:
            self._answer(conn, {"ok": False, "error": _unknown(command)})
            return
        self.queue.put(Event(command, "control", reply=lambda answer: self._answer(conn, answer)))

    def _answer(self, conn: socket.socket, answer: dict[str, Any]) -> None:
        try:
            conn.setblocking(True)
            conn.settimeout(1.0)  # a client that stops reading cannot hold the loop for long
            conn.sendall(json.dumps(answer).encode() + b"\n")
        except OSError as exc:
            log.debug("control client went away: %s", exc)
        finally:
            self._drop(conn)

    def _drop(self, conn: socket.socket) -> None:
        if self._clients.pop(conn, None) is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.queue.remove_reader(conn)
        conn.close()

    def close(self) -> None:
        """Stop listening and remove the socket file; safe to call twice."""
        for conn in list(self._clients):
            self._drop(conn)
        if self.sock.fileno() >= 0:
            with contextlib.suppress(KeyError, ValueError):
                self.queue.remove_reader(self.sock)
            self.sock.close()
            self.path.unlink(missing_ok=True)


def _unknown(command: str) -> str:
    return f"unknown command {command!r} (use {', '.join(COMMANDS)})"


def send_command(path: Path, command: str, *, timeout: float = CLIENT_TIMEOUT) -> dict[str, Any]:
    """Send ``command`` to the daemon at ``path`` and return its JSON answer.

    Raises :class:`ControlError` with a hint when the daemon cannot be reached.
    """
    if command not in COMMANDS:
        raise ControlError(_unknown(command))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError(
                f"no party-button daemon is listening on {path} (is it running?)"
            ) from None
        except PermissionError:
            raise ControlError(
                f"permission denied on {path}: join the socket's group "
                f"(ls -l {path}), log in again, and retry"
            ) from None
        except OSError as exc:
            raise ControlError(f"cannot connect to {path}: {exc.strerror or exc}") from None
        try:
            sock.sendall(command.encode() + b"\n")
            answer = _read_line(sock)
        except TimeoutError:
            raise ControlError(f"the daemon on {path} did not answer within {timeout:g}s") from None
        except OSError as exc:
            raise ControlError(f"lost the connection to {path}: {exc.strerror or exc}") from None
    try:
        decoded = json.loads(answer)
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        raise ControlError(f"the daemon on {path} answered something that is not JSON: {answer!r}")
    return decoded


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            if not data:
                raise OSError(errno.ECONNRESET, "the daemon closed the connection")
            break
        data += chunk
    return data.split(b"\n", 1)[0]

"""The client side of the control socket: one command and its answer, or the watch stream."""

from __future__ import annotations

import contextlib
import errno
import getpass
import grp
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from party_button.control.follow import FollowOrder, encode_follow
from party_button.control.protocol import COMMANDS, unknown_command
from party_button.errors import ControlError

CLIENT_TIMEOUT = 5.0
MAX_ANSWER_LINE = 1024 * 1024  # the longest line a client reads


def _connect(path: Path, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        raise ControlError(
            f"no party-button daemon is listening on {path} (is it running?)"
        ) from None
    except PermissionError:
        sock.close()
        raise ControlError(f"permission denied on {path}: {_who_may(path)}") from None
    except OSError as exc:
        sock.close()
        raise ControlError(f"cannot connect to {path}: {exc.strerror or exc}") from None
    return sock


def _who_may(path: Path) -> str:
    """Who may use the socket at ``path``, as a user refused by it can find out: the group
    of its folder (the socket itself may sit in a folder that user cannot list)."""
    try:
        group = grp.getgrgid(path.parent.stat().st_gid).gr_name
    except (OSError, KeyError):
        return "only its group may use it; ask the admin to add you to that group"
    return (
        f"only members of the group {group!r} may use it: ask the admin to add you "
        f"(sudo usermod -aG {group} {getpass.getuser()}), then log in again"
    )


def send_command(path: Path, command: str, *, timeout: float = CLIENT_TIMEOUT) -> dict[str, Any]:
    """Send ``command`` to the daemon at ``path`` and return its JSON answer.

    Raises :class:`ControlError` with a hint when the daemon cannot be reached.
    """
    if command not in COMMANDS or command in ("watch", "follow"):
        raise ControlError(unknown_command(command))
    return _ask(path, command.encode() + b"\n", timeout)


def send_follow(
    path: Path, order: FollowOrder, *, timeout: float = CLIENT_TIMEOUT
) -> dict[str, Any]:
    """Send ``follow`` with ``order`` to the daemon at ``path``; its JSON answer."""
    return _ask(path, encode_follow(order), timeout)


def _ask(path: Path, request: bytes, timeout: float) -> dict[str, Any]:
    hung_up = f"lost the connection to {path}: the daemon hung up"
    with _connect(path, timeout) as sock, _Talking(path, timeout, hung_up):
        _send(sock, request)
        line = next(_read_lines(sock))
    return decode_line(path, line)


class WatchConnection:
    """A watch stream whose connection another thread may close.

    Iterating gives each message as a dict until the daemon ends the stream; :meth:`close`
    (from any thread) ends an iteration blocked on a quiet daemon. The first message comes
    within ``timeout``; then the stream waits as long as the daemon has nothing to say. A
    refusal (too many watchers) raises :class:`ControlError`.
    """

    def __init__(self, path: Path, *, timeout: float = CLIENT_TIMEOUT) -> None:
        self.path = path
        self.timeout = timeout
        self._sock = _connect(path, timeout)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        path = self.path
        hung_up = f"the daemon on {path} closed the connection"
        with _Talking(path, self.timeout, hung_up):
            _send(self._sock, b"watch\n")
            lines = _read_lines(self._sock)
            first = decode_line(path, next(lines))
            if first.get("ok") is False:
                raise ControlError(f"the daemon refused to be watched: {first.get('error')}")
            yield first
            self._sock.settimeout(None)
            for line in lines:
                yield decode_line(path, line)

    def close(self) -> None:
        """Hang up; a reader blocked in the stream sees its end. Safe to call twice."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    def __enter__(self) -> WatchConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def watch(path: Path, *, timeout: float = CLIENT_TIMEOUT) -> Iterator[dict[str, Any]]:
    """The daemon's watch stream (see :class:`WatchConnection`), until the daemon ends it."""
    with WatchConnection(path, timeout=timeout) as connection:
        yield from connection


class _Talking:
    """Turns what can go wrong while talking to the daemon into one :class:`ControlError`."""

    def __init__(self, path: Path, timeout: float, hung_up: str) -> None:
        self.path, self.timeout, self.hung_up = path, timeout, hung_up

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: Any, _trace: object) -> bool:
        if kind is None or issubclass(kind, ControlError):
            return False
        if issubclass(kind, TimeoutError):
            message = f"the daemon on {self.path} did not answer within {self.timeout:g}s"
        elif issubclass(kind, StopIteration):
            message = self.hung_up
        elif issubclass(kind, OSError):
            message = f"lost the connection to {self.path}: {error.strerror or error}"
        else:
            return False
        raise ControlError(message) from None


def _send(sock: socket.socket, request: bytes) -> None:
    """Send ``request``. A daemon that refuses a client (out of file descriptors, too many
    connections) answers at once and hangs up, maybe before the request arrives: its answer
    is still there to be read."""
    with contextlib.suppress(BrokenPipeError):
        sock.sendall(request)


def _read_lines(sock: socket.socket) -> Iterator[bytes]:
    """Each line the daemon sends, until it hangs up."""
    data = b""
    while True:
        line, newline, rest = data.partition(b"\n")
        if newline:
            data = rest
            yield line
            continue
        if len(data) > MAX_ANSWER_LINE:
            raise OSError(errno.EMSGSIZE, "the daemon sent a line that is far too long")
        chunk = sock.recv(65536)
        if not chunk:
            return
        data += chunk


def decode_line(path: Path, line: bytes) -> dict[str, Any]:
    """One JSON object the daemon at ``path`` sent; :class:`ControlError` if it is none."""
    try:
        decoded = json.loads(line)
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        raise ControlError(f"the daemon on {path} answered something that is not JSON: {line!r}")
    return decoded

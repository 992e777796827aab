"""The client side of the control socket: one command and its answer, or the watch stream."""

from __future__ import annotations

import errno
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
        raise ControlError(
            f"permission denied on {path}: join the socket's group "
            f"(ls -l {path}), log in again, and retry"
        ) from None
    except OSError as exc:
        sock.close()
        raise ControlError(f"cannot connect to {path}: {exc.strerror or exc}") from None
    return sock


def send_command(path: Path, command: str, *, timeout: float = CLIENT_TIMEOUT) -> dict[str, Any]:
    """Send ``command`` to the daemon at ``path`` and return its JSON answer.

    Raises :class:`ControlError` with a hint when the daemon cannot be reached.
    """
    if command not in COMMANDS or command == "watch":
        raise ControlError(unknown_command(command))
    with _connect(path, timeout) as sock:
        try:
            sock.sendall(command.encode() + b"\n")
            line = next(_read_lines(sock))
        except TimeoutError:
            raise ControlError(f"the daemon on {path} did not answer within {timeout:g}s") from None
        except StopIteration:
            raise ControlError(f"lost the connection to {path}: the daemon hung up") from None
        except OSError as exc:
            raise ControlError(f"lost the connection to {path}: {exc.strerror or exc}") from None
    return _decode(path, line)


def watch(path: Path, *, timeout: float = CLIENT_TIMEOUT) -> Iterator[dict[str, Any]]:
    """The daemon's watch stream: each message as a dict, until the daemon ends it.

    The first message comes within ``timeout``; then the stream waits as long as the daemon
    has nothing to say. A refusal (too many watchers) raises :class:`ControlError`.
    """
    with _connect(path, timeout) as sock:
        try:
            sock.sendall(b"watch\n")
            lines = _read_lines(sock)
            first = _decode(path, next(lines))
            if first.get("ok") is False:
                raise ControlError(f"the daemon refused to be watched: {first.get('error')}")
            yield first
            sock.settimeout(None)
            for line in lines:
                yield _decode(path, line)
        except ControlError:
            raise
        except TimeoutError:
            raise ControlError(f"the daemon on {path} did not answer within {timeout:g}s") from None
        except StopIteration:
            raise ControlError(f"the daemon on {path} closed the connection") from None
        except OSError as exc:
            raise ControlError(f"lost the connection to {path}: {exc.strerror or exc}") from None


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


def _decode(path: Path, line: bytes) -> dict[str, Any]:
    try:
        decoded = json.loads(line)
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        raise ControlError(f"the daemon on {path} answered something that is not JSON: {line!r}")
    return decoded

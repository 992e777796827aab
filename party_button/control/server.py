"""The daemon's side of the control socket (``press|stop|next|hold|status|reload|watch``).

See :mod:`party_button.control.protocol` for what a client sends and reads. The
socket is created ``0660``: only its owner and group (the service's group) may connect,
and the kernel refuses everyone else at ``connect()``.

The server never blocks the main loop and never lets a client hold it: every socket is
non-blocking, answers wait in a bounded buffer until the client reads them, and the limits
below (:data:`MAX_CONNECTIONS`, :data:`MAX_PER_PROCESS`, :data:`MAX_WATCHERS`,
:data:`REQUEST_TIMEOUT`, ...) end whatever would pile up. Each command is handed to the
server's ``submit`` with the client's :class:`~party_button.control.protocol.Peer` and a
``reply`` that answers it; the daemon turns it into an event of its own.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import stat
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from party_button.control.follow import (
    FOLLOW,
    FOLLOW_INTERVAL,
    MAX_FOLLOW_REQUEST,
    FollowError,
    parse_follow,
)
from party_button.control.protocol import COMMANDS, Peer, unknown_command
from party_button.errors import ControlError
from party_button.log_limit import RateLimitedLog

log = logging.getLogger(__name__)

SOCKET_MODE = 0o660

# The limits of the server (see docs/reference/limits.md).
MAX_REQUEST = 256  # bytes of a command line, newline included
# ``follow`` carries a beat grid: its line may be longer (control/follow.py)
REQUEST_TIMEOUT = 5.0  # seconds from connecting to a complete command line
ANSWER_TIMEOUT = 5.0  # seconds a client may take to read its answer
MAX_CONNECTIONS = 64  # open connections in all, watchers included
MAX_PER_PROCESS = 8  # open connections of one client process
MAX_WATCHERS = 16  # connections that watch
WATCH_BACKLOG = 64 * 1024  # bytes of unread watch lines before a watcher is dropped
SEND_BUFFER = 32 * 1024  # the kernel's send buffer of each connection
# A command of these kinds closer than this (seconds) to the previous one is refused:
# each may switch songs or re-read the config on the main loop.
COMMAND_INTERVALS = {"press": 0.25, "next": 0.25, "reload": 1.0, FOLLOW: FOLLOW_INTERVAL}
ACCEPT_PAUSE = 0.5  # seconds without accepting after running out of file descriptors
WARN_EVERY = 60.0  # seconds between two warnings of the same kind

_PEERCRED = struct.Struct("3i")
Reply = Callable[[dict[str, Any]], None]
# What the server hands each command to: the command, its client, the reply that answers it
# and the command's checked argument (a FollowOrder for follow, else None).
Submit = Callable[[str, Peer, Reply, Any], None]
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


@dataclass(eq=False)
class _Client:
    sock: socket.socket
    peer: Peer
    deadline: float | None
    inbox: bytes = b""
    outbox: bytearray = field(default_factory=bytearray)
    wants_watch: bool = False  # sent watch; watching once the first state line is sent
    watching: bool = False
    closing: bool = False  # closed as soon as the outbox is sent


def check_socket_folder(folder: Path) -> None:
    """Refuse a folder for the socket that someone else could change.

    The folder must be a real folder (not a symbolic link) owned by this user or root, and
    not writable by others unless sticky. In a shared temp folder another user could
    otherwise make ``party-button-UID`` first and replace the socket in it.
    """
    try:
        info = folder.lstat()
    except OSError as exc:
        raise ControlError(f"cannot use {folder} for the control socket: {exc.strerror}") from None
    advice = "remove it, or choose another place with --socket or $PARTY_BUTTON_SOCKET"
    if stat.S_ISLNK(info.st_mode):
        raise ControlError(f"{folder} is a symbolic link, not a folder of this user: {advice}")
    if not stat.S_ISDIR(info.st_mode):
        raise ControlError(f"{folder} is not a folder: {advice}")
    if info.st_uid not in (os.geteuid(), 0):
        raise ControlError(
            f"{folder} belongs to uid {info.st_uid}, not to this user (uid {os.geteuid()}); "
            f"someone else may have made it: {advice}"
        )
    if info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
        raise ControlError(
            f"{folder} may be changed by other users (mode {stat.S_IMODE(info.st_mode):04o}): "
            f"{advice}"
        )


class FileWatcher(Protocol):
    """The loop that calls back when a file is readable or writable (the daemon's queue)."""

    def add_reader(self, fileobj: Any, callback: Callable[[], None]) -> None: ...
    def remove_reader(self, fileobj: Any) -> None: ...
    def add_writer(self, fileobj: Any, callback: Callable[[], None]) -> None: ...
    def remove_writer(self, fileobj: Any) -> None: ...


class ControlServer:
    """Listens on ``path`` and hands each request to ``submit``; ``queue`` watches its files.

    The daemon's loop calls :meth:`tick` by :meth:`next_deadline` and sends the watch
    stream with :meth:`publish`.
    """

    def __init__(
        self,
        path: Path,
        queue: FileWatcher,
        submit: Submit,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.queue = queue
        self.submit = submit
        self.clock = clock
        self._clients: set[_Client] = set()
        self._last_command: dict[str, float] = {}
        self._warnings = RateLimitedLog(log, WARN_EVERY, clock)
        self._accept_paused_until: float | None = None
        self._out_of_descriptors = False
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        check_socket_folder(path.parent)  # before touching anything in it
        self._refuse_if_in_use(path)
        self._spare = _open_spare()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old_umask = os.umask(0o117)  # the socket is never, even briefly, open to others
            try:
                self.sock.bind(str(path))
            finally:
                os.umask(old_umask)
            os.chmod(path, SOCKET_MODE)
            self.sock.listen(16)
            self.sock.setblocking(False)
        except OSError as exc:
            self.sock.close()
            self._close_spare()
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
        except OSError as exc:
            raise ControlError(f"cannot use {path}: {exc.strerror}") from None
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

    # -- connections -----------------------------------------------------------------------

    @property
    def watching(self) -> bool:
        """Whether any client watches."""
        return any(client.watching for client in self._clients)

    def _accept(self) -> None:
        try:
            conn, _address = self.sock.accept()
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno in _OUT_OF_DESCRIPTORS:
                self._descriptors_exhausted(exc)
            else:  # the client gave up before it was accepted
                log.debug("accept failed: %s", exc)
            return
        if self._out_of_descriptors:
            self._out_of_descriptors = False
            log.info("control socket: file descriptors available again")
        self._admit(conn)

    def _descriptors_exhausted(self, exc: OSError) -> None:
        """Refuse the waiting client with the spare descriptor, then stop accepting a while."""
        if not self._out_of_descriptors:
            self._out_of_descriptors = True
            log.error(
                "control socket: out of file descriptors (%s); refusing connections until "
                "some close",
                exc.strerror,
            )
        self._close_spare()
        with contextlib.suppress(OSError):
            conn, _address = self.sock.accept()
            _refuse(conn, "the daemon is out of file descriptors; try again later")
        self._spare = _open_spare()
        # Rest a moment: the listening socket stays readable, and the loop must not spin.
        self.queue.remove_reader(self.sock)
        self._accept_paused_until = self.clock() + ACCEPT_PAUSE

    def _admit(self, conn: socket.socket) -> None:
        try:
            pid, uid, gid = _PEERCRED.unpack(
                conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
            )
            conn.setblocking(False)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        except OSError as exc:
            log.debug("control client went away at once: %s", exc)
            conn.close()
            return
        peer = Peer(pid, uid, gid)
        from_peer = sum(1 for client in self._clients if client.peer.pid == pid)
        if len(self._clients) >= MAX_CONNECTIONS:
            reason = f"too many connections ({MAX_CONNECTIONS} at most)"
        elif from_peer >= MAX_PER_PROCESS:
            reason = f"too many connections from process {pid} ({MAX_PER_PROCESS} at most)"
        else:
            client = _Client(conn, peer, self.clock() + REQUEST_TIMEOUT)
            self._clients.add(client)
            self.queue.add_reader(conn, lambda: self._read(client))
            return
        self._warn(reason.split(" (")[0], f"control socket: refused {peer}: {reason}")
        _refuse(conn, reason)

    def _read(self, client: _Client) -> None:
        try:
            chunk = client.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client hung up
            self._drop(client)
            return
        if client.watching:
            log.info("control socket: dropped watcher %s, which sent more after watch", client.peer)
            self._drop(client)
            return
        client.inbox += chunk
        line, newline, _rest = client.inbox.partition(b"\n")
        limit = MAX_FOLLOW_REQUEST if line.startswith(FOLLOW.encode() + b" ") else MAX_REQUEST
        if len(line) >= limit:
            self._finish(client, _error(f"request longer than {limit} bytes"))
            return
        if not newline:
            return
        self.queue.remove_reader(client.sock)  # one request a connection
        client.deadline = None
        self._request(client, line.decode("ascii", errors="replace").strip())

    def _request(self, client: _Client, line: str) -> None:
        command, _space, text = line.partition(" ")
        if command not in COMMANDS:
            self._finish(client, _error(unknown_command(line)))
            return
        if text and command != FOLLOW:
            self._finish(client, _error(f"{command} takes no argument"))
            return
        now = self.clock()
        interval = COMMAND_INTERVALS.get(command)
        last = self._last_command.get(command)
        if interval is not None and last is not None and now - last < interval:
            self._finish(client, _error(f"too many {command} commands: one each {interval:g} s"))
            return
        self._last_command[command] = now
        argument: Any = None
        if command == FOLLOW:  # checked after the rate limit: parsing a grid is the cost
            try:
                argument = parse_follow(text)
            except FollowError as exc:
                self._finish(client, _error(str(exc)))
                return
        if command == "watch":
            if sum(1 for other in self._clients if other.wants_watch) >= MAX_WATCHERS:
                self._finish(client, _error(f"too many watchers ({MAX_WATCHERS} at most)"))
                return
            client.wants_watch = True
            reply = lambda message: self._start_watching(client, message)  # noqa: E731
        else:
            reply = lambda answer: self._finish(client, answer)  # noqa: E731
        self.submit(command, client.peer, reply, argument)

    def _start_watching(self, client: _Client, state: dict[str, Any]) -> None:
        if client not in self._clients:
            return  # gone while the daemon prepared the state
        client.watching = True
        self.queue.add_reader(client.sock, lambda: self._read(client))  # to notice a hang-up
        log.info("control socket: %s watches", client.peer)
        self._send(client, state)

    def _finish(self, client: _Client, answer: dict[str, Any]) -> None:
        """Send the one answer of a request, then close once the client has it."""
        if client not in self._clients:
            return
        self.queue.remove_reader(client.sock)
        client.closing = True
        client.deadline = self.clock() + ANSWER_TIMEOUT
        self._send(client, answer)

    def publish(self, message: dict[str, Any]) -> None:
        """Send ``message`` to every watcher; one that fell too far behind is dropped."""
        line = _line(message)
        for client in [client for client in self._clients if client.watching]:
            self._queue_line(client, line)

    def _send(self, client: _Client, message: dict[str, Any]) -> None:
        self._queue_line(client, _line(message))

    def _queue_line(self, client: _Client, line: bytes) -> None:
        if client.watching and len(client.outbox) + len(line) > WATCH_BACKLOG:
            log.warning(
                "control socket: dropped watcher %s: it left %d bytes unread",
                client.peer,
                len(client.outbox),
            )
            self._drop(client)
            return
        was_empty = not client.outbox
        client.outbox += line
        if was_empty:
            self._flush(client)

    def _flush(self, client: _Client) -> None:
        if client not in self._clients:
            return
        try:
            sent = client.sock.send(client.outbox)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            log.debug("control client %s went away: %s", client.peer, exc)
            self._drop(client)
            return
        del client.outbox[:sent]
        if client.outbox:
            self.queue.add_writer(client.sock, lambda: self._flush(client))
            return
        self.queue.remove_writer(client.sock)
        if client.closing:
            self._drop(client)

    def _drop(self, client: _Client) -> None:
        if client not in self._clients:
            return
        self._clients.discard(client)
        self.queue.remove_reader(client.sock)
        self.queue.remove_writer(client.sock)
        client.sock.close()

    # -- time ------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When :meth:`tick` has something to do: a client's time is up, accepting resumes."""
        deadlines = [client.deadline for client in self._clients if client.deadline]
        if self._accept_paused_until is not None:
            deadlines.append(self._accept_paused_until)
        return min(deadlines) if deadlines else None

    def tick(self, now: float) -> None:
        """Drop clients whose time is up; accept again after a pause."""
        for client in list(self._clients):
            if client.deadline is not None and now >= client.deadline:
                what = "read its answer" if client.closing else "send a whole command"
                self._warn(
                    f"slow {what}", f"control socket: dropped {client.peer}: it did not {what}"
                )
                self._drop(client)
        if self._accept_paused_until is not None and now >= self._accept_paused_until:
            self._accept_paused_until = None
            self._spare = self._spare or _open_spare()
            self.queue.add_reader(self.sock, self._accept)

    def _warn(self, kind: str, message: str) -> None:
        """Log ``message``, but one of each ``kind`` a minute at most (the next one says how
        many were left out)."""
        self._warnings.warning(kind, "%s", message)

    def close(self, farewell: dict[str, Any] | None = None) -> None:
        """Stop listening and remove the socket file; safe to call twice.

        Watchers get ``farewell`` first if their buffer can take it at once.
        """
        for client in list(self._clients):
            if farewell is not None and client.watching and not client.outbox:
                with contextlib.suppress(OSError):
                    client.sock.send(_line(farewell))
            self._drop(client)
        if self.sock.fileno() >= 0:
            self.queue.remove_reader(self.sock)
            self.sock.close()
            self.path.unlink(missing_ok=True)
        self._close_spare()

    def _close_spare(self) -> None:
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None


def _open_spare() -> int | None:
    """A descriptor held in reserve, freed to refuse a client when the process has none."""
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def _refuse(conn: socket.socket, reason: str) -> None:
    """Tell a client why it is not served, without waiting for it, and hang up."""
    with contextlib.suppress(OSError):
        conn.setblocking(False)
        conn.send(_line(_error(reason)))
    conn.close()


def _line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"


def _error(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}

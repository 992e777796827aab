"""What can happen to the daemon, as typed events, and the one queue they wait on.

Hardware callbacks, signal handlers and the control socket only :meth:`EventQueue.put`
events; the main loop waits in :meth:`EventQueue.wait` and handles them one by one.
``put`` takes no lock that the main thread could hold, so it is safe in a signal handler.
The loop also watches file descriptors (the control socket's connections) for reading and
writing, and calls their callbacks from :meth:`EventQueue.wait`.

Each kind of event is a dataclass of its own; nothing that arrives from outside (a line
on the control socket) ever names a kind by itself: :data:`REQUESTS` maps the socket's
commands (:data:`~party_button.control.protocol.COMMANDS`) to the events they put on the
queue, through :meth:`EventQueue.put_command`.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import os
import selectors
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from party_button.control.follow import FollowOrder
from party_button.control.protocol import Peer
from party_button.daemon.party import Input

# The longest single sleep: a deadline days away (or an absurd one) never reaches the
# selector, whose timeout has a limit; the loop simply wakes and sleeps again.
MAX_WAIT = 3600.0
# The selector counts whole milliseconds and rounds a timeout up (epoll's resolution), which
# would make every deadline, a light's beat among them, up to a millisecond late; the queue
# asks it for the whole milliseconds below the deadline and sleeps the rest finer.
SELECTOR_RESOLUTION = 1e-3
Callback = Callable[[], None]
Reply = Callable[[dict[str, Any]], None]
_KEEP: Any = object()


@dataclass(frozen=True)
class Event:
    """Something that happened; ``reply``, when set, answers the client that asked."""

    reply: Reply | None = field(default=None, compare=False, kw_only=True)


@dataclass(frozen=True)
class Edge(Event):
    """The button's raw level changed at ``at`` (monotonic seconds)."""

    pressed: bool
    at: float


@dataclass(frozen=True)
class ClientRequest(Event):
    """Asked for from outside the button; ``peer`` is the control client (None: the program)."""

    peer: Peer | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class Request(ClientRequest):
    """A press, stop, next or hold (the panic stop)."""

    input: Input


@dataclass(frozen=True)
class StatusRequest(ClientRequest):
    """``status``: answer with what the daemon is doing."""


@dataclass(frozen=True)
class WatchRequest(ClientRequest):
    """``watch``: answer with the full state, then stream every change."""


@dataclass(frozen=True)
class ReloadRequest(ClientRequest):
    """Re-read the config file: ``reload`` on the socket, or ``SIGHUP`` (``by_signal``)."""

    by_signal: bool = False


@dataclass(frozen=True)
class GridRequest(ClientRequest):
    """``grid``: answer with the beat grid of the song playing."""


@dataclass(frozen=True)
class FollowRequest(ClientRequest):
    """``follow``: the leader's party, as this room's sync service orders it."""

    order: FollowOrder


@dataclass(frozen=True)
class Stop(Event):
    """End the loop: a signal (``signum``) or a request from the program itself."""

    signum: int | None = None


@dataclass(frozen=True)
class LibraryChanged(Event):
    """The songs library found, lost or checked songs."""


@dataclass(frozen=True)
class GridFound(Event):
    """A beat grid for ``song`` was loaded or analysed."""

    song: Path
    grid: Any


@dataclass(frozen=True)
class Probe(Event):
    """Does nothing: a benchmark puts it at ``sent_at`` to see how late the loop answers."""

    sent_at: float


# The control socket's commands (with their checked argument) and the events they queue.
REQUESTS: dict[str, Callable[[Peer | None, Any], Event]] = {
    "press": lambda peer, _: Request(Input.PRESS, peer=peer),
    "stop": lambda peer, _: Request(Input.STOP, peer=peer),
    "next": lambda peer, _: Request(Input.NEXT, peer=peer),
    "hold": lambda peer, _: Request(Input.HOLD, peer=peer),
    "status": lambda peer, _: StatusRequest(peer=peer),
    "reload": lambda peer, _: ReloadRequest(peer=peer),
    "watch": lambda peer, _: WatchRequest(peer=peer),
    "grid": lambda peer, _: GridRequest(peer=peer),
    "follow": lambda peer, order: FollowRequest(order, peer=peer),
}


class EventQueue:
    """A thread- and signal-safe event queue that the main loop can sleep on."""

    def __init__(self) -> None:
        self._events: collections.deque[Event] = collections.deque()
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._read_fd, selectors.EVENT_READ, None)
        self._handlers: dict[int, tuple[Callback | None, Callback | None]] = {}
        self._closed = False

    def put(self, event: Event) -> None:
        """Queue ``event`` and wake the main loop."""
        self._events.append(event)
        # A full pipe wakes the loop anyway; a closed one means the loop has ended.
        with contextlib.suppress(OSError):
            os.write(self._write_fd, b"\0")

    def put_command(
        self, command: str, peer: Peer | None, reply: Reply, argument: Any = None
    ) -> None:
        """Queue the event of the control socket's ``command`` (with its checked
        ``argument``) from ``peer``, answered by ``reply``."""
        self.put(dataclasses.replace(REQUESTS[command](peer, argument), reply=reply))

    def add_reader(self, fileobj: Any, callback: Callback) -> None:
        """Call ``callback`` from :meth:`wait` whenever ``fileobj`` is readable."""
        self._watch(fileobj, reader=callback)

    def remove_reader(self, fileobj: Any) -> None:
        """Stop watching ``fileobj`` for reading (nothing happens if it was not)."""
        self._watch(fileobj, reader=None)

    def add_writer(self, fileobj: Any, callback: Callback) -> None:
        """Call ``callback`` from :meth:`wait` whenever ``fileobj`` can take more data."""
        self._watch(fileobj, writer=callback)

    def remove_writer(self, fileobj: Any) -> None:
        """Stop watching ``fileobj`` for writing (nothing happens if it was not)."""
        self._watch(fileobj, writer=None)

    def _watch(self, fileobj: Any, reader: Any = _KEEP, writer: Any = _KEEP) -> None:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        old_reader, old_writer = self._handlers.get(fd, (None, None))
        handlers = (
            old_reader if reader is _KEEP else reader,
            old_writer if writer is _KEEP else writer,
        )
        mask = (selectors.EVENT_READ if handlers[0] else 0) | (
            selectors.EVENT_WRITE if handlers[1] else 0
        )
        if fd in self._handlers and not mask:
            del self._handlers[fd]
            self._selector.unregister(fd)
        elif fd in self._handlers:
            self._handlers[fd] = handlers
            self._selector.modify(fd, mask, fd)
        elif mask:
            self._handlers[fd] = handlers
            self._selector.register(fd, mask, fd)

    def wait(self, timeout: float | None) -> list[Event]:
        """Sleep until an event arrives or ``timeout`` passes; returns the queued events."""
        if not self._events:
            for key, mask in self._selector.select(self._selector_timeout(timeout)):
                if key.data is None:
                    self._drain()
                    continue
                # An earlier callback may have closed this file: look its handlers up anew.
                reader = self._handlers.get(key.fd, (None, None))[0]
                if mask & selectors.EVENT_READ and reader is not None:
                    reader()
                writer = self._handlers.get(key.fd, (None, None))[1]
                if mask & selectors.EVENT_WRITE and writer is not None:
                    writer()
        events = []
        while self._events:
            events.append(self._events.popleft())
        return events

    @staticmethod
    def _selector_timeout(timeout: float | None) -> float | None:
        """What to ask the selector for, so that the loop wakes by ``timeout``, not after it.

        Whole milliseconds, rounded down; a wait shorter than a millisecond is slept here
        (events arriving meanwhile wait that long) and the selector only looks.
        """
        if timeout is None:
            return None
        if timeout < SELECTOR_RESOLUTION:
            if timeout > 0:
                time.sleep(timeout)
            return 0.0
        steps = math.floor(min(timeout, MAX_WAIT) / SELECTOR_RESOLUTION)
        return steps * SELECTOR_RESOLUTION

    def _drain(self) -> None:
        try:
            while os.read(self._read_fd, 4096):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Release the pipe and selector; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._selector.close()
        os.close(self._read_fd)
        os.close(self._write_fd)

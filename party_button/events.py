"""The daemon's single event queue, woken through a self-pipe.

Hardware callbacks, signal handlers and the control socket only :meth:`EventQueue.put`
events; the main loop waits in :meth:`EventQueue.wait` and handles them one by one.
``put`` takes no lock that the main thread could hold, so it is safe in a signal handler.
"""

from __future__ import annotations

import collections
import contextlib
import os
import selectors
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Something that happened: ``kind`` names it, ``data`` carries the details."""

    kind: str
    data: Any = None
    at: float = 0.0
    reply: Callable[[dict[str, Any]], None] | None = field(default=None, compare=False)


class EventQueue:
    """A thread- and signal-safe event queue that the main loop can sleep on."""

    def __init__(self) -> None:
        self._events: collections.deque[Event] = collections.deque()
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._read_fd, selectors.EVENT_READ, None)
        self._closed = False

    def put(self, event: Event) -> None:
        """Queue ``event`` and wake the main loop."""
        self._events.append(event)
        # A full pipe wakes the loop anyway; a closed one means the loop has ended.
        with contextlib.suppress(OSError):
            os.write(self._write_fd, b"\0")

    def add_reader(self, fileobj: Any, callback: Callable[[], None]) -> None:
        """Call ``callback`` from :meth:`wait` whenever ``fileobj`` is readable."""
        self._selector.register(fileobj, selectors.EVENT_READ, callback)

    def remove_reader(self, fileobj: Any) -> None:
        """Stop watching ``fileobj``."""
        self._selector.unregister(fileobj)

    def wait(self, timeout: float | None) -> list[Event]:
        """Sleep until an event arrives or ``timeout`` passes; returns the queued events."""
        if not self._events:
            for key, _mask in self._selector.select(timeout):
                if key.data is None:
                    self._drain()
                else:
                    key.data()
        events = []
        while self._events:
            events.append(self._events.popleft())
        return events

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

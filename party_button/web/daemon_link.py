"""The web service's one line to the daemon: a shared ``watch`` stream and short commands.

However many browsers are open, the service holds one ``watch`` connection and fans each
line out to its :class:`Subscriber`\\ s, each with a bounded queue: a browser that does not
keep up is dropped (it reconnects and starts from the whole state), never waited for.
Commands use short connections, at most :data:`MAX_COMMANDS` at once, so the daemon's
per-process limit (8 connections) is never reached. When the daemon is not there the link
says so to every subscriber and tries again, every :data:`RETRY_SECONDS` at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from party_button.control.client import CLIENT_TIMEOUT, MAX_ANSWER_LINE, decode_line
from party_button.control.watch import PROTOCOL_VERSION, STATE_FIELDS
from party_button.errors import ControlError

log = logging.getLogger(__name__)

MAX_COMMANDS = 4
"""Commands in flight at once (the daemon allows 8 connections from one process)."""
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0)
"""Waits between attempts to reach the daemon; the last repeats."""
QUEUE_LINES = 256
"""Messages waiting for one browser before it is dropped."""


RECONNECT = {"type": "reconnect"}
"""The last message of a stream that the service ends: the browser connects again."""


class DaemonDown(Exception):
    """The daemon cannot be reached, or hung up; the message says why."""


class Subscriber:
    """One browser's queue of messages; :attr:`dropped` once it fell behind or was ended."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LINES)
        self.dropped = False

    def offer(self, message: dict[str, Any]) -> None:
        """Queue ``message``, or drop this subscriber when its queue is full."""
        if self.dropped:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            log.info("dropped a browser that read too slowly")
            self.end()

    def end(self) -> None:
        """End this stream: its last message asks the browser to connect again."""
        self.dropped = True
        with contextlib.suppress(asyncio.QueueEmpty):
            self.queue.get_nowait()  # room for the last message
        self.queue.put_nowait(RECONNECT)


class DaemonLink:
    """The daemon at ``socket_path``: its state as last seen, a stream, commands."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.state: dict[str, Any] | None = None  # every state field, while connected
        self.problem = "connecting to the daemon"
        self._subscribers: set[Subscriber] = set()
        self._commands = asyncio.Semaphore(MAX_COMMANDS)
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[Any] = []

    @property
    def up(self) -> bool:
        """Whether the watch stream is connected."""
        return self.state is not None

    def start(self) -> None:
        """Start following the daemon (in the running event loop)."""
        self._task = asyncio.get_running_loop().create_task(self._follow())

    async def close(self) -> None:
        """Stop following; safe to call twice."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def on_message(self, listener: Any) -> None:
        """Call ``listener(message)`` for every message, before the subscribers get it."""
        self._listeners.append(listener)

    # -- subscribers ----------------------------------------------------------------------

    def subscribe(self) -> Subscriber:
        """A new subscriber, whose queue starts with the whole state (or the link's)."""
        subscriber = Subscriber()
        subscriber.offer(self.link_message())
        if self.state is not None:
            subscriber.offer(self.full_state())
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget ``subscriber``."""
        self._subscribers.discard(subscriber)

    def end_streams(self) -> None:
        """End every subscriber's stream (the service is shutting down)."""
        for subscriber in list(self._subscribers):
            subscriber.end()

    @property
    def subscribers(self) -> int:
        """How many browsers follow the stream."""
        return len(self._subscribers)

    def publish(self, message: dict[str, Any]) -> None:
        """Hand ``message`` to every listener and subscriber."""
        for listener in self._listeners:
            listener(message)
        for subscriber in list(self._subscribers):
            subscriber.offer(message)

    def full_state(self) -> dict[str, Any]:
        """The daemon's whole state as a first ``state`` line."""
        assert self.state is not None
        return {"v": PROTOCOL_VERSION, "type": "state", "changed": list(STATE_FIELDS), **self.state}

    def link_message(self) -> dict[str, Any]:
        """Whether the service reaches the daemon, as a ``link`` message."""
        return {"type": "link", "daemon": self.up, "problem": None if self.up else self.problem}

    # -- the watch stream ------------------------------------------------------------------

    async def _follow(self) -> None:
        attempt = 0
        while True:
            try:
                await self._watch()
                problem = "the daemon ended the stream"
            except DaemonDown as exc:
                problem = str(exc)
            was_up = self.up
            self.state = None
            if was_up or problem != self.problem:
                log.warning("daemon: %s", problem)
                self.problem = problem
                self.publish(self.link_message())
            attempt = 0 if was_up else attempt + 1
            await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])

    async def _watch(self) -> None:
        reader, writer = await self._connect()
        try:
            writer.write(b"watch\n")
            first = await self._line(reader, CLIENT_TIMEOUT)
            if first.get("ok") is False:
                raise DaemonDown(f"the daemon refused to be watched: {first.get('error')}")
            self.state = {name: first.get(name) for name in STATE_FIELDS}
            log.info("daemon: watching %s", self.socket_path)
            self.publish(self.link_message())
            self.publish(first)
            while True:
                message = await self._line(reader, None)
                if message.get("type") == "state":
                    self.state.update(
                        (name, message[name]) for name in STATE_FIELDS if name in message
                    )
                self.publish(message)
                if message.get("event") == "stopping":
                    return
        finally:
            writer.close()

    # -- commands --------------------------------------------------------------------------

    async def command(self, name: str) -> dict[str, Any]:
        """Send ``name`` (press, stop, next, hold, status) and return the daemon's answer."""
        async with self._commands:
            reader, writer = await self._connect()
            try:
                writer.write(name.encode() + b"\n")
                return await self._line(reader, CLIENT_TIMEOUT)
            finally:
                writer.close()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.wait_for(
                asyncio.open_unix_connection(str(self.socket_path), limit=MAX_ANSWER_LINE),
                CLIENT_TIMEOUT,
            )
        except (FileNotFoundError, ConnectionRefusedError):
            raise DaemonDown(
                f"the party-button daemon is not running (nothing listens on {self.socket_path})"
            ) from None
        except PermissionError:
            raise DaemonDown(
                f"permission denied on {self.socket_path}: the web service's user must be in "
                "the socket's group"
            ) from None
        except (OSError, TimeoutError) as exc:
            raise DaemonDown(f"cannot reach the daemon: {exc}") from None

    async def _line(self, reader: asyncio.StreamReader, timeout: float | None) -> dict[str, Any]:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout)
        except TimeoutError:
            raise DaemonDown(f"the daemon did not answer within {timeout:g} s") from None
        except (OSError, ValueError) as exc:  # ValueError: a line over the limit
            raise DaemonDown(f"lost the connection to the daemon: {exc}") from None
        if not line:
            raise DaemonDown("the daemon hung up")
        try:
            return decode_line(self.socket_path, line)
        except ControlError as exc:
            raise DaemonDown(str(exc)) from None

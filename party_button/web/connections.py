"""How many connections the page holds, and for how long: no guest can take them all.

The page listens through :class:`Gate`, a protocol factory around aiohttp's own. Each
connection is counted for its source (an IPv4 address or an IPv6 /64, one host's share):

* a source may hold :data:`PER_SOURCE` connections; one more is answered ``503`` with a
  one-line JSON reason and closed, before anything of it is read: after
  :data:`REFUSAL_DELAY`, so that a client that opens again at once is refused once a second
  instead of keeping the loop busy (while at most :data:`MAX_DELAYED` refusals wait; more
  are refused at once);
* all sources together may hold :func:`connection_cap` (below the process's descriptor
  limit, so that ``accept()`` never runs out and files can still be opened); when that is
  reached, a new connection from a source with fewer connections closes the oldest
  connection of the source that holds the most, so that a guest always gets in while one
  host holds many idle connections;
* aiohttp closes a connection that has not sent a whole request within
  :data:`IDLE_SECONDS` of opening or of its last answer (slow headers and idle keep-alive
  alike); bodies have their own timeouts where they are read.

Refusals are logged once a minute per kind with a count, and so are the event loop's
``accept()`` errors (:func:`quiet_accept_errors`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from party_button.log_limit import RateLimitedLog
from party_button.web.auth import prefix_of

log = logging.getLogger(__name__)

IDLE_SECONDS = 10.0
"""A connection without a whole request for this long (headers included) is closed."""
PER_SOURCE = 64
"""Connections one source (an IPv4 address, an IPv6 /64) may hold."""
MAX_CONNECTIONS = 1000
"""Connections in all, at most; fewer when the descriptor limit is low."""
SPARE_DESCRIPTORS = 256
"""Descriptors kept for what is not a connection: songs, uploads, checks, the daemon."""
RETRY_SECONDS = 10
REFUSAL_DELAY = 1.0
"""Seconds a refused connection waits for its ``503``."""
MAX_DELAYED = 256
"""Refused connections kept waiting at once (each holds a descriptor, within the unit's
limit: :data:`MAX_CONNECTIONS` and :data:`SPARE_DESCRIPTORS` leave more than this free)."""


def connection_cap() -> int:
    """Connections in all: :data:`MAX_CONNECTIONS`, or fewer to stay within the process's
    limit of open descriptors (``LimitNOFILE=`` of the unit)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, soft - SPARE_DESCRIPTORS))


def refusal_bytes(reason: str) -> bytes:
    """A whole ``503`` answer saying ``reason``, for a connection that is not served."""
    body = json.dumps({"ok": False, "error": reason}).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Retry-After: {RETRY_SECONDS}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class _Counted(asyncio.Protocol):
    """One connection: aiohttp's handler behind a count, or a refusal."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.inner: Any = None
        self.transport: asyncio.Transport | None = None
        self.source = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.source = prefix_of(str(peer[0])) if peer else "unknown"
        if (reason := self.gate.admit(self)) is not None:
            self.gate.refuse(transport, reason)  # type: ignore[arg-type]
            return
        self.inner = self.gate.factory()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is not None:
            self.gate.left(self)
            self.inner.connection_lost(exc)


class Gate:
    """The protocol factory the page listens with: ``factory`` (aiohttp's server) behind
    the limits above."""

    def __init__(self, factory: Callable[[], Any], cap: int | None = None) -> None:
        self.factory = factory
        self.cap = connection_cap() if cap is None else cap
        self.refusals = RateLimitedLog(log)
        self._by_source: dict[str, OrderedDict[_Counted, None]] = {}
        self.count = 0
        self.delayed = 0

    def __call__(self) -> _Counted:
        return _Counted(self)

    def admit(self, connection: _Counted) -> str | None:
        """Count ``connection`` in, or say why it is refused."""
        mine = self._by_source.setdefault(connection.source, OrderedDict())
        if len(mine) >= PER_SOURCE:
            self.refusals.warning(
                "per source",
                "web: refused a connection from %s: it holds %d",
                connection.source,
                len(mine),
            )
            return f"too many connections from your address ({PER_SOURCE} at most); try again later"
        if self.count >= self.cap:
            biggest = max(self._by_source.values(), key=len)
            if len(biggest) <= len(mine) + 1:
                self.refusals.warning(
                    "all",
                    "web: refused a connection from %s: %d are open",
                    connection.source,
                    self.count,
                )
                return f"too many connections ({self.cap} at most); try again later"
            oldest = next(iter(biggest))
            self.refusals.warning(
                "evicted",
                "web: closed the oldest connection of %s for one of %s",
                oldest.source,
                connection.source,
            )
            self.left(oldest)
            if oldest.transport is not None:
                oldest.transport.abort()
        mine[connection] = None
        self.count += 1
        return None

    def refuse(self, transport: asyncio.Transport, reason: str) -> None:
        """Answer ``503`` with ``reason`` and close, after :data:`REFUSAL_DELAY` while fewer
        than :data:`MAX_DELAYED` refusals wait, else at once."""
        if self.delayed >= MAX_DELAYED:
            _answer(transport, reason)
            return
        self.delayed += 1
        transport.pause_reading()

        def answer() -> None:
            self.delayed -= 1
            _answer(transport, reason)

        asyncio.get_running_loop().call_later(REFUSAL_DELAY, answer)

    def left(self, connection: _Counted) -> None:
        """``connection`` is closed (or being closed): it no longer counts."""
        mine = self._by_source.get(connection.source)
        if mine is not None and connection in mine:
            del mine[connection]
            self.count -= 1
            if not mine:
                del self._by_source[connection.source]


def _answer(transport: asyncio.Transport, reason: str) -> None:
    """Write the ``503`` saying ``reason`` and close, unless the client has gone already."""
    if not transport.is_closing():
        transport.write(refusal_bytes(reason))
        transport.close()


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> RateLimitedLog:
    """Log the loop's ``accept()`` errors (out of descriptors) once a minute with a count,
    without a traceback; other errors as before. The log, to be flushed now and then."""
    limited = RateLimitedLog(log)

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        if message.startswith("socket.accept()"):
            exc = context.get("exception")
            limited.warning("accept", "web: %s: %s", message, getattr(exc, "strerror", exc))
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
    return limited

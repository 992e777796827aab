"""Following the daemon's watch stream from an adapter, across daemon restarts.

:class:`WatchFollower` keeps one watch connection in a thread of its own and hands each
message to a callback; when the daemon stops, restarts or is not there yet it tries again
with a growing pause, and says so once with ``on_lost``. An adapter (the MQTT bridge, a
web service) never waits for the daemon, and the daemon never waits for an adapter.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from party_button.control.client import WatchConnection
from party_button.errors import ControlError

log = logging.getLogger(__name__)

FIRST_RETRY = 0.1  # seconds before the first new attempt
LAST_RETRY = 2.0  # the longest pause between two attempts


class WatchFollower:
    """Calls ``on_message`` with each watch message of the daemon at ``path``.

    The first message after each (re)connection is the daemon's whole state. ``on_lost``
    gets the reason once when a followed stream ends. Both run in the follower's thread.
    """

    def __init__(
        self,
        path: Path,
        on_message: Callable[[dict[str, Any]], None],
        on_lost: Callable[[str], None],
        *,
        first_retry: float = FIRST_RETRY,
        last_retry: float = LAST_RETRY,
    ) -> None:
        self.path = path
        self.on_message = on_message
        self.on_lost = on_lost
        self.first_retry = first_retry
        self.last_retry = last_retry
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._connection: WatchConnection | None = None
        self._thread = threading.Thread(target=self._follow, name="watch-follower")

    def start(self) -> None:
        """Start following."""
        self._thread.start()

    def _follow(self) -> None:
        pause = self.first_retry
        failures = 0
        while not self._stop.is_set():
            try:
                connection = WatchConnection(self.path)
                with self._lock:
                    if self._stop.is_set():
                        connection.close()
                        return
                    self._connection = connection
                reason = self._read(connection)
                pause = self.first_retry
                failures = 0
                if not self._stop.is_set():
                    log.warning("lost the daemon's watch stream: %s", reason)
                    self.on_lost(reason)
            except ControlError as exc:
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(level, "cannot watch the daemon (retrying): %s", exc)
            self._stop.wait(pause)
            pause = min(pause * 2, self.last_retry)

    def _read(self, connection: WatchConnection) -> str:
        """Hand on each message until the stream ends; why it ended."""
        try:
            with connection:
                for message in connection:
                    self.on_message(message)
                    if message.get("event") == "stopping":
                        return "the daemon is stopping"
            return "the daemon closed the stream"
        except ControlError as exc:
            return str(exc)
        finally:
            with self._lock:
                self._connection = None

    def close(self) -> None:
        """Stop following and wait for the thread; safe to call twice."""
        with self._lock:
            self._stop.set()
            if self._connection is not None:
                self._connection.close()
        if self._thread.is_alive():
            self._thread.join()

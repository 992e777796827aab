"""Repeated refusals and errors in the log at most once a minute per kind, with a count.

A guest who sends two thousand wrong requests must not write two thousand log lines: the
first of each kind is logged at once, the rest of that minute are counted, and the next one
logged says how many were left out (``... (and 1999 more like it in the last 60 s)``).
:meth:`RateLimitedLog.flush` logs the counts whose minute is over, for a caller that has a
moment to spare (a timer, a loop's idle turn), so that a burst's count is never lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

EVERY = 60.0
"""Seconds between two log lines of one kind."""


@dataclass
class _Kind:
    logged_at: float
    left_out: int = 0
    level: int = logging.WARNING


class RateLimitedLog:
    """Logs to ``logger``, one line of each kind each :data:`EVERY` seconds at most."""

    def __init__(
        self,
        logger: logging.Logger,
        every: float = EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.every = every
        self.clock = clock
        self._kinds: dict[str, _Kind] = {}

    def log(self, level: int, kind: str, message: str, *args: object) -> bool:
        """Log ``message % args`` unless a ``kind`` was logged less than a minute ago;
        whether it was logged (else it is counted, and shown at debug level)."""
        now = self.clock()
        seen = self._kinds.get(kind)
        if seen is not None and now - seen.logged_at < self.every:
            seen.left_out += 1
            seen.level = max(seen.level, level)
            self.logger.debug(message, *args)
            return False
        left_out = seen.left_out if seen is not None else 0
        self._kinds[kind] = _Kind(now, level=level)
        if left_out:
            message += " (and %d more like it in the last %.0f s)"
            args = (*args, left_out, now - (seen.logged_at if seen else now))
        self.logger.log(level, message, *args)
        return True

    def warning(self, kind: str, message: str, *args: object) -> bool:
        """:meth:`log` at ``WARNING``."""
        return self.log(logging.WARNING, kind, message, *args)

    def info(self, kind: str, message: str, *args: object) -> bool:
        """:meth:`log` at ``INFO``."""
        return self.log(logging.INFO, kind, message, *args)

    def flush(self) -> None:
        """Log how many of each kind were left out, for the kinds whose minute is over."""
        now = self.clock()
        for kind, seen in list(self._kinds.items()):
            if now - seen.logged_at < self.every:
                continue
            if seen.left_out:
                self.logger.log(
                    seen.level,
                    "%s: %d more in the %.0f s after the last one logged",
                    kind,
                    seen.left_out,
                    now - seen.logged_at,
                )
            del self._kinds[kind]

"""Relay guards: whatever a light show asks for, a mechanical relay is switched safely.

A :class:`RelayGuard` sits between the wanted level of one relay channel and the level that is
actually driven. It is pure: every method takes the current time ``now`` (monotonic seconds)
explicitly, so tests drive it with a fake clock.

- **Minimum switching interval**: a change asked for sooner than ``min_interval`` after the
  last switch is deferred; :meth:`~RelayGuard.next_deadline` says when it may happen.
- **Maximum on-time**: on-time adds up until the channel has been off for a whole
  ``rest_time``. When it reaches ``max_on_time`` the channel is forced off and refuses to
  switch on until it has rested ``rest_time`` (a fog machine's heater, a hot lamp).
- **Off always wins**: :meth:`~RelayGuard.force_off` is honoured at once, whatever the limits.

Example::

    >>> guard = RelayGuard(min_interval=0.25)
    >>> guard.request(True, now=10.0), guard.request(False, now=10.1)
    (True, True)
    >>> guard.next_deadline(10.1), guard.update(10.25)
    (10.25, False)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

# Times closer than this count as equal, so a deadline computed as ``a + b`` is met at itself.
_EPSILON = 1e-9


class RelayLimits(Protocol):
    """The safety settings of one relay channel (``RelayConfig`` of the config has them)."""

    @property
    def name(self) -> str: ...

    @property
    def min_interval(self) -> float: ...

    @property
    def max_on_time(self) -> float | None: ...

    @property
    def rest_time(self) -> float: ...


class RelayGuard:
    """Enforces the switching limits of one relay channel; starts with the relay off."""

    def __init__(
        self, min_interval: float, max_on_time: float | None = None, rest_time: float = 30.0
    ) -> None:
        self.min_interval = min_interval
        self.max_on_time = max_on_time
        self.rest_time = rest_time
        self._on = False
        self._wanted = False
        self._last_switch: float | None = None
        self._on_since = 0.0
        self._off_since: float | None = None
        self._on_time_used = 0.0

    @classmethod
    def for_relay(cls, relay: RelayLimits) -> RelayGuard:
        """A guard with the limits of ``relay``."""
        return cls(relay.min_interval, relay.max_on_time, relay.rest_time)

    @property
    def is_on(self) -> bool:
        """The level the relay should be driven at now."""
        return self._on

    @property
    def wanted(self) -> bool:
        """The level last asked for."""
        return self._wanted

    def request(self, on: bool, now: float) -> bool:
        """Ask for ``on``; returns the level to drive now (the change may be deferred)."""
        self._wanted = on
        return self.update(now)

    def update(self, now: float) -> bool:
        """Carry out what is due at ``now`` (a cut-off, a deferred change); returns the level."""
        cutoff = self._cutoff()
        if self._on and cutoff is not None and now + _EPSILON >= cutoff:
            self._switch(False, now)
            return self._on
        if self._wanted != self._on and now + _EPSILON >= self._earliest_switch():
            self._switch(self._wanted, now)
        return self._on

    def force_off(self, now: float) -> None:
        """Switch off at once, bypassing the minimum interval; the relay then stays off."""
        self._wanted = False
        if self._on:
            self._switch(False, now)

    def resting_until(self) -> float | None:
        """When a rest after reaching ``max_on_time`` ends, or ``None`` if not resting."""
        if self.max_on_time is None or self._off_since is None:
            return None
        if self._on_time_used + _EPSILON < self.max_on_time:
            return None
        return self._off_since + self.rest_time

    def next_deadline(self, now: float) -> float | None:
        """The next time after ``now`` at which :meth:`update` would change the level."""
        deadlines = []
        cutoff = self._cutoff()
        if self._on and cutoff is not None:
            deadlines.append(cutoff)
        if self._wanted != self._on:
            deadlines.append(self._earliest_switch())
        later = [deadline for deadline in deadlines if deadline > now]
        return min(later) if later else None

    def _cutoff(self) -> float | None:
        if self.max_on_time is None:
            return None
        return self._on_since + self.max_on_time - self._on_time_used

    def _earliest_switch(self) -> float:
        earliest = -float("inf") if self._last_switch is None else self._last_switch
        earliest += self.min_interval
        rest_end = self.resting_until()
        if self._wanted and rest_end is not None:
            earliest = max(earliest, rest_end)
        return earliest

    def _switch(self, on: bool, now: float) -> None:
        if on:
            if self._off_since is not None and now + _EPSILON >= self._off_since + self.rest_time:
                self._on_time_used = 0.0
            self._on_since = now
        else:
            self._on_time_used += now - self._on_since
            self._off_since = now
        self._on = on
        self._last_switch = now


def guards_for(relays: Iterable[RelayLimits]) -> dict[str, RelayGuard]:
    """One fresh guard per relay, keyed by the relay's name, in the given order."""
    return {relay.name: RelayGuard.for_relay(relay) for relay in relays}

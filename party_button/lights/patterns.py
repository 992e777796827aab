"""Light patterns: the on/off state of some relays as a pure function of the playback position.

Every pattern answers two questions for a position ``t`` in seconds and an optional beat grid:
:meth:`~Pattern.states` (which of its relays are on at ``t``) and :meth:`~Pattern.next_change`
(the first position after ``t`` where that answer changes, or ``None`` when it never does), so
a runner can sleep exactly until the next cue instead of polling.

States are piecewise constant and hold on ``[change, next change)``. Clock patterns (blink,
chase, sparkle) count from their ``origin``; beat patterns follow the grid's absolute
positions. Without a beat grid (or with an empty one) every beat pattern holds all of its
relays steadily on, so the lights still do something sensible until the song is analysed.

Example::

    >>> blink = Blink(("beacon",), rate_hz=2.0)
    >>> blink.states(0.3, None), blink.next_change(0.3, None)
    ({'beacon': False}, 0.5)
"""

from __future__ import annotations

import bisect
import hashlib
import math
from dataclasses import dataclass
from typing import Protocol

# Positions closer than this count as equal, so that a change computed as ``k * period`` is
# seen at that very position despite float rounding.
_EPSILON = 1e-9

# Beat patterns are checked against relay limits as if the song played at this tempo, in 4/4.
# Faster songs stay safe: the relay guard holds back any change that comes too soon.
CHECK_TEMPO_BPM = 120.0
CHECK_BEATS_PER_BAR = 4

# How many sparkle slots :meth:`Sparkle.next_change` looks ahead for a change.
_SPARKLE_LOOKAHEAD = 10_000


class BeatGridLike(Protocol):
    """What the patterns need of a beat grid: a tempo and the sorted beat positions."""

    @property
    def tempo_bpm(self) -> float: ...

    @property
    def beats(self) -> tuple[float, ...]: ...

    @property
    def downbeats(self) -> tuple[float, ...]: ...


class Pattern(Protocol):
    """The interface every pattern implements."""

    @property
    def relays(self) -> tuple[str, ...]:
        """The relays this pattern drives, in order."""
        ...

    def states(self, t: float, grid: BeatGridLike | None) -> dict[str, bool]:
        """Whether each of :attr:`relays` is on at position ``t``."""
        ...

    def next_change(self, t: float, grid: BeatGridLike | None) -> float | None:
        """The first position after ``t`` where :meth:`states` changes; ``None`` if never."""
        ...

    def shortest_switch(self) -> float | None:
        """The shortest time between two switches of one relay (beat patterns at
        :data:`CHECK_TEMPO_BPM`); ``None`` when a relay never switches."""
        ...


def _slot(t: float, origin: float, length: float) -> tuple[int, float]:
    """The index of the ``length``-long slot holding ``t`` and how far into it (0..1) it is."""
    x = (t - origin) / length
    index = math.floor(x + _EPSILON)
    return index, max(0.0, x - index)


def _all(relays: tuple[str, ...], on: bool) -> dict[str, bool]:
    return dict.fromkeys(relays, on)


def _has_beats(grid: BeatGridLike | None, downbeats: bool = False) -> bool:
    if grid is None or grid.tempo_bpm <= 0:
        return False
    return bool(grid.downbeats if downbeats else grid.beats)


def _last_at_or_before(positions: tuple[float, ...], t: float) -> int:
    """The index of the last position ``<= t`` (``-1`` when ``t`` is before all of them)."""
    return bisect.bisect_right(positions, t + _EPSILON) - 1


@dataclass(frozen=True)
class Steady:
    """Every relay on, all the time."""

    relays: tuple[str, ...]

    def states(self, t: float, grid: BeatGridLike | None) -> dict[str, bool]:
        return _all(self.relays, True)

    def next_change(self, t: float, grid: BeatGridLike | None) -> float | None:
        return None

    def shortest_switch(self) -> float | None:
        return None


# A strobe is a blink whose flashes are short.
STROBE_DUTY = 0.25


@dataclass(frozen=True)
class Blink:
    """All relays together: on for ``duty`` of each ``1 / rate_hz`` period, starting on."""

    relays: tuple[str, ...]
    rate_hz: float
    duty: float = 0.5
    origin: float = 0.0

    def states(self, t: float, grid: BeatGridLike | None) -> dict[str, bool]:
        _index, fraction = _slot(t, self.origin, 1.0 / self.rate_hz)
        return _all(self.relays, fraction + _EPSILON < self.duty)

    def next_change(self, t: float, grid: BeatGridLike | None) -> float | None:
        period = 1.0 / self.rate_hz
        index, fraction = _slot(t, self.origin, period)
        if fraction + _EPSILON < self.duty:
            return self.origin + (index + self.duty) * period
        return self.origin + (index + 1) * period

    def shortest_switch(self) -> float | None:
        return min(self.duty, 1.0 - self.duty) / self.rate_hz


@dataclass(frozen=True)
class Chase:
    """One relay at a time, moving along :attr:`relays` every ``1 / rate_hz`` seconds."""

    relays: tuple[str, ...]
    rate_hz: float
    origin: float = 0.0

    def states(self, t: float, grid: BeatGridLike | None) -> dict[str, bool]:
        index, _fraction = _slot(t, self.origin, 1.0 / self.rate_hz)
        lit = self.relays[index % len(self.relays)]
        return {name: name == lit for name in self.relays}

    def next_change(self, t: float, grid: BeatGridLike | None) -> float | None:
        if len(self.relays) < 2:
            return None
        index, _fraction = _slot(t, self.origin, 1.0 / self.rate_hz)
        return self.origin + (index + 1) / self.rate_hz

    def shortest_switch(self) -> float | None:
        return 1.0 / self.rate_hz if len(self.relays) > 1 else None


@dataclass(frozen=True)
class Sparkle:
    """Random but reproducible: in each ``1 / rate_hz`` slot each relay is on with
    probability ``density``, decided by a hash of ``seed``, the relay's name and the slot."""

    relays: tuple[str, ...]
    rate_hz: float
    density: float = 0.5
    seed: int = 0
    origin: float = 0.0

    def _lit(self, name: str, index: int) -> bool:
        digest = hashlib.blake2b(f"{self.seed}/{name}/{index}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2.0**64 < self.density

    def _slot_states(self, index: int) -> dict[str, bool]:
        return {name: self._lit(name, index) for name in self.relays}

    def states(self, t: float, grid: BeatGridLike | None) -> dict[str, bool]:
        index, _fraction = _slot(t, self.origin, 1.0 / self.rate_hz)
        return self._slot_states(index)

    def next_change(self, t: float, grid: BeatGridLike | None) -> float | None:
        if not 0.0 < self.density < 1.0:
            return None
        index, _fraction = _slot(t, self.origin, 1.0 / self.rate_hz)
        now = self._slot_states(index)
        for ahead in range(index + 1, index + 1 + _SPARKLE_LOOKAHEAD):
            if self._slot_states(ahead) != now:
                return self.origin + ahead / self.rate_hz
        # So long without a change is practically impossible; waking once more is harmless.
        return self.origin + (index + 1 + _SPARKLE_LOOKAHEAD) / self.rate_hz

    def shortest_switch(self) -> float | None:
        return 1.0 / self.rate_hz


@dataclass(frozen=True)
class BeatFlash:
    """A flash on every ``every``-th beat (or bar downbeat), from the ``offset``-th one on.

    A flash lasts ``length`` of a beat (``60 / tempo_bpm``), but never more than ``length``
    of the gap to the next flash, so flashes never merge.
    """

    relays: tuple[str, ...]
    every: int = 1
    offset: int = 0
    length: float = 0.5
    downbeats: bool = False

    def _positions(self, grid: BeatGridLike) -> tuple[float, ...]:
        return grid.downbeats if self.downbeats else grid.beats

    def _flash(self, grid: BeatGridLike, t: float) -> tuple[float | None, float, float | None]:
        """The start and end of the last flash starting at or before ``t`` (start ``None``
        when there is none), and the start of the flash after it."""
        positions = self._positions(grid)
        index = _last_at_or_before(positions, t)
        if index < self.offset:
            first = positions[self.offset] if self.offset < len(positions) else None
            return None, -math.inf, first
        index -= (index - self.offset) % self.every
        start = positions[index]
        following = index + self.every
        upcoming = positions[following] if following < len(positions) else None
        end = start + self.length * 60.0 / grid.tempo_bpm
        if upcoming is not None:
            end = min(end, start + self.length * (upcoming - start))
        return start, end, upcoming

    def states(self, t: float, grid: BeatGridLike | None) -> dict[str, bool]:
        if grid is None or not _has_beats(grid, self.downbeats):
            return _all(self.relays, True)
        start, end, _upcoming = self._flash(grid, t)
        return _all(self.relays, start is not None and t + _EPSILON < end)

    def next_change(self, t: float, grid: BeatGridLike | None) -> float | None:
        if grid is None or not _has_beats(grid, self.downbeats):
            return None
        start, end, upcoming = self._flash(grid, t)
        if start is not None and t + _EPSILON < end:
            return end
        return upcoming

    def shortest_switch(self) -> float | None:
        beat = 60.0 / CHECK_TEMPO_BPM
        period = self.every * beat * (CHECK_BEATS_PER_BAR if self.downbeats else 1)
        on = self.length * beat
        return min(on, period - on)


@dataclass(frozen=True)
class Alternate:
    """Sides take turns on the beat: side 0 for ``every`` beats, then side 1, and so on.

    Everything is off before the first beat; the last turn holds after the last beat.
    """

    sides: tuple[tuple[str, ...], ...]
    every: int = 1

    @property
    def relays(self) -> tuple[str, ...]:
        return tuple(name for side in self.sides for name in side)

    def states(self, t: float, grid: BeatGridLike | None) -> dict[str, bool]:
        if grid is None or not _has_beats(grid):
            return _all(self.relays, True)
        index = _last_at_or_before(grid.beats, t)
        lit = -1 if index < 0 else (index // self.every) % len(self.sides)
        return {name: number == lit for number, side in enumerate(self.sides) for name in side}

    def next_change(self, t: float, grid: BeatGridLike | None) -> float | None:
        if grid is None or not _has_beats(grid):
            return None
        index = _last_at_or_before(grid.beats, t)
        following = 0 if index < 0 else (index // self.every + 1) * self.every
        return grid.beats[following] if following < len(grid.beats) else None

    def shortest_switch(self) -> float | None:
        return self.every * 60.0 / CHECK_TEMPO_BPM if len(self.sides) > 1 else None

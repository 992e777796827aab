"""Shows: named sets of patterns over time, and which show plays in which phase of a party.

A :class:`Show` is a list of :class:`Step`; each step runs one pattern on some relays within
an optional time window. A relay is driven by at most one step at a time (the config check
makes sure), and every relay that no step drives is off. After a show's ``duration`` (if it
has one) everything is off.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath

from party_button.lights.patterns import BeatGridLike, Pattern
from party_button.lights.relay_guard import RelayLimits
from party_button.phase import Phase

# The phases that have a show, and the show that plays in each unless ``show_for`` names
# another one.
DEFAULT_SHOW_FOR: dict[Phase, str] = {
    Phase.INTRO: "intro",
    Phase.PARTY: "party",
    Phase.ENDING: "ending",
}

# How many candidate positions :meth:`Show.next_change_after` tries before giving up and
# returning the last one (a harmless extra wake-up).
_SEARCH_LIMIT = 10_000


@dataclass(frozen=True)
class Step:
    """One pattern, active on ``[start, stop)`` seconds of the show (``stop=None``: no end)."""

    pattern: Pattern
    start: float = 0.0
    stop: float | None = None

    @property
    def relays(self) -> tuple[str, ...]:
        """The relays this step drives."""
        return self.pattern.relays

    def is_active(self, t: float) -> bool:
        """Whether ``t`` lies in the step's window."""
        return self.start <= t and (self.stop is None or t < self.stop)

    def next_change(self, t: float, grid: BeatGridLike | None) -> float | None:
        """The next position after ``t`` where this step's states may change."""
        if t < self.start:
            return self.start
        if self.stop is not None and t >= self.stop:
            return None
        change = self.pattern.next_change(t, grid)
        if self.stop is not None and (change is None or change > self.stop):
            return self.stop
        return change

    def overlaps(self, other: Step) -> bool:
        """Whether the two windows share some time."""
        self_stop = float("inf") if self.stop is None else self.stop
        other_stop = float("inf") if other.stop is None else other.stop
        return self.start < other_stop and other.start < self_stop


@dataclass(frozen=True)
class Show:
    """A named show: its steps and an optional duration in seconds."""

    name: str
    steps: tuple[Step, ...]
    duration: float | None = None

    def states(self, t: float, grid: BeatGridLike | None) -> dict[str, bool]:
        """Which relays the show wants on at ``t``; relays of no active step are absent."""
        wanted: dict[str, bool] = {}
        if self.duration is not None and t >= self.duration:
            return wanted
        for step in self.steps:
            if step.is_active(t):
                wanted.update(step.pattern.states(t, grid))
        return {name: True for name, on in wanted.items() if on}

    def next_change(self, t: float, grid: BeatGridLike | None) -> float | None:
        """The first position after ``t`` where :meth:`states` differs, ``None`` if never."""
        current = self.states(t, grid)
        candidate = t
        for _attempt in range(_SEARCH_LIMIT):
            candidate_or_none = self._next_candidate(candidate, grid)
            if candidate_or_none is None:
                return None
            candidate = candidate_or_none
            if self.states(candidate, grid) != current:
                return candidate
        return candidate

    def _next_candidate(self, t: float, grid: BeatGridLike | None) -> float | None:
        if self.duration is not None and t >= self.duration:
            return None
        changes = [step.next_change(t, grid) for step in self.steps]
        if self.duration is not None:
            changes.append(self.duration)
        later = [change for change in changes if change is not None and change > t]
        return min(later) if later else None


@dataclass(frozen=True)
class LightsConfig:
    """Everything the light shows need: relays, groups, shows and which show plays when."""

    relays: tuple[RelayLimits, ...]
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    shows: Mapping[str, Show] = field(default_factory=dict)
    show_for: Mapping[Phase, str] = field(default_factory=lambda: dict(DEFAULT_SHOW_FOR))
    song_shows: tuple[tuple[str, str], ...] = ()

    @property
    def relay_names(self) -> tuple[str, ...]:
        """Every relay's name, in config order."""
        return tuple(relay.name for relay in self.relays)

    def show_name_for(self, phase: Phase, song: str | None = None) -> str:
        """The show for ``phase``; during the party the first ``song_shows`` pattern that
        matches the song's file name wins."""
        if phase is Phase.PARTY and song is not None:
            file_name = PurePath(song).name
            for pattern, show_name in self.song_shows:
                if fnmatch.fnmatchcase(file_name, pattern):
                    return show_name
        return self.show_for[phase]

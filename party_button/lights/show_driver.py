"""Drives the relays from the light show of the current party phase.

The daemon tells the driver when a phase begins (:meth:`ShowDriver.start`), where its
playback position comes from (the mixer during a song, the clock otherwise), and calls
:meth:`ShowDriver.update` whenever it wakes. :meth:`ShowDriver.next_wakeup` tells it when
the next cue or guard deadline is due, so nothing polls between cues.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from party_button.lights.patterns import BeatGridLike
from party_button.lights.relay_guard import RelayLimits, guards_for
from party_button.lights.runner import LightShow
from party_button.lights.shows import LightsConfig
from party_button.phase import Phase


class ShowDriver:
    """Plays one phase's show at a time through relay guards that outlive every show."""

    def __init__(
        self,
        lights: LightsConfig,
        relays: Sequence[RelayLimits],
        switch: Callable[[str, bool], None],
    ) -> None:
        self.lights = lights
        self.guards = guards_for(relays)
        self.show: LightShow | None = None
        self.phase: Phase | None = None
        self.song: Path | None = None
        self._switch = switch
        self._position: Callable[[], float] = lambda: 0.0
        self._driven: dict[str, bool] = {}
        self._applied_at = 0.0

    def start(
        self,
        phase: Phase,
        position: Callable[[], float],
        now: float,
        *,
        song: Path | None = None,
        grid: BeatGridLike | None = None,
    ) -> None:
        """Begin ``phase``'s show (for ``song``), following ``position``; switches at once."""
        self.phase, self.song, self._position = phase, song, position
        self.show = LightShow.for_phase(
            self.lights, phase, song.name if song else None, grid=grid, guards=self.guards
        )
        self.update(now)

    def grid_found(self, song: Path, grid: BeatGridLike, now: float) -> None:
        """A beat grid arrived: the song's show switches to it without missing a beat."""
        if self.show is not None and self.phase is Phase.PARTY and self.song == song:
            self.start(Phase.PARTY, self._position, now, song=song, grid=grid)

    def update(self, now: float) -> None:
        """Drive every relay to what the show (through its guard) wants now."""
        if self.show is None:
            return
        self._applied_at = self._position()
        levels = self.show.apply(self.show.states_at(self._applied_at), now)
        for name, on in levels.items():
            if self._driven.get(name) != on:
                self._switch(name, on)
                self._driven[name] = on

    def next_wakeup(self, now: float) -> float | None:
        """The monotonic time of the next cue or guard deadline, if any.

        The cue is the next change after the position last applied, so a cue that the
        playback has reached since then is due at once, never skipped.
        """
        if self.show is None:
            return None
        wakes = []
        cue = self.show.next_change_after(self._applied_at)
        if cue is not None:
            wakes.append(now + (cue - self._position()))
        deadline = self.show.next_deadline(now)
        if deadline is not None:
            wakes.append(deadline)
        return min(wakes) if wakes else None

    def stop(self, now: float) -> None:
        """End the show: every relay off at once, whatever the guards' limits."""
        for guard in self.guards.values():
            guard.force_off(now)
        for name in self.guards:
            self._switch(name, False)
            self._driven[name] = False
        self.show = self.phase = self.song = None

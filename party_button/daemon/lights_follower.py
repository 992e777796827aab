"""The lights follower: starts the light show of each party phase as the party moves on.

The show of the party phase follows the song's playback position (and its beat grid); the
intro's and the ending's follow the clock from the moment their phase began. Where the song
is heard later than it starts (several rooms: the Snapcast stream's buffer), the party's show
starts when its first sample is heard, and the show before it (the intro's, or relays off)
goes on until then.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from party_button.daemon.conductor import Conductor
from party_button.lights.show_driver import ShowDriver
from party_button.phase import Phase

_SHOWN = (Phase.INTRO, Phase.PARTY, Phase.ENDING)


class LightsFollower:
    """Drives ``driver`` with the show of the phase the party is in."""

    def __init__(
        self, driver: ShowDriver, conductor: Conductor, clock: Callable[[], float]
    ) -> None:
        self.driver = driver
        self.conductor = conductor
        self.clock = clock
        self._following: tuple[Phase, Path | None] | None = None
        self._phase_started = 0.0
        self._waiting: float | None = None  # when the party's song will be heard

    def follow(self, phase: Phase, now: float) -> None:
        """Start the show of ``phase`` when the phase (or the party's song) changed."""
        conductor = self.conductor
        song = (conductor.playing or conductor.player.prepared) if phase is Phase.PARTY else None
        # At the press the song is only prepared: its show starts with the relays.
        wanted = (phase, song) if phase in _SHOWN else None
        if wanted == self._following:
            return
        if phase is Phase.PARTY and self._not_heard_yet(now):
            return
        self._waiting = None
        self._following = wanted
        if wanted is None:
            self.driver.stop(now)
            return
        self._phase_started = now
        if phase is Phase.PARTY:
            playing = conductor.now_playing
            grid = playing.grid if playing else conductor.prepared_grid()
            self.driver.start(phase, self._song_position, now, song=song, grid=grid)
        else:
            self.driver.start(phase, self._phase_position, now)

    def _not_heard_yet(self, now: float) -> bool:
        """Whether the party's song is yet to be heard (:meth:`next_wakeup` says when)."""
        conductor = self.conductor
        if not conductor.heard_later():
            return False
        heard = conductor.heard_at()
        self._waiting = heard if heard is not None and heard > now else None
        return self._waiting is not None

    def next_wakeup(self, now: float) -> float | None:
        """When the show has something to do: its next cue, or the song being heard."""
        wakes = [self.driver.next_wakeup(now), self._waiting]
        pending = [wake for wake in wakes if wake is not None]
        return min(pending) if pending else None

    def stop(self, now: float) -> None:
        """Every relay off at once: the party is over."""
        self.driver.stop(now)
        self._following = None
        self._waiting = None

    def _phase_position(self) -> float:
        """Seconds since the current light-show phase began."""
        return self.clock() - self._phase_started

    def _song_position(self) -> float:
        """The mixer's playback position while music plays; the phase's clock otherwise."""
        player = self.conductor.player
        if player.is_playing():
            return player.position()
        return self._phase_position()

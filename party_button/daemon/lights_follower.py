"""The lights follower: starts the light show of each party phase as the party moves on.

The show of the party phase follows the song's playback position (and its beat grid); the
intro's and the ending's follow the clock from the moment their phase began.
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

    def follow(self, phase: Phase, now: float) -> None:
        """Start the show of ``phase`` when the phase (or the party's song) changed."""
        conductor = self.conductor
        song = (conductor.playing or conductor.player.prepared) if phase is Phase.PARTY else None
        # At the press the song is only prepared: its show starts with the relays.
        wanted = (phase, song) if phase in _SHOWN else None
        if wanted == self._following:
            return
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

    def stop(self, now: float) -> None:
        """Every relay off at once: the party is over."""
        self.driver.stop(now)
        self._following = None

    def _phase_position(self) -> float:
        """Seconds since the current light-show phase began."""
        return self.clock() - self._phase_started

    def _song_position(self) -> float:
        """The mixer's playback position while music plays; the phase's clock otherwise."""
        player = self.conductor.player
        if player.is_playing():
            return player.position()
        return self._phase_position()

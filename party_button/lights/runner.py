"""The show runner: what the relays should do at a playback position, through their guards.

A :class:`LightShow` plays one show (chosen by name, or by party phase and song) against an
optional beat grid. It keeps no clock of its own: cues follow the *playback position* the
caller passes, so lights and music never drift apart, and the relay guards get the caller's
monotonic ``now``. A daemon loop looks like::

    show = LightShow.for_phase(lights, Phase.PARTY, song="track.ogg", grid=grid, guards=guards)
    while playing:
        position, now = player.position(), time.monotonic()
        drive(show.apply(show.states_at(position), now))
        cue = show.next_change_after(position)            # a playback position
        wakes = [now + (cue - position)] if cue is not None else []
        deadline = show.next_deadline(now)                # a monotonic time
        wakes += [deadline] if deadline is not None else []
        sleep_until(min(wakes))                           # or until an event arrives
    drive(show.force_off(time.monotonic()))

Guards belong to the relays, not to a show: pass the same ``guards`` to the show of every
phase (and to a show rebuilt once a beat grid arrives), so minimum intervals and fog rests
carry over.
"""

from __future__ import annotations

from collections.abc import Mapping

from party_button.lights.patterns import BeatGridLike
from party_button.lights.relay_guard import RelayGuard, guards_for
from party_button.lights.shows import LightsConfig, Show
from party_button.phase import Phase

Timeline = list[tuple[float, dict[str, bool]]]


class LightShow:
    """One show of ``lights`` playing against ``grid`` (``None``: beat patterns hold steady).

    :param guards: the relay guards to switch through, keyed by relay name; fresh ones from
        the relays' limits when omitted.
    :raises KeyError: when ``show`` is not one of ``lights.shows``.
    """

    def __init__(
        self,
        lights: LightsConfig,
        show: str,
        *,
        grid: BeatGridLike | None = None,
        guards: Mapping[str, RelayGuard] | None = None,
    ) -> None:
        if show not in lights.shows:
            raise KeyError(f"unknown show {show!r}")
        self.lights = lights
        self.show: Show = lights.shows[show]
        self.grid = grid
        self.guards: Mapping[str, RelayGuard] = (
            guards if guards is not None else guards_for(lights.relays)
        )

    @classmethod
    def for_phase(
        cls,
        lights: LightsConfig,
        phase: Phase,
        song: str | None = None,
        *,
        grid: BeatGridLike | None = None,
        guards: Mapping[str, RelayGuard] | None = None,
    ) -> LightShow:
        """The show that ``lights`` plays in ``phase`` (for the song file ``song``)."""
        return cls(lights, lights.show_name_for(phase, song), grid=grid, guards=guards)

    @property
    def name(self) -> str:
        """The show's name."""
        return self.show.name

    @property
    def duration(self) -> float | None:
        """How long the show lasts, or ``None`` when it runs until stopped."""
        return self.show.duration

    def fresh(self) -> LightShow:
        """The same show with new guards, as if no relay had switched yet."""
        return LightShow(self.lights, self.show.name, grid=self.grid)

    def states_at(self, position: float) -> dict[str, bool]:
        """The level the show wants for every relay at playback ``position``."""
        wanted = self.show.states(position, self.grid)
        return {name: wanted.get(name, False) for name in self.lights.relay_names}

    def next_change_after(self, position: float) -> float | None:
        """The first playback position after ``position`` where :meth:`states_at` changes."""
        return self.show.next_change(position, self.grid)

    def apply(self, desired: Mapping[str, bool], now: float) -> dict[str, bool]:
        """Pass ``desired`` (absent relays: off) through the guards at monotonic ``now``;
        returns the level every relay should be driven at."""
        return {
            name: guard.request(desired.get(name, False), now)
            for name, guard in self.guards.items()
        }

    def next_deadline(self, now: float) -> float | None:
        """The next monotonic time at which a guard changes a level on its own (a deferred
        switch, a max-on-time cut-off, the end of a rest); call :meth:`apply` again then."""
        deadlines = [guard.next_deadline(now) for guard in self.guards.values()]
        pending = [deadline for deadline in deadlines if deadline is not None]
        return min(pending) if pending else None

    def force_off(self, now: float) -> dict[str, bool]:
        """Every relay off at once, whatever the guards' limits; returns the levels to drive."""
        for guard in self.guards.values():
            guard.force_off(now)
        return {name: guard.is_on for name, guard in self.guards.items()}


def simulate(show: LightShow, until: float) -> Timeline:
    """What the relays of a fresh copy of ``show`` do from position 0 to ``until``, with the
    playback position following the clock: each ``(time, levels)`` where a level changes."""
    runner = show.fresh()
    timeline: Timeline = []
    now = 0.0
    while True:
        levels = runner.apply(runner.states_at(now), now)
        if not timeline or levels != timeline[-1][1]:
            timeline.append((now, levels))
        wakes = [runner.next_change_after(now), runner.next_deadline(now)]
        later = [wake for wake in wakes if wake is not None and wake > now]
        if not later or min(later) > until:
            return timeline
        now = min(later)

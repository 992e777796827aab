"""The logic of a party: reading the button and the party state machine.

Nothing here does I/O or reads a clock: every method takes ``now`` (seconds, monotonic)
and returns what should happen, so the logic runs the same under a fake clock in tests.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from party_button.config.schema import AudioConfig, Config, PartyConfig
from party_button.phase import Phase


class Input(enum.Enum):
    """What the button (or the control socket) asks for."""

    PRESS = "press"
    HOLD = "hold"
    STOP = "stop"
    NEXT = "next"


class ButtonReader:
    """Turns raw button edges into presses and holds.

    An edge within ``bounce_time`` of the last accepted edge is contact chatter: it is
    not acted on, but remembered, so that when the contacts settle the reader follows
    the level they settled at. Keeping the button down for ``hold_time`` is a hold.
    :meth:`deadline` tells the caller when to call :meth:`tick`.
    """

    def __init__(self, bounce_time: float, hold_time: float) -> None:
        self.bounce_time = bounce_time
        self.hold_time = hold_time
        self._down = False
        self._raw = False
        self._raw_at = float("-inf")
        self._last_edge = float("-inf")
        self._settle_at: float | None = None
        self._hold_at: float | None = None

    @property
    def is_down(self) -> bool:
        """Whether the button is (debounced) pressed."""
        return self._down

    def edge(self, pressed: bool, now: float) -> Input | None:
        """Feed one raw edge; returns ``PRESS`` when it is a real press."""
        self._raw, self._raw_at = pressed, now
        if now - self._last_edge < self.bounce_time:
            self._settle_at = self._last_edge + self.bounce_time
            return None
        return self._accept(pressed, now)

    def _accept(self, pressed: bool, at: float) -> Input | None:
        """Take the level ``pressed`` as real, from the raw edge at ``at``."""
        if pressed == self._down:
            return None
        self._last_edge = at
        self._down = pressed
        if pressed:
            self._hold_at = at + self.hold_time
            return Input.PRESS
        self._hold_at = None
        return None

    def deadline(self) -> float | None:
        """When the contacts settle or a hold would be detected, whichever is first."""
        pending = [d for d in (self._settle_at, self._hold_at) if d is not None]
        return min(pending) if pending else None

    def tick(self, now: float) -> Input | None:
        """Returns ``PRESS`` if the contacts settled pressed, ``HOLD`` after ``hold_time``."""
        if self._settle_at is not None and now >= self._settle_at:
            self._settle_at = None
            settled = self._accept(self._raw, self._raw_at)
            if settled is not None:
                return settled
        if self._hold_at is not None and now >= self._hold_at:
            self._hold_at = None
            return Input.HOLD
        return None


class Do(enum.Enum):
    """An action for the daemon to carry out, in the order given."""

    RELAYS_ON = "relays on"
    RELAYS_OFF = "relays off"
    PLAY_INTRO = "play intro"
    PLAY_SONG = "play song"
    NEXT_SONG = "next song"
    RESTART_SONG = "restart song"
    FADE_OUT = "fade out"
    STOP_AUDIO = "stop audio"
    PREPARE_NEXT = "prepare next"


@dataclass(frozen=True)
class Rules:
    """The party rules from the config, in the machine's terms (by default, the config's)."""

    on_press: str = PartyConfig.on_press
    cooldown: float = PartyConfig.cooldown
    max_duration: float | None = PartyConfig.max_duration
    has_intro: bool = False
    ending_time: float = AudioConfig.fade_out

    @classmethod
    def from_config(cls, config: Config) -> Rules:
        """The rules of ``config``: the party ends once the music faded and the ending show
        is over."""
        ending_show = config.lights.shows[config.lights.show_name_for(Phase.ENDING)]
        return cls(
            on_press=config.party.on_press,
            cooldown=config.party.cooldown,
            max_duration=config.party.max_duration,
            has_intro=config.party.intro_sound is not None,
            ending_time=max(config.audio.fade_out, ending_show.duration or 0.0),
        )


class PartyMachine:
    """The party state machine: idle, intro, party, ending, cooldown.

    >>> machine = PartyMachine(Rules())
    >>> [action.value for action in machine.handle(Input.PRESS, now=0.0)]
    ['relays on', 'play song']
    >>> machine.phase
    <Phase.PARTY: 'party'>
    """

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.phase = Phase.IDLE
        self.started_at: float | None = None
        self._phase_deadline: float | None = None

    def deadline(self) -> float | None:
        """The next time :meth:`tick` has something to do."""
        deadlines = [self._phase_deadline]
        if self.phase in (Phase.INTRO, Phase.PARTY) and self.rules.max_duration is not None:
            assert self.started_at is not None
            deadlines.append(self.started_at + self.rules.max_duration)
        pending = [deadline for deadline in deadlines if deadline is not None]
        return min(pending) if pending else None

    def next_phase(self) -> tuple[Phase, float | None] | None:
        """The phase that follows this one and when (``None``: when a sound ends or a press
        comes); ``None`` when idle."""
        if self.phase is Phase.IDLE:
            return None
        if self.phase is Phase.COOLDOWN:
            return Phase.IDLE, self._phase_deadline
        if self.phase is Phase.ENDING:
            after = Phase.COOLDOWN if self.rules.cooldown > 0 else Phase.IDLE
            return after, self._phase_deadline
        limit = self.deadline()  # the party's max_duration, if any
        if self.phase is Phase.INTRO and limit is None:
            return Phase.PARTY, None
        return Phase.ENDING, limit

    def handle(self, signal: Input, now: float) -> list[Do]:
        """React to a press, a hold, a stop or a skip request."""
        if signal is Input.HOLD:
            return self._panic(now)
        if signal is Input.STOP:
            return self._end(now) if self.phase in (Phase.INTRO, Phase.PARTY) else []
        if signal is Input.NEXT:
            return self._skip(now)
        if self.phase is Phase.IDLE:
            return self._start(now)
        if self.phase in (Phase.INTRO, Phase.PARTY):
            return self._press_during_party(now)
        return []  # ending or cooldown: an accidental press is swallowed

    def intro_ended(self, now: float) -> list[Do]:
        """The intro sound finished: the song starts."""
        if self.phase is not Phase.INTRO:
            return []
        self.phase = Phase.PARTY
        return [Do.PLAY_SONG]

    def song_ended(self, now: float) -> list[Do]:
        """The song (or the fallback sound) finished: the party ends."""
        if self.phase is not Phase.PARTY:
            return []
        return self._end(now, fade=False)

    def tick(self, now: float) -> list[Do]:
        """Carry out whatever deadline has passed."""
        if self.phase in (Phase.INTRO, Phase.PARTY):
            limit = self.rules.max_duration
            if limit is not None and self.started_at is not None and now >= self.started_at + limit:
                return self._end(now)
            return []
        if self._phase_deadline is None or now < self._phase_deadline:
            return []
        if self.phase is Phase.ENDING:
            return self._finish(now, [Do.STOP_AUDIO, Do.RELAYS_OFF, Do.PREPARE_NEXT])
        if self.phase is Phase.COOLDOWN:
            self.phase = Phase.IDLE
            self._phase_deadline = None
        return []

    def _start(self, now: float) -> list[Do]:
        self.started_at = now
        if self.rules.has_intro:
            self.phase = Phase.INTRO
            return [Do.RELAYS_ON, Do.PLAY_INTRO]
        self.phase = Phase.PARTY
        return [Do.RELAYS_ON, Do.PLAY_SONG]

    def _press_during_party(self, now: float) -> list[Do]:
        action = self.rules.on_press
        if action == "stop":
            return self._end(now)
        if action == "ignore":
            return []
        if self.phase is Phase.INTRO:
            # "next" and "restart" both cut the intro short and start the song.
            return self.intro_ended(now)
        return [Do.NEXT_SONG] if action == "next" else [Do.RESTART_SONG]

    def _skip(self, now: float) -> list[Do]:
        """The next song, whatever ``on_press`` says; the intro is cut short."""
        if self.phase is Phase.INTRO:
            return self.intro_ended(now)
        return [Do.NEXT_SONG] if self.phase is Phase.PARTY else []

    def _end(self, now: float, *, fade: bool = True) -> list[Do]:
        self.phase = Phase.ENDING
        self._phase_deadline = now + self.rules.ending_time
        return [Do.FADE_OUT] if fade else []

    def _panic(self, now: float) -> list[Do]:
        if self.phase in (Phase.IDLE, Phase.COOLDOWN):
            return []
        return self._finish(now, [Do.STOP_AUDIO, Do.RELAYS_OFF, Do.PREPARE_NEXT])

    def _finish(self, now: float, actions: list[Do]) -> list[Do]:
        self.started_at = None
        if self.rules.cooldown > 0:
            self.phase = Phase.COOLDOWN
            self._phase_deadline = now + self.rules.cooldown
        else:
            self.phase = Phase.IDLE
            self._phase_deadline = None
        return actions

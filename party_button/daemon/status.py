"""What the daemon tells the world about itself: the status LED, the status line, watchers.

:class:`StatusBoard` reads the parts it is given and never changes them: the LED shows idle,
party or fault; ``systemctl status`` gets one line; watchers of the control socket get a
state line when something they see changed, and an event line for each press or reload.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from party_button.control.server import ControlServer
from party_button.control.watch import StateFeed, event_message
from party_button.daemon.conductor import Conductor
from party_button.daemon.party import PartyMachine
from party_button.daemon.reload import Reloader
from party_button.gpio.devices import PartyHardware
from party_button.media.snapcast import SnapcastPlayer
from party_button.names import printable
from party_button.phase import Phase
from party_button.systemd import Notifier

log = logging.getLogger(__name__)

_PHASE_TEXT = {
    Phase.INTRO: "partying: intro",
    Phase.ENDING: "party ending",
    Phase.COOLDOWN: "cooling down",
}


@dataclass(frozen=True)
class Snapshot:
    """What the daemon is doing, for status displays."""

    phase: str
    relays: dict[str, bool]
    playing: str | None
    position: float
    audio: str
    songs: int


class StatusBoard:
    """The LED, the status line and the watch stream of one daemon.

    The parts that the daemon makes anew (the state machine, the pins, the control socket)
    are reached through the callables ``machine``, ``hardware`` and ``control``.
    """

    def __init__(
        self,
        conductor: Conductor,
        reloader: Reloader,
        notifier: Notifier,
        clock: Callable[[], float],
        *,
        machine: Callable[[], PartyMachine],
        hardware: Callable[[], PartyHardware | None],
        control: Callable[[], ControlServer | None],
        on_change: Callable[[Snapshot], None] | None = None,
    ) -> None:
        self.conductor, self.reloader = conductor, reloader
        self.notifier, self.clock = notifier, clock
        self.machine, self.hardware, self.control = machine, hardware, control
        self.on_change = on_change
        self.feed = StateFeed()
        self._phase = Phase.IDLE

    def text(self) -> str:
        """One line for ``systemctl status``: "idle, 42 songs", "partying: song.ogg", ..."""
        conductor, reloader = self.conductor, self.reloader
        phase = self.machine().phase
        if phase is Phase.IDLE:
            text = f"idle, {len(conductor.library)} songs"
            if not conductor.library.complete:
                text += " found so far"
        elif phase is Phase.PARTY:
            playing = conductor.playing
            text = f"partying: {printable(playing.name) if playing else 'silence'}"
        else:
            text = _PHASE_TEXT[phase]
        notes = [text]
        if not conductor.player.is_open:
            notes.append("audio device missing, retrying")
        if reloader.pending is not None:
            notes.append("new configuration waits for the party to end")
        if reloader.error is not None:
            notes.append(f"reload failed ({reloader.error}), previous configuration kept")
        return "; ".join(notes)

    def snapshot(self) -> Snapshot:
        """What the daemon is doing right now."""
        conductor, hardware = self.conductor, self.hardware()
        playing = conductor.playing
        return Snapshot(
            phase=self.machine().phase.value,
            relays=hardware.relay_states() if hardware else {},
            playing=printable(playing.name) if playing else None,
            position=conductor.player.position() if playing else 0.0,
            audio=conductor.audio_status,
            songs=len(conductor.library),
        )

    def status(self) -> dict[str, Any]:
        """The snapshot plus the status line and the config in use, as JSON-ready data."""
        return {
            **dataclasses.asdict(self.snapshot()),
            "status": self.text(),
            "config": str(self.conductor.config.path),
            "reload_pending": self.reloader.pending is not None,
            "reload_error": self.reloader.error,
            "length": playing.length if (playing := self.conductor.now_playing) else None,
            "next_phase": self._next_phase(),
            "stream": self._stream(),
        }

    def _stream(self) -> dict[str, Any] | None:
        """The Snapcast stream the songs go into (a sync leader's), or None."""
        audio = getattr(self.conductor.player, "audio", None)
        return audio.stream_status() if isinstance(audio, SnapcastPlayer) else None

    def _next_phase(self) -> dict[str, Any] | None:
        """The phase that comes next and in how many seconds (None: when a sound ends)."""
        coming = self.machine().next_phase()
        if coming is None:
            return None
        phase, deadline = coming
        left = None if deadline is None else round(max(0.0, deadline - self.clock()), 1)
        return {"phase": phase.value, "in": left}

    def show_led(self) -> None:
        """The status LED: blinks fast without audio, shines during a party, else pulses."""
        hardware = self.hardware()
        if hardware is None:
            return
        if not self.conductor.player.is_open:
            hardware.show_status("fault")
        elif self.machine().phase in (Phase.INTRO, Phase.PARTY, Phase.ENDING):
            hardware.show_status("party")
        else:
            hardware.show_status("idle")

    def publish(self) -> None:
        """Log a phase change and tell systemd, the display and the watchers."""
        phase = self.machine().phase
        if phase is not self._phase:
            log.info("phase %s -> %s", self._phase.value, phase.value, extra={"PHASE": phase.value})
            self._phase = phase
        self.notifier.status(self.text())
        if self.on_change is not None:
            self.on_change(self.snapshot())
        self.publish_state()

    def publish_state(self) -> None:
        """Send watchers a state line when something they see has changed."""
        control = self.control()
        if control is not None and control.watching:
            message = self.feed.changes(self.status())
            if message is not None:
                control.publish(message)

    def announce(self, event: str, **details: Any) -> None:
        """Send watchers an event line."""
        control = self.control()
        if control is not None and control.watching:
            control.publish(event_message(event, **details))

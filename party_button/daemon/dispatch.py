"""The dispatcher: feeds the state machine its inputs and deadlines, and carries out its actions.

Presses and holds come from the button (through the
:class:`~party_button.daemon.party.ButtonReader`) or from the control socket; the
:class:`~party_button.daemon.party.PartyMachine` answers each with a list of
:class:`~party_button.daemon.party.Do`, which the dispatcher hands to the conductor (sound),
the lights follower (shows) and the pins (relays off).
"""

from __future__ import annotations

import functools
import logging
import pwd
from collections.abc import Callable, Iterable
from typing import Any

from party_button.config.schema import Config
from party_button.control.follow import FollowOrder
from party_button.control.protocol import Peer
from party_button.daemon.conductor import Conductor
from party_button.daemon.lights_follower import LightsFollower
from party_button.daemon.party import ButtonReader, Do, Input, PartyMachine, Rules
from party_button.daemon.status import StatusBoard
from party_button.gpio.devices import PartyHardware
from party_button.names import printable
from party_button.phase import Phase

log = logging.getLogger(__name__)

# How often a running party looks at the mixer to notice the end of a sound.
PARTY_POLL_INTERVAL = 0.05
_BUTTON = {"source": "button"}
_LEADER = {"source": "leader"}
_PLAYING = (Phase.INTRO, Phase.PARTY)


class Dispatcher:
    """Between the daemon's inputs, its state machine and its parts.

    It owns the state machine, the button reader and the lights follower (made anew by
    :meth:`configure`); the pins are the daemon's, reached through ``hardware``.
    """

    def __init__(
        self,
        conductor: Conductor,
        board: StatusBoard,
        clock: Callable[[], float],
        hardware: Callable[[], PartyHardware | None],
    ) -> None:
        self.conductor, self.board, self.clock, self.hardware = conductor, board, clock, hardware
        self.machine: PartyMachine
        self.reader: ButtonReader
        self.lights: LightsFollower
        self.linked_until = float("-inf")  # while linked, presses and skips go to the leader
        self._ended_here: int | None = None  # the leader's song whose party this room ended

    def configure(self, config: Config, lights: LightsFollower) -> None:
        """Take ``config``'s rules and button timing, and ``lights`` for its shows."""
        self.machine = PartyMachine(Rules.from_config(config))
        self.reader = ButtonReader(config.button.bounce_time, config.button.hold_time)
        self.lights = lights

    def open_audio(self) -> None:
        """Open the audio device (or plan a retry) and show on the LED whether it works."""
        self.conductor.open_audio()
        self.board.show_led()

    # -- inputs ------------------------------------------------------------------------------

    def edge(self, pressed: bool, at: float) -> None:
        """A raw edge of the button."""
        signal_in = self.reader.edge(pressed, at)
        if signal_in is not None:
            self._input(signal_in, at, _BUTTON)

    def request(self, signal_in: Input, peer: Peer | None) -> dict[str, Any]:
        """A press, stop or next from the control socket; returns the answer."""
        acted = self._input(signal_in, self.clock(), self.source_of(peer))
        if signal_in is Input.NEXT and not acted:
            return {"ok": False, "error": "nothing to skip: no song is playing"}
        return {"ok": True}

    @staticmethod
    def source_of(peer: Peer | None) -> dict[str, Any]:
        """Who sent a command: the control socket's client, by uid and pid when known."""
        if peer is not None:
            return {"source": "control", "uid": peer.uid, "pid": peer.pid}
        return {"source": "control"}

    def _input(self, signal_in: Input, now: float, source: dict[str, Any]) -> list[Do]:
        """Hand a press, hold, stop or next from ``source`` to the state machine (a press or
        a skip while linked to a leader goes to the leader only: its sync service sends it)."""
        before = self.machine.phase
        who = source["source"]
        extra = {"EVENT": signal_in.value, "SOURCE": source["source"]}
        if "uid" in source:
            who += f", uid {source['uid']} ({user_name(source['uid'])}) pid {source['pid']}"
        log.info("%s (%s) during %s", signal_in.value, who, before.value, extra=extra)
        self.board.announce(signal_in.value, during=before.value, **source)
        if source is not _LEADER and now < self.linked_until:
            if signal_in in (Input.PRESS, Input.NEXT):
                log.info(
                    "%s handed to the leader: the party starts when it is heard here",
                    signal_in.value,
                )
                return []
            if self.conductor.leader_song is not None:
                self._ended_here = self.conductor.leader_song.id
        actions = self.machine.handle(signal_in, now)
        if not actions and before in (Phase.ENDING, Phase.COOLDOWN):
            log.info("%s ignored during %s", signal_in.value, before.value)
        if signal_in is Input.HOLD and actions:
            log.info("panic stop: button held")
        self.do(actions, now)
        return actions

    def follow(self, order: FollowOrder, now: float) -> dict[str, Any]:
        """The leader's party, as this room's sync service orders it: start it (at the right
        place in the song, its show when its first sample is heard here), follow its next
        song, end it; and stay linked to the leader for ``order.lease`` seconds. An order that
        keeps the grid of a play not followed here is refused with ``send_grid``."""
        before, playing = self.conductor.leader_song, self.conductor.now_playing
        if order.same_grid:
            if before is None or before.id != order.id:
                return {
                    "ok": False,
                    "error": f"follow: same_grid: play {order.id} is not followed here",
                    "send_grid": True,
                }
            order = order.with_grid_of(before)
        if not self.conductor.follow(order):
            return {"ok": False, "error": "follow: this daemon is no sync room (sync.role)"}
        self.linked_until = now + order.lease
        phase = self.machine.phase
        same = before is not None and before.id == order.id and playing is not None
        if order.song is None:
            self._ended_here = None
            if phase in _PLAYING:
                self._input(Input.STOP, now, _LEADER)
        elif order.id == self._ended_here:
            return {"ok": True, "followed": False}  # ended here by this room's own stop
        elif phase is Phase.IDLE:
            self._input(Input.PRESS, now, _LEADER)
            if self.machine.phase is Phase.INTRO:  # the leader's song is heard already
                self._input(Input.NEXT, now, _LEADER)
        elif phase in _PLAYING and not same:
            self._input(Input.NEXT, now, _LEADER)
        else:
            self.do([], now)
        return {"ok": True, "followed": self.machine.phase in _PLAYING}

    def _followed_until(self) -> float | None:
        """When a party that follows the leader ends unless a new order comes."""
        playing = self.machine.phase in _PLAYING and self.conductor.leader_song is not None
        return self.linked_until if playing else None

    def grid(self) -> dict[str, Any]:
        """The beat grid of the song playing (``null`` without one)."""
        playing = self.conductor.now_playing
        grid = playing.grid if playing is not None else None
        if grid is None:
            return {"ok": True, "grid": None}
        return {
            "ok": True,
            "grid": {
                "tempo_bpm": grid.tempo_bpm,
                "beats": [round(beat, 4) for beat in grid.beats],
                "downbeats": [round(beat, 4) for beat in grid.downbeats],
                "beats_per_bar": grid.beats_per_bar,
            },
        }

    # -- deadlines ---------------------------------------------------------------------------

    def next_wakeup(self, now: float, *others: float | None) -> float | None:
        """Seconds until the loop has something to do by itself (the party's deadlines and
        ``others``, the loop's own), or ``None`` to sleep."""
        conductor = self.conductor
        deadlines = [
            self.reader.deadline(),
            self.machine.deadline(),
            conductor.audio_retry_at,
            conductor.silent_until,
            self._followed_until(),
            self.lights.next_wakeup(now),
            *others,
        ]
        playing = self.machine.phase in (Phase.INTRO, Phase.PARTY)
        if playing and conductor.silent_until is None:
            deadlines.append(now + PARTY_POLL_INTERVAL)
        pending = [deadline for deadline in deadlines if deadline is not None]
        return max(0.0, min(pending) - now) if pending else None

    def timers(self, now: float) -> None:
        """Whatever is due: a hold, an audio retry, the end of the intro or of the song."""
        conductor, machine = self.conductor, self.machine
        held = self.reader.tick(now)
        if held is not None:
            self._input(held, now, _BUTTON)
        if conductor.audio_retry_at is not None and now >= conductor.audio_retry_at:
            self.open_audio()
        if self._followed_until() is not None and now >= self.linked_until:
            log.warning("no word from the sync service: the leader's party ends here")
            self._input(Input.STOP, now, _LEADER)
        phase = machine.phase
        if phase is Phase.INTRO and not conductor.player.effect_playing():
            self.do(machine.intro_ended(now), now)
        elif phase is Phase.PARTY and conductor.song_over(now):
            playing = conductor.playing
            log.info("party over: %s finished", printable(playing.name) if playing else "silence")
            self.do(machine.song_ended(now), now)
        self.do(machine.tick(now), now)

    # -- actions -----------------------------------------------------------------------------

    def do(self, actions: list[Do], now: float) -> None:
        """Carry out ``actions`` in order; then the lights follow the phase, the LED shows it."""
        for action in actions:
            self._act(action, now)
        self.lights.follow(self.machine.phase, now)
        self.board.show_led()

    def _act(self, action: Do, now: float) -> None:
        conductor, hardware = self.conductor, self.hardware()
        assert hardware is not None
        if action is Do.RELAYS_ON:
            if not conductor.heard_later():  # else once the song is started (end of do())
                self.lights.follow(self.machine.phase, now)
            _log_relays("party lights on", hardware.relays)
        elif action is Do.RELAYS_OFF:
            self.lights.stop(now)
            hardware.all_off()
            _log_relays("relays off", hardware.relays)
        elif action is Do.PLAY_INTRO:
            conductor.play_intro()
        elif action is Do.PLAY_SONG:
            conductor.play_song(now)
        elif action is Do.NEXT_SONG:
            conductor.next_song(now)
        elif action is Do.RESTART_SONG:
            conductor.restart_song(now)
        elif action is Do.FADE_OUT:
            conductor.fade_out()
        elif action is Do.STOP_AUDIO:
            conductor.stop()
        elif action is Do.PREPARE_NEXT:
            conductor.rescan()


def _log_relays(what: str, names: Iterable[str]) -> None:
    """``WHAT: lights`` once per relay, each with its own ``RELAY=`` journal field, so that
    ``journalctl RELAY=lights`` finds every switch of that relay."""
    for name in names:
        log.info("%s: %s", what, name, extra={"RELAY": name})


@functools.lru_cache(maxsize=64)
def user_name(uid: int) -> str:
    """The name of user ``uid`` (the web page's and MQTT bridge's services have their own),
    or ``unknown user``."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "unknown user"

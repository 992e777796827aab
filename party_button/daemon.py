"""The daemon: starts the devices, runs the event loop, and shuts down in reverse order.

Button edges, signals and commands arrive as events on one :class:`EventQueue`; the
loop hands them to :class:`ButtonReader` and :class:`PartyMachine` and carries out the
actions they return. Relays end off however the loop ends.

Under systemd the loop also reports readiness and status and pings the watchdog
(:mod:`party_button.systemd`), serves the control socket (:mod:`party_button.control`),
and reloads the configuration on ``SIGHUP``.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpiozero.pins import Factory

from party_button.audio import Player, PygamePlayer
from party_button.beat_worker import BeatWorker
from party_button.beats import BeatGrid
from party_button.config import Config, load_config
from party_button.control import ControlServer, Peer
from party_button.errors import AudioError, ConfigError, HardwareError, SongError, VideoError
from party_button.events import Event, EventQueue
from party_button.hardware import PartyHardware, make_pin_factory
from party_button.party import ButtonReader, Do, Input, PartyMachine, Phase, Rules
from party_button.playback import MediaPlayer
from party_button.show_driver import ShowDriver
from party_button.song_file import SongUnavailable, printable
from party_button.song_picker import Pick, SongPicker
from party_button.systemd import Notifier
from party_button.video import clip_player_from
from party_button.watch import StateFeed, event_message

log = logging.getLogger(__name__)

# Songs tried one after the other when each fails to load or start, before giving up for now.
PREPARE_ATTEMPTS = 8
# A song that stops this much (or 10 % of its length, if more) before the end its header
# gives is damaged after that point.
CUT_SHORT_SECONDS = 1.0
# Seconds a busy background thread (the songs library's scan) may keep the interpreter from
# the loop: CPython's default is 5 ms, too long for a loop that must answer a press at once.
LOOP_SWITCH_INTERVAL = 0.001
# How often a running party looks at the mixer to notice the end of a sound.
PARTY_POLL_INTERVAL = 0.05
# How long a party lasts when no sound at all can be played.
SILENT_PARTY_SECONDS = 30.0
# How many problems of a refused reload go to the log and the answer (check-config has all).
RELOAD_PROBLEMS_SHOWN = 20


@dataclass(frozen=True)
class Snapshot:
    """What the daemon is doing, for status displays."""

    phase: str
    relays: dict[str, bool]
    playing: str | None
    position: float
    audio: str
    songs: int


def rules_from(config: Config) -> Rules:
    """The state machine's rules for ``config``."""
    ending_show = config.lights.shows[config.lights.show_name_for("ending")]
    return Rules(
        on_press=config.party.on_press,
        cooldown=config.party.cooldown,
        max_duration=config.party.max_duration,
        has_intro=config.party.intro_sound is not None,
        ending_time=max(config.audio.fade_out, ending_show.duration or 0.0),
    )


def player_from(config: Config) -> PygamePlayer:
    """The pygame player for ``config``'s audio section."""
    return PygamePlayer(
        config.audio.device,
        sample_rate=config.audio.sample_rate,
        buffer_size=config.audio.buffer_size,
        volume=config.audio.volume,
    )


class Daemon:
    """One party button: hardware, audio, library and the state machine, run by one loop."""

    def __init__(
        self,
        config: Config,
        *,
        factory: Factory | None = None,
        player: Player | None = None,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[Snapshot], None] | None = None,
        notifier: Notifier | None = None,
        control_path: Path | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.events = EventQueue()
        self.factory = factory
        self._factory_owned = factory is None
        self._seed = seed
        self.library = self._new_library(config)
        self._configure(config)
        self._build_player(config, player)
        self.hardware: PartyHardware | None = None
        self.beats: BeatWorker | None = None
        self.notifier = notifier or Notifier()
        self.control_path = control_path
        self.control: ControlServer | None = None
        self._feed = StateFeed()
        self._pending: Config | None = None
        self._reload_error: str | None = None
        self._phase = self.machine.phase
        self.on_change = on_change
        self.audio_status = "not opened"
        self.playing: Path | None = None
        self._grid: BeatGrid | None = None
        self._prepared_grid: BeatGrid | None = None
        self._prepared_length: float | None = None
        self._playing_length: float | None = None
        self._heard = 0.0
        self._prepare_after: int | None = None
        self._song_wanted = False
        self._lights_phase: tuple[str, Path | None] | None = None
        self._phase_started = 0.0
        self._audio_retry_at: float | None = None
        self._silent_until: float | None = None
        self._running = False
        self._exit_code = 0

    # -- start-up and shutdown -------------------------------------------------------------

    def _configure(self, config: Config) -> None:
        """Take ``config``'s library, rules, button timing and light shows (not the pins).

        The library is kept (with what it has scanned) when its settings did not change.
        """
        if _library_settings(config) != _library_settings(self.config):
            self.library.close()
            self.library = self._new_library(config)
        self.config = config
        self.machine = PartyMachine(rules_from(config))
        self.reader = ButtonReader(config.button.bounce_time, config.button.hold_time)
        self.lights = ShowDriver(config.lights, config.relays, self._switch_relay)

    def _new_library(self, config: Config) -> SongPicker:
        """The songs library of ``config``, not started."""
        return SongPicker(
            config,
            seed=self._seed,
            on_change=lambda: self.events.put(Event("library")),
            on_no_grid=self._analyse,
            on_grid=lambda song, grid: self.events.put(Event("grid", (song, grid))),
        )

    def start(self) -> None:
        """Listen, claim the pins (relays off), open the audio and prepare the first song.

        The control socket comes first: a socket that cannot be made safely stops the start
        before any pin is touched. Its requests wait in the queue until the loop runs.
        """
        if self.control_path is not None:
            self.control = ControlServer(self.control_path, self.events, clock=self.clock)
        self._claim_pins()
        self._check_clips()
        self._open_audio()
        self.beats = BeatWorker(lambda song, grid: self.events.put(Event("grid", (song, grid))))
        # The library scans in its thread; nothing waits for it. The first song is prepared
        # when its first pass is over; a press before then plays what has been found so far.
        sys.setswitchinterval(min(sys.getswitchinterval(), LOOP_SWITCH_INTERVAL))
        self.library.start()
        log.info(
            "looking for songs in %s",
            ", ".join(printable(folder) for folder in self.config.songs.folders),
        )

    def _claim_pins(self) -> None:
        factory = self.factory or make_pin_factory(self.config.gpio.pin_factory)
        self.factory = factory
        self.hardware = PartyHardware(
            factory,
            self.config.button,
            self.config.relays,
            self.config.status_led,
            on_edge=lambda pressed: self.events.put(Event("edge", pressed, self.clock())),
        )
        log.info(
            "pins claimed on %s: button GPIO%d, relays %s",
            type(factory).__name__,
            self.config.button.pin,
            ", ".join(f"{r.name}=GPIO{r.pin}" for r in self.config.relays),
        )

    def _build_player(self, config: Config, audio: Player | None = None) -> None:
        """The player for ``config``: songs through ``audio`` (pygame), clips through mpv."""
        self.clips = clip_player_from(config)
        self.player: Player = MediaPlayer(
            audio or player_from(config), self.clips, lambda item: self.library.is_clip(item)
        )

    def _analyse(self, song: Path) -> None:
        """Give ``song`` (it has no current beat grid) to the beat worker."""
        if self.beats is not None:
            self.beats.submit(song)

    def _check_clips(self) -> None:
        if self.clips is None:
            return
        try:
            log.info("clips are shown by %s", self.clips.check())
        except VideoError as exc:
            self._clips_off(exc)
        else:
            self.library.use_clips(True)

    def _clips_off(self, reason: VideoError) -> None:
        log.error("%s; clips are off, songs only", reason)
        self.library.use_clips(False)

    def _open_audio(self) -> bool:
        try:
            self.audio_status = self.player.open()
        except AudioError as exc:
            if self._audio_retry_at is None:
                log.error(
                    "%s; lights keep working, audio retried every %gs",
                    exc,
                    self.config.audio.retry_interval,
                )
            else:
                log.debug("audio still missing: %s", exc)
            self.audio_status = f"audio device missing, retrying: {exc}"
            self._audio_retry_at = self.clock() + self.config.audio.retry_interval
            self._show_status()
            return False
        log.info("audio: %s", self.audio_status)
        self._audio_retry_at = None
        for sound in (self.config.party.intro_sound, self.config.party.fallback_sound):
            if sound is not None:
                self._load_effect(sound)
        self._prepare_after = 1  # once the first pass over the folders is over
        self._prepare_when_scanned()
        self._show_status()
        return True

    def _load_effect(self, sound: Path) -> None:
        try:
            self.player.load_effect(sound)
        except SongError as exc:
            log.warning("%s", exc)

    def close(self) -> None:
        """Drive every relay off, stop listening and the music, in reverse order of start-up."""
        try:
            self.library.close()
            if self.beats is not None:
                self.beats.close()
            if self.hardware is not None:
                self.hardware.all_off()
                states = self.hardware.relay_states()
                log.info(
                    "shutdown: %s",
                    ", ".join(f"{name} {'ON' if on else 'off'}" for name, on in states.items()),
                )
        finally:
            try:
                if self.control is not None:
                    self.control.close(farewell=event_message("stopping"))
                self.player.close()
            finally:
                if self.hardware is not None:
                    self.hardware.close()
                self.events.close()

    def run(self, *, install_signals: bool = True) -> int:
        """Start, loop until stopped, and always shut down; returns the exit code."""
        previous: dict[int, object] = {}
        try:
            if install_signals:
                for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    previous[signum] = signal.signal(signum, self._on_signal)
            self.start()
            # What start-up made lives as long as the daemon: full garbage collections skip
            # it, so that one never holds the loop for long (nor grows with the library).
            gc.freeze()
            self._running = True
            # Ready once the pins are claimed and the first attempt at the audio device is
            # done. A missing device is not fatal: the lights still party, STATUS says
            # "audio device missing, retrying", and the loop retries. Failing start-up
            # instead would make systemd restart a working light show over and over.
            self.notifier.ready(self.status_text())
            self._publish()
            while self._running:
                self.step()
        finally:
            self.notifier.stopping()
            self.close()
            gc.unfreeze()
            for signum, handler in previous.items():
                signal.signal(signum, handler)  # type: ignore[arg-type]
        return self._exit_code

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.events.put(Event("signal", signum))

    def request_stop(self) -> None:
        """Ask the loop to end (from any thread)."""
        self.events.put(Event("quit"))

    # -- the loop ----------------------------------------------------------------------------

    def next_wakeup(self, now: float) -> float | None:
        """Seconds until the loop has something to do by itself, or ``None`` to sleep."""
        deadlines = [
            self.reader.deadline(),
            self.machine.deadline(),
            self._audio_retry_at,
            self._silent_until,
            self.lights.next_wakeup(now),
        ]
        if self.machine.phase in (Phase.INTRO, Phase.PARTY) and self._silent_until is None:
            deadlines.append(now + PARTY_POLL_INTERVAL)
        deadlines.append(self.notifier.watchdog_deadline(now))
        if self.control is not None:
            deadlines.append(self.control.next_deadline())
        pending = [deadline for deadline in deadlines if deadline is not None]
        return max(0.0, min(pending) - now) if pending else None

    def step(self) -> None:
        """Wait for the next event or deadline and handle it."""
        events = self.events.wait(self.next_wakeup(self.clock()))
        for event in events:
            self.handle(event)
        if self.control is not None:
            self.control.tick(self.clock())
        self._timers(self.clock())
        self.lights.update(self.clock())
        if self._pending is not None and self.machine.phase is Phase.IDLE:
            self._apply_pending()
        self.notifier.watchdog(self.clock())
        self._publish()

    def handle(self, event: Event) -> None:
        """Handle one event; a control-socket event gets its answer."""
        answer: dict[str, Any] = {"ok": True}
        if event.kind == "edge":
            signal_in = self.reader.edge(bool(event.data), event.at)
            if signal_in is not None:
                self._input(signal_in, event.at, _BUTTON)
        elif event.kind in ("press", "stop", "next", "hold"):
            source = _control_source(event.data)
            acted = self._input(Input(event.kind), self.clock(), source)
            if event.kind == "next" and not acted:
                answer = {"ok": False, "error": "nothing to skip: no song is playing"}
        elif event.kind == "watch":
            self._publish_state()  # the watchers so far are up to date first
            assert event.reply is not None
            event.reply(self._feed.full(self.status()))
            return
        elif event.kind == "grid":
            song, grid = event.data
            if song == self.player.prepared:
                self._prepared_grid = grid
            if song == self.playing:
                self._grid = grid
            self.lights.grid_found(song, grid, self.clock())
        elif event.kind == "library":
            self._prepare_when_scanned()
            self._play_when_found(self.clock())
        elif event.kind == "reload" or (event.kind == "signal" and event.data == signal.SIGHUP):
            answer = self.reload()
            source = _control_source(event.data) if event.kind == "reload" else {"source": "signal"}
            problems = len(answer.get("errors", []))
            self._announce("reload", ok=answer["ok"], problems=problems, **source)
        elif event.kind in ("signal", "quit"):
            log.info("stopping (%s)", _signal_name(event.data) if event.data else "requested")
            self._running = False
        if event.reply is not None:
            event.reply({**answer, **self.status()})

    def _input(self, signal_in: Input, now: float, source: dict[str, Any]) -> list[Do]:
        """Hand a press, hold, stop or next from ``source`` to the state machine."""
        before = self.machine.phase
        who = source["source"] + (
            f", uid {source['uid']} pid {source['pid']}" if "uid" in source else ""
        )
        log.info(
            "%s (%s) during %s",
            signal_in.value,
            who,
            before.value,
            extra={"EVENT": signal_in.value, "SOURCE": source["source"]},
        )
        self._announce(signal_in.value, during=before.value, **source)
        actions = self.machine.handle(signal_in, now)
        if not actions and before in (Phase.ENDING, Phase.COOLDOWN):
            log.info("%s ignored during %s", signal_in.value, before.value)
        if signal_in is Input.HOLD and actions:
            log.info("panic stop: button held")
        self._do(actions, now)
        return actions

    def _timers(self, now: float) -> None:
        held = self.reader.tick(now)
        if held is not None:
            self._input(held, now, _BUTTON)
        if self._audio_retry_at is not None and now >= self._audio_retry_at:
            self._open_audio()
        phase = self.machine.phase
        if phase is Phase.INTRO and not self.player.effect_playing():
            self._do(self.machine.intro_ended(now), now)
        elif phase is Phase.PARTY and self._sound_finished(now) and not self._cut_short(now):
            shown = printable(self.playing.name) if self.playing else "silence"
            log.info("party over: %s finished", shown)
            self._do(self.machine.song_ended(now), now)
        self._do(self.machine.tick(now), now)

    def _sound_finished(self, now: float) -> bool:
        if self._silent_until is not None:
            return now >= self._silent_until
        if self._clip_failed(now):
            return False
        if self.player.is_playing():
            self._heard = max(self._heard, self.player.position())
            return False
        return not self.player.effect_playing()

    def _cut_short(self, now: float) -> bool:
        """Whether the song stopped well before the end its header gives (the file is damaged
        after that point): it is set aside, and the party goes on with the next song."""
        length = self._playing_length
        if self.playing is None or length is None:
            return False
        if self._heard >= length - max(CUT_SHORT_SECONDS, 0.1 * length):
            return False
        self.library.set_aside(
            self.playing,
            f"song: {printable(self.playing)}: stopped at {_clock(self._heard)} of "
            f"{_clock(length)}, it cannot be decoded further",
        )
        self._prepare_next()
        self._play_song(now)
        return True

    def _clip_failed(self, now: float) -> bool:
        """Set aside a clip that mpv could not play; if it was this party's, play a song."""
        failure = self.clips.take_failure() if self.clips is not None else None
        if failure is None:
            return False
        reason = f"clip: {printable(failure.clip)}: {failure.reason}; a song plays instead"
        if failure.clip_at_fault:
            self.library.set_aside(failure.clip, reason)
        else:
            log.warning("skipping %s", reason)
        if failure.clip != self.playing:
            return False
        self._prepare_next(clips=False)
        self._play_song(now)
        return True

    # -- actions ---------------------------------------------------------------------------

    def _do(self, actions: list[Do], now: float) -> None:
        for action in actions:
            self._act(action, now)
        self._follow_phase(now)
        self._show_status()

    def _follow_phase(self, now: float) -> None:
        """Start the light show of the phase the party is in, when it changes."""
        phase = self.machine.phase
        if phase is Phase.INTRO:
            wanted: tuple[str, Path | None] | None = ("intro", None)
        elif phase is Phase.PARTY:
            # At the press the song is only prepared: its show starts with the relays.
            wanted = ("song", self.playing or self.player.prepared)
        elif phase is Phase.ENDING:
            wanted = ("ending", None)
        else:
            wanted = None
        if wanted == self._lights_phase:
            return
        self._lights_phase = wanted
        if wanted is None:
            self.lights.stop(now)
            return
        name, song = wanted
        self._phase_started = now
        if name == "song":
            grid = self._grid if self.playing else self._prepared_grid
            self.lights.start("song", self._song_position, now, song=song, grid=grid)
        else:
            self.lights.start(name, self._phase_position, now)  # type: ignore[arg-type]

    def _phase_position(self) -> float:
        """Seconds since the current light-show phase began."""
        return self.clock() - self._phase_started

    def _song_position(self) -> float:
        """The mixer's playback position while music plays; the phase's clock otherwise."""
        if self.player.is_playing():
            return self.player.position()
        return self._phase_position()

    def _switch_relay(self, name: str, on: bool) -> None:
        if self.hardware is not None:
            self.hardware.set_relay(name, on)

    def _act(self, action: Do, now: float) -> None:
        hardware = self.hardware
        assert hardware is not None
        if action is Do.RELAYS_ON:
            self._follow_phase(now)
            names = ",".join(hardware.relays)
            log.info("party lights on: %s", names, extra={"RELAY": names})
        elif action is Do.RELAYS_OFF:
            self.lights.stop(now)
            self._lights_phase = None
            hardware.all_off()
            log.info("relays off", extra={"RELAY": ",".join(hardware.relays)})
        elif action is Do.PLAY_INTRO:
            self._play_intro()
        elif action is Do.PLAY_SONG:
            self._play_song(now)
        elif action is Do.NEXT_SONG:
            self.player.stop()
            self._prepare_next()
            self._play_song(now)
        elif action is Do.RESTART_SONG:
            self.player.stop()
            if self.playing is not None:
                again = Pick(self.playing, grid=self._grid, length=self._playing_length)
                if self._prepare(again):
                    self._play_song(now)
        elif action is Do.FADE_OUT:
            self.player.fade_out(self.config.audio.fade_out)
        elif action is Do.STOP_AUDIO:
            self.player.stop()
            self.playing = None
            self._silent_until = None
            self._song_wanted = False
        elif action is Do.PREPARE_NEXT:
            # Once the library has looked at the folders again: a song copied in during the
            # party can be the next one.
            self._prepare_after = self.library.rescan()

    def _play_intro(self) -> None:
        intro = self.config.party.intro_sound
        if intro is None or not self.player.is_open:
            return
        try:
            self.player.play_effect(intro)
        except SongError as exc:
            log.warning("intro skipped: %s", exc)

    def _prepare(self, pick: Pick) -> bool:
        """Load ``pick`` into its player; a file that fails is set aside."""
        try:
            self.player.prepare(pick.path)
        except VideoError as exc:
            self._clips_off(exc)
            return False
        except SongUnavailable:
            raise
        except SongError as exc:
            kind = "clip" if self.library.is_clip(pick.path) else "song"
            self.library.set_aside(pick.path, f"{kind}: {exc}")
            return False
        self._prepared_grid = pick.grid
        self._prepared_length = pick.length
        return True

    def _prepare_next(self, *, clips: bool = True) -> None:
        """Load the library's next pick (songs only with ``clips=False``) at once."""
        try:
            if not self.player.is_open:
                return
            for _attempt in range(PREPARE_ATTEMPTS):
                pick = self.library.take(clips=clips)
                if pick is None or self._prepare(pick):
                    return
        except SongUnavailable as exc:  # not the song's fault: it is not set aside
            log.warning("cannot open a song now: %s", exc)
        finally:
            self._prepare_after = None

    @property
    def preparing(self) -> bool:
        """Whether the next pick waits for a pass over the songs folders to be loaded."""
        return self._prepare_after is not None

    def _prepare_when_scanned(self) -> None:
        """Load the next pick if one is wanted, the pass over the folders it waits for is over
        and the library has checked the pick (its beat grid comes with it); never while
        something plays (loading stops the music)."""
        wanted = self._prepare_after
        if wanted is None or self.library.passes < wanted:
            return
        if len(self.library) and not self.library.next_checked:
            return  # the library says when it has checked it
        if self.player.prepared is None and not self.player.is_playing():
            self._prepare_next()
        else:
            self._prepare_after = None

    def _play_when_found(self, now: float) -> None:
        """A party without a song (the fallback sound, or silence) plays one as soon as the
        library has a checked one: a song copied in, a folder mounted again."""
        if self._song_wanted and self.machine.phase is Phase.PARTY and self.library.next_checked:
            self.player.stop()
            self._play_song(now)

    def _play_song(self, now: float) -> None:
        self._silent_until = None
        self._playing_length, self._heard = None, 0.0
        if self.player.is_open and self.player.prepared is None:
            self._prepare_next()
        for _attempt in range(PREPARE_ATTEMPTS):
            prepared = self.player.prepared
            if not self.player.is_open or prepared is None:
                break
            try:
                self.player.start()
            except SongError as exc:  # the file, not the device: the next song plays
                self.library.set_aside(prepared, f"song: {exc}")
                self._prepare_next()
                continue
            except AudioError as exc:
                self._audio_lost(exc, now)
                break
            self.playing, self._grid = prepared, self._prepared_grid
            self._playing_length = self._prepared_length
            self._song_wanted = False
            shown = printable(prepared.name)
            log.info("playing %s", shown, extra={"SONG": shown})
            return
        if not self.player.is_open and self._audio_retry_at is None:
            self._audio_lost(AudioError("the audio device is not open"), now)
        self._song_wanted = self.player.is_open  # a song that turns up later plays at once
        fallback = self.config.party.fallback_sound
        if self.player.is_open and fallback is not None:
            try:
                self.player.play_effect(fallback)
                self.playing = fallback
                log.warning("no playable song in the library: playing the fallback sound")
                return
            except SongError as exc:
                log.warning("fallback sound failed: %s", exc)
        self.playing = None
        self._silent_until = now + (self.config.party.max_duration or SILENT_PARTY_SECONDS)
        log.warning("no sound can play: a silent party of %gs", self._silent_until - now)

    def _audio_lost(self, exc: AudioError, now: float) -> None:
        """The device failed mid-run (unplugged): the lights go on, the audio is retried."""
        log.error(
            "%s; the party goes on without sound, audio retried every %gs",
            exc,
            self.config.audio.retry_interval,
        )
        self.player.close()
        self.audio_status = f"audio device missing, retrying: {exc}"
        self._audio_retry_at = now + self.config.audio.retry_interval

    # -- reload ----------------------------------------------------------------------------

    def reload(self) -> dict[str, Any]:
        """Re-read and validate the config file (``SIGHUP``, ``party-button reload``).

        An invalid file is reported line by line, like ``check-config``, and the daemon keeps
        the configuration it has. A valid one is applied at once when idle, otherwise as
        soon as the party is over. systemd gets ``RELOADING=1`` and then ``READY=1`` as soon
        as the file is judged, so a reload never waits for a party to end.
        """
        self.notifier.reloading()
        path = self.config.path
        log.info("reloading %s", path, extra={"EVENT": "reload"})
        try:
            config = load_config(path)
        except ConfigError as exc:
            shown = exc.problems[:RELOAD_PROBLEMS_SHOWN]
            if len(exc.problems) > len(shown):
                more = len(exc.problems) - len(shown)
                shown.append(f"... and {more} more (party-button check-config {path})")
            for problem in shown:
                log.error("%s", problem)
            self._reload_error = f"{len(exc.problems)} problem(s) in {path}"
            log.error(
                "reload refused (%s): still running on the previous configuration",
                self._reload_error,
            )
            self.notifier.ready(self.status_text())
            return {"ok": False, "errors": shown}
        self._reload_error = None
        self._pending = config
        if self.machine.phase is Phase.IDLE:
            self._apply_pending()
        else:
            log.info("%s is valid; it applies when the party is over", path)
        self.notifier.ready(self.status_text())
        return {"ok": self._reload_error is None, "applied": self._pending is None}

    def _apply_pending(self) -> None:
        """Switch to the validated new config: relays off, pins released and re-claimed."""
        config, self._pending = self._pending, None
        assert config is not None
        previous = self.config
        self._release(previous, config)
        self._configure(config)
        try:
            self._claim_pins()
        except HardwareError as exc:
            self._reload_error = str(exc)
            log.error("new configuration not applied: %s; back to the previous one", exc)
            self._release(config, previous)
            self._configure(previous)
            self._claim_pins()  # if even the old pins are gone, systemd restarts the daemon
        self.library.start()  # a new one, when the library's settings changed
        self._check_clips()
        self._open_audio()
        if self._reload_error is None:
            log.info("configuration %s applied: %d songs", config.path, len(self.library))

    def _release(self, old: Config, new: Config) -> None:
        """Let go of what ``new`` sets up differently from ``old``; always the pins."""
        if self.hardware is not None:
            self.hardware.close()  # relays off first
            self.hardware = None
        if new.gpio != old.gpio and self._factory_owned and self.factory is not None:
            self.factory.close()
            self.factory = None
        if new.audio != old.audio or new.clips != old.clips:
            self.player.close()
            self._build_player(new)

    # -- status ----------------------------------------------------------------------------

    def status_text(self) -> str:
        """One line for ``systemctl status``: "idle, 42 songs", "partying: song.ogg", ..."""
        phase = self.machine.phase
        if phase is Phase.IDLE:
            text = f"idle, {len(self.library)} songs"
            if not self.library.complete:
                text += " found so far"
        elif phase is Phase.INTRO:
            text = "partying: intro"
        elif phase is Phase.PARTY:
            text = f"partying: {printable(self.playing.name) if self.playing else 'silence'}"
        elif phase is Phase.ENDING:
            text = "party ending"
        else:
            text = "cooling down"
        notes = [text]
        if not self.player.is_open:
            notes.append("audio device missing, retrying")
        if self._pending is not None:
            notes.append("new configuration waits for the party to end")
        if self._reload_error is not None:
            notes.append(f"reload failed ({self._reload_error}), previous configuration kept")
        return "; ".join(notes)

    def status(self) -> dict[str, Any]:
        """The snapshot plus the status line and the config in use, as JSON-ready data."""
        return {
            **dataclasses.asdict(self.snapshot()),
            "status": self.status_text(),
            "config": str(self.config.path),
            "reload_pending": self._pending is not None,
            "reload_error": self._reload_error,
            "length": self._playing_length if self.playing else None,
            "next_phase": self._next_phase(),
        }

    def _next_phase(self) -> dict[str, Any] | None:
        """The phase that comes next and in how many seconds (None: when a sound ends)."""
        coming = self.machine.next_phase()
        if coming is None:
            return None
        phase, deadline = coming
        left = None if deadline is None else round(max(0.0, deadline - self.clock()), 1)
        return {"phase": phase.value, "in": left}

    def _show_status(self) -> None:
        if self.hardware is None:
            return
        if not self.player.is_open:
            self.hardware.show_status("fault")
        elif self.machine.phase in (Phase.INTRO, Phase.PARTY, Phase.ENDING):
            self.hardware.show_status("party")
        else:
            self.hardware.show_status("idle")

    def snapshot(self) -> Snapshot:
        """What the daemon is doing right now."""
        return Snapshot(
            phase=self.machine.phase.value,
            relays=self.hardware.relay_states() if self.hardware else {},
            playing=printable(self.playing.name) if self.playing else None,
            position=self.player.position() if self.playing else 0.0,
            audio=self.audio_status,
            songs=len(self.library),
        )

    def _publish(self) -> None:
        phase = self.machine.phase
        if phase is not self._phase:
            log.info("phase %s -> %s", self._phase.value, phase.value, extra={"PHASE": phase.value})
            self._phase = phase
        self.notifier.status(self.status_text())
        if self.on_change is not None:
            self.on_change(self.snapshot())
        self._publish_state()

    def _publish_state(self) -> None:
        """Send watchers a state line when something they see has changed."""
        if self.control is not None and self.control.watching:
            message = self._feed.changes(self.status())
            if message is not None:
                self.control.publish(message)

    def _announce(self, event: str, **details: Any) -> None:
        """Send watchers an event line."""
        if self.control is not None and self.control.watching:
            self.control.publish(event_message(event, **details))


_BUTTON = {"source": "button"}


def _control_source(peer: object) -> dict[str, Any]:
    """Who sent a command: the control socket's client, by uid and pid when known."""
    if isinstance(peer, Peer):
        return {"source": "control", "uid": peer.uid, "pid": peer.pid}
    return {"source": "control"}


def _library_settings(config: Config) -> tuple[object, ...]:
    """What the songs library depends on in ``config``."""
    clips = config.clips
    return (config.songs, config.effect_sounds, clips.enabled, clips.extensions, clips.chance)


def _clock(seconds: float) -> str:
    """``seconds`` as ``M:SS``."""
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"


def _signal_name(signum: object) -> str:
    try:
        return signal.Signals(signum).name  # type: ignore[arg-type]
    except ValueError:
        return str(signum)

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
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpiozero.pins import Factory

from party_button.audio import Player, PygamePlayer
from party_button.beat_worker import BeatWorker
from party_button.beats import BeatGrid, load_grid
from party_button.config import Config, load_config
from party_button.control import ControlServer
from party_button.errors import AudioError, ConfigError, HardwareError, SongError, VideoError
from party_button.events import Event, EventQueue
from party_button.hardware import PartyHardware, make_pin_factory
from party_button.library import library_from
from party_button.party import ButtonReader, Do, Input, PartyMachine, Phase, Rules
from party_button.playback import MediaPlayer
from party_button.show_driver import ShowDriver
from party_button.systemd import Notifier
from party_button.video import clip_player_from

log = logging.getLogger(__name__)

# How often a running party looks at the mixer to notice the end of a sound.
PARTY_POLL_INTERVAL = 0.05
# How long a party lasts when no sound at all can be played.
SILENT_PARTY_SECONDS = 30.0


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
        self._configure(config)
        self._build_player(config, player)
        self.hardware: PartyHardware | None = None
        self.beats: BeatWorker | None = None
        self.notifier = notifier or Notifier()
        self.control_path = control_path
        self.control: ControlServer | None = None
        self._pending: Config | None = None
        self._reload_error: str | None = None
        self._phase = self.machine.phase
        self.on_change = on_change
        self.audio_status = "not opened"
        self.playing: Path | None = None
        self._grid: BeatGrid | None = None
        self._prepared_grid: BeatGrid | None = None
        self._lights_phase: tuple[str, Path | None] | None = None
        self._phase_started = 0.0
        self._audio_retry_at: float | None = None
        self._silent_until: float | None = None
        self._running = False
        self._exit_code = 0

    # -- start-up and shutdown -------------------------------------------------------------

    def _configure(self, config: Config) -> None:
        """Take ``config``'s library, rules, button timing and light shows (not the pins)."""
        self.config = config
        self.library = library_from(config, seed=self._seed)
        self.machine = PartyMachine(rules_from(config))
        self.reader = ButtonReader(config.button.bounce_time, config.button.hold_time)
        self.lights = ShowDriver(config.lights, config.relays, self._switch_relay)

    def start(self) -> None:
        """Claim the pins (relays off), open the audio, prepare the first song, then listen."""
        self._claim_pins()
        self._check_clips()
        self._open_audio()
        self.beats = BeatWorker(lambda song, grid: self.events.put(Event("grid", (song, grid))))
        for item in self.library.refresh():
            if not self.library.is_clip(item):
                self.beats.submit(item)
        log.info(
            "%d songs in %s",
            len(self.library) - self.library.clip_count,
            ", ".join(map(str, self.config.songs.folders)),
        )
        if self.control_path is not None:
            self.control = ControlServer(self.control_path, self.events)

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

    def _check_clips(self) -> None:
        if self.clips is None:
            return
        try:
            log.info("%d clips, shown by %s", self.library.clip_count, self.clips.check())
        except VideoError as exc:
            self._clips_off(exc)

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
        self._prepare_next()
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
                    self.control.close()
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
        pending = [deadline for deadline in deadlines if deadline is not None]
        return max(0.0, min(pending) - now) if pending else None

    def step(self) -> None:
        """Wait for the next event or deadline and handle it."""
        events = self.events.wait(self.next_wakeup(self.clock()))
        for event in events:
            self.handle(event)
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
                self._input(signal_in, event.at)
        elif event.kind == "press":
            self._input(Input.PRESS, self.clock())
        elif event.kind == "stop":
            self._input(Input.STOP, self.clock())
        elif event.kind == "grid":
            song, grid = event.data
            if song == self.player.prepared:
                self._prepared_grid = grid
            if song == self.playing:
                self._grid = grid
            self.lights.grid_found(song, grid, self.clock())
        elif event.kind == "reload" or (event.kind == "signal" and event.data == signal.SIGHUP):
            answer = self.reload()
        elif event.kind in ("signal", "quit"):
            log.info("stopping (%s)", _signal_name(event.data) if event.data else "requested")
            self._running = False
        if event.reply is not None:
            event.reply({**answer, **self.status()})

    def _input(self, signal_in: Input, now: float) -> None:
        before = self.machine.phase
        log.info("%s during %s", signal_in.value, before.value, extra={"EVENT": signal_in.value})
        actions = self.machine.handle(signal_in, now)
        if not actions and before in (Phase.ENDING, Phase.COOLDOWN):
            log.info("%s ignored during %s", signal_in.value, before.value)
        if signal_in is Input.HOLD and actions:
            log.info("panic stop: button held")
        self._do(actions, now)

    def _timers(self, now: float) -> None:
        held = self.reader.tick(now)
        if held is not None:
            self._input(held, now)
        if self._audio_retry_at is not None and now >= self._audio_retry_at:
            self._open_audio()
        phase = self.machine.phase
        if phase is Phase.INTRO and not self.player.effect_playing():
            self._do(self.machine.intro_ended(now), now)
        elif phase is Phase.PARTY and self._sound_finished(now):
            log.info("party over: %s finished", self.playing.name if self.playing else "silence")
            self._do(self.machine.song_ended(now), now)
        self._do(self.machine.tick(now), now)

    def _sound_finished(self, now: float) -> bool:
        if self._silent_until is not None:
            return now >= self._silent_until
        if self._clip_failed(now):
            return False
        return not self.player.is_playing() and not self.player.effect_playing()

    def _clip_failed(self, now: float) -> bool:
        """Set aside a clip that mpv could not play; if it was this party's, play a song."""
        failure = self.clips.take_failure() if self.clips is not None else None
        if failure is None:
            return False
        log.warning("skipping clip %s: %s; a song plays instead", failure.clip, failure.reason)
        if failure.clip_at_fault:
            self.library.mark_broken(failure.clip)
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
            if self.playing is not None and self._prepare(self.playing):
                self._play_song(now)
        elif action is Do.FADE_OUT:
            self.player.fade_out(self.config.audio.fade_out)
        elif action is Do.STOP_AUDIO:
            self.player.stop()
            self.playing = None
            self._silent_until = None
        elif action is Do.PREPARE_NEXT:
            self._prepare_next()

    def _play_intro(self) -> None:
        intro = self.config.party.intro_sound
        if intro is None or not self.player.is_open:
            return
        try:
            self.player.play_effect(intro)
        except SongError as exc:
            log.warning("intro skipped: %s", exc)

    def _prepare(self, song: Path) -> bool:
        try:
            self.player.prepare(song)
        except VideoError as exc:
            self._clips_off(exc)
            return False
        except SongError as exc:
            log.warning("skipping song: %s", exc)
            self.library.mark_broken(song)
            return False
        grid_of = self.library.beat_source(song)
        self._prepared_grid = load_grid(grid_of)
        if (
            self._prepared_grid is None
            and self.beats is not None
            and not self.library.is_clip(grid_of)
        ):
            self.beats.submit(grid_of)
        return True

    def _prepare_next(self, *, clips: bool = True) -> None:
        if not self.player.is_open:
            return
        for _attempt in range(max(1, len(self.library))):
            song = self.library.next_song(clips=clips)
            if song is None:
                return
            if self._prepare(song):
                return

    def _play_song(self, now: float) -> None:
        self._silent_until = None
        prepared = self.player.prepared
        if self.player.is_open and prepared is not None:
            try:
                self.player.start()
            except AudioError as exc:
                self._audio_lost(exc, now)
            else:
                self.playing, self._grid = prepared, self._prepared_grid
                log.info("playing %s", prepared.name, extra={"SONG": prepared.name})
                return
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
            for problem in exc.problems:
                log.error("%s", problem)
            self._reload_error = f"{len(exc.problems)} problem(s) in {path}"
            log.error(
                "reload refused (%s): still running on the previous configuration",
                self._reload_error,
            )
            self.notifier.ready(self.status_text())
            return {"ok": False, "errors": exc.problems}
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
        elif phase is Phase.INTRO:
            text = "partying: intro"
        elif phase is Phase.PARTY:
            text = f"partying: {self.playing.name if self.playing else 'silence'}"
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
        }

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
            playing=self.playing.name if self.playing else None,
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


def _signal_name(signum: object) -> str:
    try:
        return signal.Signals(signum).name  # type: ignore[arg-type]
    except ValueError:
        return str(signum)

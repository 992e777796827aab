"""The daemon: wires the parts together and runs the loop; shuts down in reverse order.

Button edges, signals and control-socket commands arrive as typed events on one
:class:`~party_button.daemon.events.EventQueue`. The loop hands each to the part it
concerns: the :class:`~party_button.daemon.party.ButtonReader` and the
:class:`~party_button.daemon.party.PartyMachine` decide, the
:class:`~party_button.daemon.conductor.Conductor` plays, the
:class:`~party_button.daemon.lights_follower.LightsFollower` drives the relays and the
:class:`~party_button.daemon.status.StatusBoard` tells. Relays end off however the loop ends.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpiozero.pins import Factory

from party_button.beats.worker import BeatWorker
from party_button.config.schema import Config
from party_button.control.server import ControlServer
from party_button.control.watch import event_message
from party_button.daemon.conductor import Conductor
from party_button.daemon.dispatch import Dispatcher
from party_button.daemon.events import (
    Edge,
    Event,
    EventQueue,
    FollowRequest,
    GridFound,
    GridRequest,
    LibraryChanged,
    ReloadRequest,
    Request,
    Stop,
    WatchRequest,
)
from party_button.daemon.lights_follower import LightsFollower
from party_button.daemon.party import ButtonReader, PartyMachine
from party_button.daemon.reload import Reloader, ReloadPlan, library_changed
from party_button.daemon.status import Snapshot, StatusBoard
from party_button.errors import HardwareError
from party_button.gpio.board import make_pin_factory
from party_button.gpio.devices import PartyHardware
from party_button.lights.show_driver import ShowDriver
from party_button.media.audio import Player
from party_button.media.picker import SongPicker
from party_button.names import printable
from party_button.phase import Phase
from party_button.systemd import Notifier

log = logging.getLogger(__name__)

# Seconds a busy background thread (the songs library's scan) may keep the interpreter from
# the loop: CPython's default is 5 ms, too long for a loop that must answer a press at once.
LOOP_SWITCH_INTERVAL = 0.001


class Daemon:
    """One party button: pins, sound, library and the state machine, run by one loop.

    It owns the queue, the pins and the control socket; the conductor holds the config and
    the songs library, the dispatcher the state machine; the reloader says what a new config
    changes, and the daemon does it.
    """

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
        self.clock, self._seed = clock, seed
        self.events = EventQueue()
        self.factory, self.owns_factory = factory, factory is None
        self.notifier = notifier or Notifier()
        self.control_path = control_path
        self.control: ControlServer | None = None
        self.hardware: PartyHardware | None = None
        self.beats: BeatWorker | None = None
        self.conductor = Conductor(config, self._new_library(config), clock, player)
        self.reloader = Reloader()
        self.board = StatusBoard(
            self.conductor,
            self.reloader,
            self.notifier,
            clock,
            machine=lambda: self.dispatch.machine,
            hardware=lambda: self.hardware,
            control=lambda: self.control,
            on_change=on_change,
        )
        self.dispatch = Dispatcher(self.conductor, self.board, clock, lambda: self.hardware)
        self.configure(config)
        self.running = False

    def configure(self, config: Config) -> None:
        """Take ``config``'s library, rules, button timing and light shows (not the pins)."""
        library = self.library
        if library_changed(self.config, config):
            library.close()
            library = self._new_library(config)
        self.conductor.configure(config, library)
        driver = ShowDriver(config.lights, config.relays, self._switch_relay)
        self.dispatch.configure(config, LightsFollower(driver, self.conductor, self.clock))

    def _new_library(self, config: Config) -> SongPicker:
        """The songs library of ``config``, not started."""
        return SongPicker(
            config,
            seed=self._seed,
            on_change=lambda: self.events.put(LibraryChanged()),
            on_no_grid=lambda song: self.beats.submit(song) if self.beats else None,
            on_grid=lambda song, grid: self.events.put(GridFound(song, grid)),
        )

    @property
    def config(self) -> Config:
        """The configuration in use (the conductor holds it)."""
        return self.conductor.config

    @property
    def library(self) -> SongPicker:
        """The songs library (the conductor holds it)."""
        return self.conductor.library

    @property
    def machine(self) -> PartyMachine:
        """The party's state machine (the dispatcher's)."""
        return self.dispatch.machine

    @property
    def reader(self) -> ButtonReader:
        """The button's reader (the dispatcher's)."""
        return self.dispatch.reader

    @property
    def lights(self) -> LightsFollower:
        """The lights follower (the dispatcher's)."""
        return self.dispatch.lights

    @property
    def player(self) -> Player:
        """The player of songs and clips."""
        return self.conductor.player

    @property
    def playing(self) -> Path | None:
        """The song, clip or fallback sound playing now."""
        return self.conductor.playing

    @property
    def preparing(self) -> bool:
        """Whether the next pick waits for a pass over the songs folders to be loaded."""
        return self.conductor.preparing

    # -- start-up and shutdown -------------------------------------------------------------

    def start(self) -> None:
        """Listen, claim the pins (relays off), open the audio and start the library.

        The control socket comes first: a socket that cannot be made safely stops the start
        before any pin is touched. Its requests wait in the queue until the loop runs.
        """
        if self.control_path is not None:
            self.control = ControlServer(
                self.control_path, self.events, self.events.put_command, clock=self.clock
            )
        self.claim_pins()
        self.conductor.check_clips()
        self.dispatch.open_audio()
        self.beats = BeatWorker(lambda song, grid: self.events.put(GridFound(song, grid)))
        sys.setswitchinterval(min(sys.getswitchinterval(), LOOP_SWITCH_INTERVAL))
        self.library.start()  # it scans in its thread; nothing waits for it
        folders = ", ".join(printable(folder) for folder in self.config.songs.folders)
        log.info("looking for songs in %s", folders)

    def claim_pins(self) -> None:
        """Claim the button, relays (off) and status LED on the configured pin factory."""
        self.factory = self.factory or make_pin_factory(self.config.gpio.pin_factory)
        on_edge = lambda pressed: self.events.put(Edge(pressed, self.clock()))  # noqa: E731
        config = self.config
        self.hardware = PartyHardware(
            self.factory, config.button, config.relays, config.status_led, on_edge=on_edge
        )
        relays = ", ".join(f"{r.name}=GPIO{r.pin}" for r in config.relays)
        name, button = type(self.factory).__name__, config.button.pin
        log.info("pins claimed on %s: button GPIO%d, relays %s", name, button, relays)

    def _switch_relay(self, name: str, on: bool) -> None:
        if self.hardware is not None:
            self.hardware.set_relay(name, on)

    def close(self) -> None:
        """Drive every relay off, stop listening and the music, in reverse order of start-up."""
        try:
            self.library.close()
            if self.beats is not None:
                self.beats.close()
            if self.hardware is not None:
                self.hardware.all_off()
                log.info("shutdown: %s", self.hardware.relay_summary())
        finally:
            try:
                if self.control is not None:
                    self.control.close(farewell=event_message("stopping"))
                self.conductor.close()
            finally:
                if self.hardware is not None:
                    self.hardware.close()
                self.events.close()

    def run(self, *, install_signals: bool = True) -> int:
        """Start, loop until stopped, and always shut down; returns the exit code (0)."""
        previous: dict[int, Any] = {}
        try:
            if install_signals:
                for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    previous[signum] = signal.signal(signum, self._on_signal)
            self.start()
            gc.freeze()  # what start-up made lives on: full collections skip it
            self.running = True
            # Ready once the pins are claimed and the audio device tried: a missing device is
            # retried by the loop while the lights party (failing would make systemd restart).
            self.notifier.ready(self.board.text())
            self.board.publish()
            while self.running:
                self.step()
        finally:
            self.notifier.stopping()
            self.close()
            gc.unfreeze()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        hangup = signum == signal.SIGHUP
        self.events.put(ReloadRequest(by_signal=True) if hangup else Stop(signum))

    def request_stop(self) -> None:
        """Ask the loop to end (from any thread)."""
        self.events.put(Stop())

    # -- the loop ----------------------------------------------------------------------------

    def step(self) -> None:
        """Wait for the next event or deadline and handle it."""
        for event in self.events.wait(self.next_wakeup(self.clock())):
            self.handle(event)
        if self.control is not None:
            self.control.tick(self.clock())
        self.dispatch.timers(self.clock())
        self.lights.driver.update(self.clock())
        if self.reloader.pending is not None and self.machine.phase is Phase.IDLE:
            self.apply(self.reloader.plan(self.config))
        self.notifier.watchdog(self.clock())
        self.board.publish()

    def next_wakeup(self, now: float) -> float | None:
        """Seconds until the loop has something to do by itself, or ``None`` to sleep."""
        control = self.control.next_deadline() if self.control is not None else None
        return self.dispatch.next_wakeup(now, self.notifier.watchdog_deadline(now), control)

    def handle(self, event: Event) -> None:
        """Handle one event; a control-socket event gets its answer."""
        answer: dict[str, Any] | None = {"ok": True}  # also the answer to StatusRequest
        if isinstance(event, Edge):
            self.dispatch.edge(event.pressed, event.at)
        elif isinstance(event, Request):
            answer = self.dispatch.request(event.input, event.peer)
        elif isinstance(event, WatchRequest) and event.reply is not None:
            self.board.publish_state()  # the watchers so far are up to date first
            event.reply(self.board.feed.full(self.board.status()))
            answer = None
        elif isinstance(event, FollowRequest):
            answer = self.dispatch.follow(event.order, self.clock())
        elif isinstance(event, GridRequest):
            answer = self.dispatch.grid()
        elif isinstance(event, GridFound):
            self.conductor.grid_found(event.song, event.grid)
            self.lights.driver.grid_found(event.song, event.grid, self.clock())
        elif isinstance(event, LibraryChanged):
            self.conductor.prepare_when_scanned()
            if self.machine.phase is Phase.PARTY:
                self.conductor.play_when_found(self.clock())
        elif isinstance(event, ReloadRequest):
            answer = self.reload(event)
        elif isinstance(event, Stop):
            log.info("stopping (%s)", _signal_name(event.signum))
            self.running = False
        if answer is not None and event.reply is not None:
            event.reply({**answer, **self.board.status()})

    # -- reloading ---------------------------------------------------------------------------

    def reload(self, event: ReloadRequest) -> dict[str, Any]:
        """Re-read the config file; apply it now when idle, else once the party is over.

        systemd gets ``RELOADING=1`` and then ``READY=1`` as soon as the file is judged, so a
        reload never waits for a party to end. Watchers hear how it went and who asked.
        """
        self.notifier.reloading()
        answer = self.reloader.read(self.config.path)
        if answer["ok"]:
            if self.machine.phase is Phase.IDLE:
                self.apply(self.reloader.plan(self.config))
            else:
                log.info("%s is valid; it applies when the party is over", self.config.path)
            answer = {"ok": self.reloader.error is None, "applied": self.reloader.pending is None}
            if self.reloader.error is not None:
                answer["error"] = self.reloader.error
        self.notifier.ready(self.board.text())
        source = {"source": "signal"} if event.by_signal else Dispatcher.source_of(event.peer)
        problems = len(answer.get("errors", []))
        self.board.announce("reload", ok=answer["ok"], problems=problems, **source)
        return answer

    def apply(self, plan: ReloadPlan) -> None:
        """Switch to the plan's config: relays off, pins released and claimed again."""
        self._release(plan)
        self.configure(plan.config)
        try:
            self.claim_pins()
        except HardwareError as exc:
            self.reloader.refused(str(exc))
            log.error("new configuration not applied: %s; back to the previous one", exc)
            back = plan.back()
            self._release(back)
            self.configure(back.config)
            self.claim_pins()  # if even the old pins are gone, systemd restarts the daemon
        self.library.start()  # a new one, when the library's settings changed
        self.conductor.check_clips()
        self.dispatch.open_audio()
        if self.reloader.error is None:
            log.info("configuration %s applied: %d songs", plan.config.path, len(self.library))

    def _release(self, plan: ReloadPlan) -> None:
        """Let go of what the plan sets up anew; always the pins."""
        if self.hardware is not None:
            self.hardware.close()  # relays off first
            self.hardware = None
        if plan.pin_factory and self.owns_factory and self.factory is not None:
            self.factory.close()
            self.factory = None
        if plan.player:
            self.conductor.close()
            self.conductor.build_player(plan.config)


def _signal_name(signum: int | None) -> str:
    if signum is None:
        return "requested"
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)

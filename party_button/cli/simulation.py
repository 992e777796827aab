"""``party-button run --simulate``: mock pins, the keyboard as the button, lamps in the terminal."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import termios
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from gpiozero.pins.mock import MockFactory, MockPWMPin

from party_button.config.schema import Config, GpioConfig
from party_button.daemon.conductor import player_from
from party_button.daemon.daemon import Daemon
from party_button.daemon.events import Request
from party_button.daemon.party import Input
from party_button.daemon.status import Snapshot
from party_button.errors import AudioError
from party_button.media.audio import PygamePlayer
from party_button.systemd import LOG_FORMAT, PrintableFormatter

KEYS_HELP = "space/enter: press   h: hold (panic stop)   s: stop   q: quit"
PRESS_SECONDS = 0.08


def render_snapshot(snapshot: Snapshot, *, colour: bool) -> str:
    """One status line: each relay as a lamp, the phase and what is playing."""
    lamps = []
    for name, on in snapshot.relays.items():
        lamp = "●" if on else "○"
        if colour:
            lamp = f"\033[1;33m{lamp}\033[0m" if on else f"\033[2m{lamp}\033[0m"
        lamps.append(f"{lamp} {name}")
    playing = ""
    if snapshot.playing:
        minutes, seconds = divmod(int(snapshot.position), 60)
        playing = f"  ♪ {snapshot.playing} {minutes}:{seconds:02d}"
    return f"[{snapshot.phase:^8}] {'  '.join(lamps)}{playing}"


class TerminalDisplay:
    """Draws the status line in place on a terminal, or one line per change elsewhere.

    Messages and log lines (through :class:`LogAboveLamps`) go on lines of their own above
    the status line, which is drawn again below them.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self._last = ""
        self._lock = threading.Lock()  # the loop draws; any thread may log

    def __call__(self, snapshot: Snapshot) -> None:
        line = render_snapshot(snapshot, colour=self.live)
        with self._lock:
            if self.live:
                self.stream.write(f"\r\033[K{line}")
                self.stream.flush()
            elif line.split("♪")[0] != self._last.split("♪")[0]:
                self.stream.write(line + "\n")
                self.stream.flush()
            self._last = line

    def message(self, text: str) -> None:
        """Print a message above the status line."""
        with self._lock:
            if self.live:
                self.stream.write(f"\r\033[K{text}\n{self._last}")
            else:
                self.stream.write(text + "\n")
            self.stream.flush()


class LogAboveLamps(logging.Handler):
    """Writes log lines through the display, so that none lands on the lamps' line."""

    def __init__(self, display: TerminalDisplay) -> None:
        super().__init__()
        self.display = display
        self.setFormatter(PrintableFormatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.display.message(self.format(record))
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def _logging_to(handler: logging.Handler) -> Iterator[None]:
    """Send every log line to ``handler`` alone while the simulation runs."""
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = [handler]
    try:
        yield
    finally:
        root.handlers = saved


class Keyboard:
    """Reads keys in a background thread and works the mock button pin."""

    def __init__(self, daemon: Daemon, factory: MockFactory, stream: TextIO) -> None:
        self.daemon = daemon
        self.pin = factory.pin(daemon.config.button.pin)
        self.pull_up = daemon.config.button.pull_up
        self.stream = stream
        self.thread = threading.Thread(target=self._run, name="keyboard", daemon=True)

    def _button(self, down: bool) -> None:
        if down == self.pull_up:
            self.pin.drive_low()
        else:
            self.pin.drive_high()

    def press(self, seconds: float = PRESS_SECONDS) -> None:
        """Push the simulated button for ``seconds``."""
        self._button(True)
        time.sleep(seconds)
        self._button(False)

    def key(self, char: str) -> bool:
        """Act on one key; returns ``False`` when the key quits."""
        if char in (" ", "\n", "\r", "p"):
            self.press()
        elif char == "h":
            self.press(self.daemon.config.button.hold_time + 0.2)
        elif char == "s":
            self.daemon.events.put(Request(Input.STOP))
        elif char in ("q", "\x03", "\x04", ""):
            self.daemon.request_stop()
            return False
        return True

    def _run(self) -> None:
        while True:
            char = self.stream.read(1)
            if not self.key(char.lower()):
                return


def _open_sound(player: PygamePlayer) -> str:
    """Open the configured device, else the laptop's default one."""
    try:
        return player.open()
    except AudioError:
        if player.device is None:
            raise
    configured, player.device = player.device, None
    return f"{player.open()} (the configured device {configured!r} is not here)"


@contextlib.contextmanager
def _raw_terminal(stream: TextIO) -> Iterator[None]:
    if not stream.isatty():
        yield
        return
    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def simulate(
    config: Config,
    *,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    control_path: Path | None = None,
) -> int:
    """Run the party on mock pins with the keyboard as the button; returns the exit code.

    With ``control_path`` it listens there, so ``party-button press`` and the web page
    reach the simulation as they reach the daemon.
    """
    # Mock pins; clips in a window on the laptop (mpv's default output), not on a Pi's DRM.
    config = dataclasses.replace(
        config,
        gpio=GpioConfig(pin_factory="mock"),
        clips=dataclasses.replace(config.clips, mpv_options=()),
    )
    display = TerminalDisplay(stdout)
    player = player_from(config)
    try:
        display.message(f"Sound: {_open_sound(player)}")
    except AudioError as exc:
        os.environ["SDL_AUDIODRIVER"] = "dummy"
        player.open()
        display.message(f"No sound device ({exc}): the simulation runs SILENT.")
    factory = MockFactory(pin_class=MockPWMPin)
    daemon = Daemon(
        config, factory=factory, player=player, on_change=display, control_path=control_path
    )
    keyboard = Keyboard(daemon, factory, stdin)
    display.message(f"party-button simulation with {config.path}. {KEYS_HELP}")
    with _raw_terminal(stdin), _logging_to(LogAboveLamps(display)):
        keyboard.thread.start()
        code = daemon.run()
    display.message("Simulation ended; every relay is off.")
    return code

"""The real ``party-button run`` as systemd runs it: notify socket, watchdog, signals, control.

Each test starts the daemon as a subprocess with mock pins, SDL's dummy audio driver, a
real ``AF_UNIX`` datagram socket as ``$NOTIFY_SOCKET`` and ``$WATCHDOG_USEC`` /
``$WATCHDOG_PID`` / ``$RUNTIME_DIRECTORY`` set the way systemd sets them.
"""

from __future__ import annotations

import itertools
import os
import queue
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from party_button.control.client import send_command
from party_button.errors import ControlError
from party_button.testing.users import run_as

WATCHDOG_USEC = 400_000  # pings every 0.2 s
START_TIMEOUT = 20.0


class Service:
    """A running ``party-button run`` and the systemd end of its notify socket."""

    def __init__(
        self,
        workdir: Path,
        config: Path,
        env: dict[str, str] | None = None,
        *,
        verbose: bool = False,
    ) -> None:
        self.workdir = workdir
        self.config = config
        # Under /tmp with 0755 folders, so that only the socket's own mode decides who may
        # connect (pytest's tmp_path is private to its owner).
        self.runtime = Path(tempfile.mkdtemp(prefix="party-button-run-"))
        self.runtime.chmod(0o755)
        self.socket_path = self.runtime / "control.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(workdir / "notify.sock"))
        self.messages: list[tuple[float, str]] = []
        # Like systemd, read every message as it comes: a full datagram queue would block
        # the sender.
        self._inbox: queue.Queue[tuple[float, str]] = queue.Queue()
        self._reader = threading.Thread(target=self._read_notify, daemon=True)
        self._reader.start()
        self.log_path = workdir / "daemon.log"
        environ = {
            **os.environ,
            "NOTIFY_SOCKET": str(workdir / "notify.sock"),
            "WATCHDOG_USEC": str(WATCHDOG_USEC),
            "RUNTIME_DIRECTORY": str(self.runtime),
            "SDL_AUDIODRIVER": "dummy",
            **(env or {}),
        }
        environ.pop("JOURNAL_STREAM", None)
        environ.pop("PARTY_BUTTON_SOCKET", None)
        # systemd sets WATCHDOG_PID to the main process; exec keeps the shell's pid.
        options = "-v run" if verbose else "run"
        command = (
            f'WATCHDOG_PID=$$ exec "{sys.executable}" -m party_button {options} --config "{config}"'
        )
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                ["sh", "-c", command],
                env=environ,
                cwd=Path(__file__).resolve().parents[2],
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for_log(self, wanted: Callable[[str], bool], timeout: float = 20.0) -> str:
        """Poll the daemon's output until ``wanted`` accepts it."""
        deadline = time.monotonic() + timeout
        while not wanted(log := self.log):
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"the log never matched:\n{log}")
            time.sleep(0.05)
        return log

    def _read_notify(self) -> None:
        while True:
            try:
                data = self.notify.recv(4096)
            except OSError:
                return
            self._inbox.put((time.monotonic(), data.decode()))

    def receive(self, timeout: float) -> str | None:
        """The next notify message, or ``None`` after ``timeout`` seconds."""
        try:
            arrived, data = self._inbox.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        self.messages.append((arrived, data))
        return data

    def wait_for(self, wanted: Callable[[str], bool], timeout: float = 10.0) -> str:
        """Receive messages until one satisfies ``wanted``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is not None and wanted(message):
                return message
            if self.process.poll() is not None:
                break
        pytest.fail(f"no such notify message; got {self.messages!r}\nlog:\n{self.log}")

    def wait_ready(self) -> str:
        return self.wait_for(lambda m: "READY=1" in m.split("\n"), START_TIMEOUT)

    def command(self, name: str) -> dict:
        return send_command(self.socket_path, name)

    def until(self, check: Callable[[dict], bool], timeout: float = 10.0) -> dict:
        """Poll ``status`` until ``check`` accepts it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = self.command("status")
            except ControlError as exc:
                pytest.fail(f"{exc}\nlog:\n{self.log}")
            if check(status):
                return status
            if time.monotonic() > deadline:
                pytest.fail(f"status never matched: {status}\nlog:\n{self.log}")
            time.sleep(0.05)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.notify.shutdown(socket.SHUT_RDWR)
        self.notify.close()
        self._reader.join(timeout=1)
        for leftover in self.runtime.iterdir():
            leftover.unlink()
        self.runtime.rmdir()


@pytest.fixture
def service(tmp_path: Path, make_config) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(
        changes: dict | None = None, env: dict[str, str] | None = None, *, verbose: bool = False
    ) -> Service:
        config = make_config(changes).path
        started.append(Service(tmp_path, config, env, verbose=verbose))
        return started[-1]

    yield start
    for running in started:
        running.close()


def test_ready_after_pins_and_audio_then_watchdog_pings_at_half_the_period(service):
    daemon = service()
    ready = daemon.wait_ready()
    log = daemon.log
    assert "pins claimed" in log and "audio: " in log and "control socket" in log
    # Ready does not wait for the songs library's scan: it may still be going on.
    assert re.search(r"^STATUS=idle, [0-3] songs( found so far)?$", ready, re.MULTILINE)
    pings: list[float] = []
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        message = daemon.receive(deadline - time.monotonic())
        if message == "WATCHDOG=1":
            pings.append(daemon.messages[-1][0])
    assert len(pings) >= 5, daemon.messages
    period = statistics.median(b - a for a, b in itertools.pairwise(pings))
    assert 0.15 <= period <= 0.3, f"median watchdog period {period:.3f}s, expected 0.2s"


def test_gpiozero_pin_factory_mock_runs_the_daemon_without_simulate(service):
    daemon = service({"gpio": {"pin_factory": "auto"}}, env={"GPIOZERO_PIN_FACTORY": "mock"})
    daemon.wait_ready()
    assert "pins claimed on MockFactory" in daemon.log
    daemon.command("press")
    daemon.until(lambda status: status["phase"] == "party")


# Ready comes before the library's first scan is over: its song count may still grow.
RETRYING_AUDIO_AT_READY = (
    r"^STATUS=idle, [0-3] songs( found so far)?; audio device missing, retrying$"
)


def test_ready_without_an_audio_device_says_it_retries(service):
    daemon = service(env={"SDL_AUDIODRIVER": "no-such-driver"})
    ready = daemon.wait_ready()
    assert re.search(RETRYING_AUDIO_AT_READY, ready, re.MULTILINE)
    status = daemon.command("press")
    assert status["phase"] == "party"
    assert status["relays"] == {"lights": True, "beacon": True}


def error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if " ERROR " in line]


def test_a_missing_sound_card_is_one_line_without_libasounds_own(service):
    # ALSA_CARD names the card of ALSA's default device: one that is not there.
    env = {"SDL_AUDIODRIVER": "alsa", "ALSA_CARD": "party-button-test-no-card"}
    daemon = service({"audio": {"retry_interval": 0.5}}, env=env, verbose=True)
    ready = daemon.wait_ready()
    assert "audio device missing, retrying" in ready
    log = daemon.wait_for_log(lambda text: text.count("audio still missing") >= 3)
    assert "ALSA lib" not in log
    [error] = error_lines(log)
    assert "cannot open the default audio device: ALSA: Couldn't open audio device" in error
    assert daemon.command("press")["relays"] == {"lights": True, "beacon": True}


def test_a_mixer_that_cannot_load_is_the_missing_audio_path(service, tmp_path):
    # What a minimal arm64 Debian does to pygame's mixer: a library it links cannot load.
    libraries = tmp_path / "libraries"
    libraries.mkdir()
    (libraries / "libgthread-2.0.so.0").write_text("not a shared library\n")
    env = {"LD_LIBRARY_PATH": str(libraries)}
    daemon = service({"audio": {"retry_interval": 0.5}}, env=env, verbose=True)
    ready = daemon.wait_ready()
    assert re.search(RETRYING_AUDIO_AT_READY, ready, re.MULTILINE)
    assert daemon.command("press")["relays"] == {"lights": True, "beacon": True}
    log = daemon.wait_for_log(lambda text: text.count("audio still missing") >= 2)
    [error] = error_lines(log)
    assert "cannot open the default audio device: pygame's mixer cannot be loaded " in error
    assert "libgthread-2.0.so.0" in error
    assert "Traceback" not in log and "NotImplementedError" not in log
    assert daemon.process.poll() is None


def test_press_through_the_control_socket_starts_a_party(service, song_folder):
    daemon = service({"party": {"max_duration": 30}})
    daemon.wait_ready()
    assert daemon.command("status")["phase"] == "idle"
    answer = daemon.command("press")
    assert answer["ok"] is True
    assert answer["phase"] == "party"
    assert answer["relays"] == {"lights": True, "beacon": True}
    # The song starts with the press, or as soon as the first pick is checked: on a busy
    # machine the library's thread may still be checking it when the press comes.
    songs = {song.name for song in song_folder.rglob("*.ogg")}
    playing = daemon.until(lambda s: s["playing"] is not None, timeout=30)["playing"]
    assert playing in songs
    daemon.wait_for(lambda m: m == f"STATUS=partying: {playing}", timeout=30)
    assert daemon.command("stop")["phase"] == "ending"
    daemon.until(lambda s: s["phase"] in ("cooldown", "idle") and not any(s["relays"].values()))


def _check_config_lines(config: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "party_button", "check-config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    return result.stderr.strip().splitlines()


def test_sighup_with_a_broken_config_keeps_the_old_one_and_logs_the_errors(service):
    daemon = service()
    daemon.wait_ready()
    config = daemon.config
    text = config.read_text()
    assert "pin: GPIO5\n" in text and "cooldown:" in text
    config.write_text(text.replace("pin: GPIO5\n", "pin: GPIO99\n").replace("cooldown", "cooldwn"))
    expected = _check_config_lines(config)
    assert len(expected) == 2

    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for(lambda m: m.startswith("RELOADING=1"))
    ready = daemon.wait_for(lambda m: "READY=1" in m)
    assert "previous configuration kept" in ready
    for line in expected:
        assert line in daemon.log
    assert daemon.process.poll() is None
    status = daemon.command("status")
    assert set(status["relays"]) == {"lights", "beacon"}
    assert daemon.command("press")["relays"] == {"lights": True, "beacon": True}


def test_sighup_with_a_good_config_re_claims_the_pins(service, make_config):
    daemon = service()
    daemon.wait_ready()
    make_config({"relays": [{"name": "fog", "pin": "GPIO13"}, {"name": "lights", "pin": "GPIO6"}]})
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for(lambda m: m.startswith("RELOADING=1"))
    daemon.wait_for(lambda m: "READY=1" in m)
    status = daemon.command("status")
    assert status["relays"] == {"fog": False, "lights": False}
    assert status["status"] == "idle, 3 songs"
    assert daemon.command("press")["relays"] == {"fog": True, "lights": True}


def test_reload_mid_party_waits_for_the_party_to_end(service, make_config):
    daemon = service({"party": {"cooldown": 0.2}})
    daemon.wait_ready()
    assert daemon.command("press")["phase"] == "party"
    make_config({"relays": [{"name": "strobe", "pin": "GPIO16"}]})
    answer = daemon.command("reload")
    assert answer["ok"] is True and answer["applied"] is False
    assert answer["reload_pending"] is True
    assert set(answer["relays"]) == {"lights", "beacon"}
    assert "new configuration waits for the party to end" in answer["status"]
    status = daemon.until(lambda s: s["phase"] == "idle", timeout=10)
    assert status["relays"] == {"strobe": False}
    assert status["reload_pending"] is False


def test_sigterm_mid_party_exits_0_with_the_relays_off(service):
    daemon = service({"party": {"max_duration": 60}})
    daemon.wait_ready()
    assert daemon.command("press")["relays"] == {"lights": True, "beacon": True}
    daemon.process.send_signal(signal.SIGTERM)
    # How fast it stops is measured by benchmarks/latency.py (sigterm_to_exit_s).
    assert daemon.process.wait(timeout=30) == 0
    assert "shutdown: lights off, beacon off" in daemon.log
    while daemon.receive(0.2) is not None:
        pass
    assert any(m.startswith("STOPPING=1") for _at, m in daemon.messages)
    assert not daemon.socket_path.exists()


def _connect_as(uid: int, gid: int, groups: list[int], path: Path) -> str:
    """Ask for ``status`` as ``uid``; returns what it got."""

    def ask() -> str:
        try:
            return "answer: " + send_command(path, "status")["phase"]
        except ControlError as exc:
            return f"refused: {exc}"

    return run_as(uid, gid, groups, ask)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_control_socket_refuses_users_outside_its_group(service):
    daemon = service()
    daemon.wait_ready()
    info = daemon.socket_path.stat()
    assert info.st_mode & 0o777 == 0o660
    nobody = 65534
    assert info.st_gid != nobody
    outsider = _connect_as(nobody, nobody, [], daemon.socket_path)
    assert outsider.startswith("refused: permission denied on"), outsider
    member = _connect_as(nobody, nobody, [info.st_gid], daemon.socket_path)
    assert member == "answer: idle"

"""party-button on the Raspberry Pi's architecture: an arm64 Debian 12 root under qemu-user.

The installer runs inside the root as on a Pi (pip picks the aarch64 wheels: pygame's, with
its own SDL). systemd's namespacing does not work under qemu-user, so nothing is booted
here: ``party-button run`` runs by itself, with mock pins, and the test drives it through
its control socket from outside (the socket's folder is shared with the host).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from party_button.control.client import send_command
from party_button.errors import ControlError
from tests.system.booted import lights_on, wait_until
from tests.system.containers import WorkRoot, descendants
from tests.system.roots import temporary_log

CONFIG = "/etc/party-button/config.yaml"
GTHREAD = Path("usr/lib/aarch64-linux-gnu/libgthread-2.0.so.0")
START_TIMEOUT = 300  # Python and pygame under emulation start slowly


class RunningDaemon:
    """``party-button run`` in the root, as the service's user, its socket shared with us."""

    def __init__(self, root: WorkRoot, runtime: Path) -> None:
        self.socket = runtime / "control.sock"
        self.log = temporary_log("arm64-run")
        uid = root.user_id("party-button")
        runtime.mkdir()
        runtime.chmod(0o750)
        os.chown(runtime, uid, uid)
        self.process = root.start(
            [
                "/opt/party-button/venv/bin/party-button",
                "run",
                "--config",
                CONFIG,
                "--socket",
                "/run/party-button/control.sock",
            ],
            log=self.log,
            user="party-button",
            binds=[(runtime, "/run/party-button")],
            environment={"SDL_AUDIODRIVER": "alsa"},  # as the unit has it
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                send_command(self.socket, "status", timeout=30)
                return
            except ControlError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the daemon never answered on its socket:\n{self.output()}")
                time.sleep(0.5)

    def command(self, name: str) -> dict:
        return send_command(self.socket, name, timeout=30)

    def stop(self) -> int:
        """SIGTERM to the daemon, as systemctl stop sends it; returns its exit code."""
        if self.process.poll() is None:
            for pid, command in descendants(self.process.pid):
                if "party-button run" in command:
                    os.kill(pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@pytest.fixture
def daemon(arm64_root: WorkRoot, tmp_path: Path) -> Iterator[RunningDaemon]:
    config = arm64_root.path / CONFIG.lstrip("/")
    text = config.read_text()
    config.write_text(text.replace("pin_factory: auto", "pin_factory: mock"))
    running = RunningDaemon(arm64_root, tmp_path / "run")
    try:
        yield running
    finally:
        running.stop()
        config.write_text(text)


def press_and_stop(daemon: RunningDaemon) -> None:
    pressed = daemon.command("press")
    assert pressed["ok"] is True
    assert pressed["phase"] in ("intro", "party")
    assert lights_on(pressed)
    # The shipped intro blinks: one look at the status may fall between two blinks.
    status = wait_until(
        lambda: lights_on(status := daemon.command("status")) and status,
        60,
        "a status with the party's relays on",
    )
    assert status["phase"] in ("intro", "party")
    assert daemon.command("stop")["phase"] == "ending"


def test_the_installed_daemon_makes_a_party_at_a_press(arm64_root, daemon):
    site = arm64_root.path / "opt/party-button/venv/lib/python3.11/site-packages"
    assert list(site.glob("pygame/mixer.cpython-311-aarch64-linux-gnu.so"))  # the Pi's wheel
    daemon.wait_listening()
    press_and_stop(daemon)
    assert daemon.stop() == 0
    output = daemon.output()
    assert "shutdown: lights off, beacon off, fog off, strobe off" in output
    assert "Traceback" not in output


@pytest.fixture
def without_gthread(arm64_root: WorkRoot) -> Iterator[None]:
    """GLib's libgthread gone, as on a minimal arm64 Debian before the installer's packages."""
    library = arm64_root.path / GTHREAD
    hidden = library.with_name(library.name + ".hidden")
    library.rename(hidden)
    try:
        yield
    finally:
        hidden.rename(library)


def test_without_libgthread_the_party_goes_on_without_sound(without_gthread, daemon):
    daemon.wait_listening()
    press_and_stop(daemon)
    assert daemon.stop() == 0
    output = daemon.output()
    assert "Traceback" not in output and "NotImplementedError" not in output
    errors = [line for line in output.splitlines() if " ERROR " in line]
    assert len(errors) == 1, output
    assert "pygame's mixer cannot be loaded (ImportError: libgthread-2.0.so.0: " in errors[0]

"""The command line: songs, test-relays, relays-off and the simulation."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from gpiozero.pins.mock import MockFactory

from party_button.cli import main as cli
from party_button.config.schema import Config
from party_button.gpio import board
from party_button.testing import MOCK_CONFIG, wait_for


def test_songs_lists_a_seeded_round(
    make_config: Callable[..., Config], capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config()
    assert cli.main(["songs", "--config", str(config.path), "--seed", "4", "--count", "6"]) == 0
    first = capsys.readouterr().out.splitlines()
    assert cli.main(["songs", "--config", str(config.path), "--seed", "4", "--count", "6"]) == 0
    assert capsys.readouterr().out.splitlines() == first
    names = [Path(line.split()[1]).name for line in first]
    assert sorted(names[:3]) == sorted(names[3:]) == ["song0.ogg", "song1.ogg", "song2.ogg"]
    assert names[2] != names[3]


@pytest.mark.parametrize("adapter", ["web", "mqtt"])
def test_each_adapter_says_whether_it_is_enabled_the_same_way(
    adapter: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"  # only the adapter's own section is read
    login = '  pin: "1234"\n' if adapter == "web" else ""
    for enabled, said in ((False, "not enabled"), (True, "enabled")):
        path.write_text(f"{adapter}:\n  enabled: {str(enabled).lower()}\n{login}")
        assert cli.main([adapter, "--config", str(path), "--is-enabled"]) == 0
        assert capsys.readouterr().out == f"{path}: {adapter} is {said}\n"
    path.write_text(f"{adapter}:\n  enabled: maybe\n")
    assert cli.main([adapter, "--config", str(path), "--is-enabled"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"{path}:2: {adapter}.enabled: expected true or false, got str 'maybe'\n"


def test_test_relays_clicks_each_relay_in_turn(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = make_config()
    monkeypatch.setattr(board, "make_pin_factory", lambda _name: mock_factory)
    assert cli.main(["test-relays", "--config", str(config.path), "--seconds", "0.05"]) == 0
    lights, beacon = mock_factory.pin(5), mock_factory.pin(6)
    # lights is active-low: on is a low level; beacon is active-high.
    assert [s.state for s in lights.states] == [False, True, False, True]
    assert [s.state for s in beacon.states] == [False, True, False]
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "lights: GPIO5 on (driven low) - "
    assert out[2] == "beacon: GPIO6 on (driven high) - "


def test_relays_off_drives_every_relay_to_its_off_level(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = make_config()
    mock_factory.pin(5).drive_low()  # left "on" by a crashed daemon (active-low)
    mock_factory.pin(6).drive_high()
    monkeypatch.setattr(board, "make_pin_factory", lambda _name: mock_factory)
    assert cli.main(["relays-off", "--config", str(config.path)]) == 0
    assert mock_factory.pin(5).state == 1 and mock_factory.pin(6).state == 0
    assert capsys.readouterr().out == "relays off: lights, beacon\n"


def test_relays_off_needs_only_the_pins_of_a_config_broken_elsewhere(
    tmp_path: Path,
    mock_factory: MockFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # ExecStopPost runs it with whatever the config holds: a missing songs folder, a typo,
    # a wrong button pin must not keep the relays on.
    broken = {
        **MOCK_CONFIG,
        "button": {"pin": "GPIO99"},
        "songs": {"folders": ["/nowhere"]},
        "partey": {},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(broken))
    assert cli.main(["check-config", str(path)]) == 1
    capsys.readouterr()
    mock_factory.pin(5).drive_low()
    mock_factory.pin(6).drive_high()
    monkeypatch.setattr(board, "make_pin_factory", lambda _name: mock_factory)
    assert cli.main(["relays-off", "--config", str(path)]) == 0
    assert mock_factory.pin(5).state == 1 and mock_factory.pin(6).state == 0
    assert capsys.readouterr().out == "relays off: lights, beacon\n"
    path.write_text(yaml.safe_dump({**broken, "relays": [{"name": "lights", "pin": "GPIO99"}]}))
    assert cli.main(["relays-off", "--config", str(path)]) == 1
    assert "relays[0].pin" in capsys.readouterr().err


def test_a_start_under_systemd_refused_for_the_config_says_to_restart(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**MOCK_CONFIG, "songs": {"folders": ["/nowhere"]}}))
    command = [sys.executable, "-m", "party_button", "run", "--config", str(path)]
    environ = {**os.environ, "INVOCATION_ID": "0123456789abcdef"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=environ)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-2:] == [
        f"{path}:20: songs.folders: folder '/nowhere' does not exist",
        "not started: fix the config, then: "
        "systemctl reset-failed party-button; systemctl restart party-button",
    ]


def test_auto_pin_factory_off_a_pi_is_a_clear_error(tmp_path: Path, song_folder: Path) -> None:
    path = tmp_path / "auto.yaml"
    path.write_text(yaml.safe_dump({**MOCK_CONFIG, "gpio": {"pin_factory": "auto"}}))
    result = subprocess.run(
        [sys.executable, "-m", "party_button", "relays-off", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        "this is not a Raspberry Pi (no board model in /proc/device-tree); "
        "use 'party-button run --simulate' or set gpio.pin_factory: mock"
    )


def simulate(
    config: Config, keys: list[tuple[Callable[[str], bool], str]], env: dict[str, str]
) -> str:
    """Run the simulation, typing each key of ``keys`` once its condition holds of the output
    so far (never after a fixed delay); returns its output.

    Its control socket goes next to the config, away from any daemon of this machine.
    """
    env = {"PARTY_BUTTON_SOCKET": str(config.path.parent / "run" / "control.sock"), **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "party_button", "run", "--simulate", "--config", str(config.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env},
    )
    assert proc.stdin is not None and proc.stdout is not None
    pieces: list[bytes] = []
    reader = threading.Thread(
        target=lambda: pieces.extend(iter(lambda: proc.stdout.read1(4096), b"")), daemon=True
    )
    reader.start()
    shown = lambda: b"".join(pieces).decode(errors="replace")  # noqa: E731
    try:
        for ready, key in keys:
            wait_for(lambda ready=ready: ready(shown()), timeout=30)
            proc.stdin.write(key.encode())
            proc.stdin.flush()
        assert proc.wait(timeout=30) == 0, shown()
        reader.join(timeout=10)
    finally:
        proc.kill()
    return shown()


def idle(out: str) -> bool:
    """Whether the simulation shows its lamps, ready for a key."""
    return "[  idle  ]" in out


def cooled_down(out: str) -> bool:
    """Whether the simulation has shown a party end by itself (the test songs are short)."""
    return "[cooldown]" in out


def test_simulation_shows_lamps_and_song(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    config = make_config()
    out = simulate(config, [(idle, " "), (cooled_down, "q")], {"SDL_AUDIODRIVER": "dummy"})
    assert "[  idle  ] ○ lights  ○ beacon" in out
    assert "[ party  ] ● lights  ● beacon  ♪ song" in out
    assert "[cooldown] ○ lights  ○ beacon" in out
    assert out.rstrip().endswith("Simulation ended; every relay is off.")


def test_simulation_on_a_terminal_keeps_the_log_off_the_lamp_line(
    make_config: Callable[..., Config],
) -> None:
    config = make_config()
    controller, terminal = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "party_button", "run", "--simulate", "--config", str(config.path)],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, "SDL_AUDIODRIVER": "dummy"},
    )
    os.close(terminal)
    screen: list[bytes] = []

    def read() -> None:
        with contextlib.suppress(OSError):  # EIO once the simulation has closed the terminal
            while chunk := os.read(controller, 4096):
                screen.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    shown = lambda: b"".join(screen).decode(errors="replace")  # noqa: E731
    try:
        wait_for(lambda: "[  idle  ]" in shown(), timeout=30)
        os.write(controller, b" ")
        wait_for(lambda: "INFO playing song" in shown(), timeout=30)
        os.write(controller, b"q")
        assert proc.wait(timeout=30) == 0
        reader.join(timeout=10)
    finally:
        proc.kill()
        os.close(controller)
    pieces = re.split(r"[\r\n]", re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", shown()))
    logged = [piece for piece in pieces if " INFO " in piece]
    assert any("press (button) during idle" in piece for piece in logged)
    assert [piece for piece in logged if "○" in piece or "●" in piece] == []
    assert any(piece.startswith("[ party  ] ● lights  ● beacon") for piece in pieces)


def test_simulation_without_a_sound_device_says_it_runs_silent(
    make_config: Callable[..., Config],
) -> None:
    config = make_config({"audio": {"device": "a speaker that is not there"}})
    out = simulate(config, [(idle, "q")], {"SDL_AUDIODRIVER": "no-such-driver"})
    # The configured device is missing, and (with an SDL driver that does not exist) so
    # is the default one, on any machine.
    assert "No sound device (cannot open the default audio device: " in out
    assert "the simulation runs SILENT." in out


def loud(samples: bytes) -> bool:
    """Whether 16-bit ``samples`` hold the test songs' sine tones (0.4 of full scale)."""
    data = np.frombuffer(samples[: len(samples) // 2 * 2], dtype=np.int16)
    return data.size > 0 and int(np.abs(data).max()) > 5000


def test_a_press_produces_real_audio_samples(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    config = make_config()
    before, after = tmp_path / "before.raw", tmp_path / "after.raw"
    simulate(config, [(idle, "q")], {"SDL_AUDIODRIVER": "disk", "SDL_DISKAUDIOFILE": str(before)})
    heard = lambda _out: after.exists() and loud(after.read_bytes())  # noqa: E731
    simulate(
        config,
        [(idle, " "), (heard, "q")],
        {"SDL_AUDIODRIVER": "disk", "SDL_DISKAUDIOFILE": str(after)},
    )
    silent = np.frombuffer(before.read_bytes(), dtype=np.int16)
    sound = np.frombuffer(after.read_bytes(), dtype=np.int16)
    assert silent.size > 0 and np.abs(silent).max() == 0
    assert loud(sound.tobytes())


def test_simulation_uses_the_default_device_when_the_configured_one_is_missing(
    make_config: Callable[..., Config],
) -> None:
    config = make_config({"audio": {"device": "usb speaker"}})
    out = simulate(config, [(idle, "q")], {"SDL_AUDIODRIVER": "dummy"})
    assert "(the configured device 'usb speaker' is not here)" in out
    assert "SILENT" not in out

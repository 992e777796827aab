"""The config schema: every problem reported at once as FILE:LINE: key: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from party_button.config.location import SHIPPED_CONFIG, find_config
from party_button.config.schema import load_config
from party_button.errors import ConfigError
from party_button.testing.config import GOOD, problems_of, run_cli


def test_shipped_config_is_valid() -> None:
    config = load_config(SHIPPED_CONFIG)
    assert [relay.name for relay in config.relays] == ["lights", "beacon", "fog", "strobe"]
    assert config.party.intro_sound is not None and config.party.intro_sound.is_file()


def test_minimal_config_gets_defaults(tmp_path: Path, song_folder: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD)
    config = load_config(path)
    assert config.button.pin == 17 and config.button.pull_up is True
    assert config.relays[0].pin == 5 and config.relays[0].active_high is False
    assert config.songs.folders == (song_folder,)
    assert config.party.on_press == "next"
    assert config.status_led is None


@pytest.mark.parametrize("spec", ["GPIO17", "BCM17", "BOARD11", "J8:11", "17", 17])
def test_pin_names_follow_gpiozero(tmp_path: Path, song_folder: Path, spec: object) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD.replace("pin: GPIO17", f"pin: {spec}"))
    assert load_config(path).button.pin == 17


def test_all_problems_are_reported_with_lines(tmp_path: Path, song_folder: Path) -> None:
    text = """\
gpio: {pin_factory: mocked}
button:
  pin: GPIO17
  hold_tme: 2
  bounce_time: slow
status_led: {pin: BOARD1}
relays:
  - name: lights
    pin: 17
  - name: beacon
    pin: GPIO40
  - name: lights
    pin: 6
    min_interval: 0
songs:
  folders: [songs, missing]
audio: {volume: 1.5}
party: {on_press: nxt}
"""
    assert problems_of(tmp_path, text) == [
        "1: gpio.pin_factory: expected one of auto, lgpio, rpigpio, mock, got 'mocked'"
        " (did you mean 'mock'?)",
        "4: button.hold_tme: unknown key (did you mean 'hold_time'?)",
        "5: button.bounce_time: expected a number, got str 'slow'",
        "6: status_led.pin: BOARD1 is not a GPIO pin on this board (use GPIO17, BOARD11 or 17)",
        "9: relays[0].pin: GPIO17 is already the button's pin",
        "11: relays[1].pin: GPIO40 is not a valid pin name on this board"
        " (use GPIO17, BOARD11 or 17)",
        "12: relays[2].name: 'lights' is already the name of another relay",
        "14: relays[2].min_interval: must be at least 0.02, got 0",
        f"16: songs.folders: folder '{tmp_path / 'missing'}' does not exist",
        "17: audio.volume: must be at most 1, got 1.5",
        "18: party.on_press: expected one of next, stop, ignore, restart, got 'nxt'"
        " (did you mean 'next'?)",
    ]


def test_required_sections(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "songs: {folders: []}\n") == [
        "1: button: is required (a mapping)",
        "1: relays: is required (a list)",
    ]


def test_empty_relay_list_and_wrong_shapes(tmp_path: Path) -> None:
    text = "button: [17]\nrelays: []\nsongs: {folders: [], extensions: [aiff]}\n"
    assert problems_of(tmp_path, text) == [
        "1: button: expected a mapping, got a list",
        "2: relays: needs at least one relay channel",
        "3: songs.extensions: 'aiff' is not a format the mixer plays (use ogg, mp3, wav, flac)",
    ]


def test_missing_sound_file(tmp_path: Path, song_folder: Path) -> None:
    text = GOOD + "party:\n  intro_sound: songs/nope.ogg\n"
    assert problems_of(tmp_path, text) == [
        f"10: party.intro_sound: file '{tmp_path / 'songs' / 'nope.ogg'}' does not exist"
    ]


def test_duplicate_key(tmp_path: Path, song_folder: Path) -> None:
    assert problems_of(tmp_path, GOOD + "gpio: {}\n") == ["9: gpio: key is given twice"]


def test_malformed_yaml(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, "button:\n  pin: [17\n")
    # libyaml says "did not find expected ...", PyYAML's own parser "expected ..., but got".
    assert problem.startswith("3: not valid YAML: ") and "expected ',' or ']'" in problem


def test_not_a_mapping(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "- 1\n") == ["1: expected a mapping at the top, got a list"]


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "absent.yaml")
    assert caught.value.problems == [
        f"{tmp_path / 'absent.yaml'}:1: cannot read the file: No such file or directory"
    ]


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARTY_BUTTON_CONFIG", raising=False)
    monkeypatch.setattr("party_button.config.location.SYSTEM_CONFIG", tmp_path / "etc.yaml")
    assert find_config(None) == SHIPPED_CONFIG
    (tmp_path / "etc.yaml").write_text("")
    assert find_config(None) == tmp_path / "etc.yaml"
    monkeypatch.setenv("PARTY_BUTTON_CONFIG", str(tmp_path / "env.yaml"))
    assert find_config(None) == tmp_path / "env.yaml"
    assert find_config(tmp_path / "cli.yaml") == tmp_path / "cli.yaml"


def test_check_config_command(tmp_path: Path, song_folder: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    result = run_cli("check-config", str(good))
    assert (result.returncode, result.stdout) == (0, f"{good}: OK (1 relay)\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("pin: 5", "pin: 17") + "extra: 1\n")
    result = run_cli("check-config", str(bad))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{bad}:6: relays[0].pin: GPIO17 is already the button's pin",
        f"{bad}:9: extra: unknown key",
    ]


def test_run_refuses_an_invalid_config_without_touching_pins(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("button: {pin: 17}\nrelays: [{name: x, pin: 99}]\n")
    result = run_cli("run", "--config", str(bad))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{bad}:2: relays[0].pin: 99 is not a valid pin name on this board" in result.stderr
    assert "pins claimed" not in result.stderr


def test_usage_error_exits_2() -> None:
    result = run_cli("dance")
    assert result.returncode == 2
    assert "invalid choice: 'dance'" in result.stderr

"""The daemon's service side in-process: reload, status lines, watchdog wake-ups, log fields."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gpiozero import DigitalOutputDevice

from party_button.config.schema import load_config
from party_button.daemon.daemon import Daemon
from party_button.daemon.events import Peer, ReloadRequest, Request
from party_button.daemon.party import Input
from party_button.errors import ConfigError
from party_button.media.audio import PygamePlayer
from party_button.testing import history, press, running_daemon, wait_for, write_tone


@pytest.fixture
def daemon(make_config, mock_factory) -> Iterator[Callable[..., Daemon]]:
    made: list[Daemon] = []

    def make(changes: dict | None = None, **kwargs) -> Daemon:
        made.append(Daemon(make_config(changes), factory=mock_factory, seed=1, **kwargs))
        made[-1].start()
        assert made[-1].library.wait_complete(10)
        return made[-1]

    yield make
    for each in made:
        each.close()


def reload(daemon: Daemon) -> dict:
    answers: list[dict] = []
    daemon.handle(ReloadRequest(reply=answers.append))
    return answers[0]


def test_status_line_says_what_is_going_on(daemon):
    party = daemon()
    assert party.board.text() == "idle, 3 songs"
    party.handle(Request(Input.PRESS))
    assert party.board.text() == f"partying: {party.playing.name}"
    party.handle(Request(Input.STOP))
    assert party.board.text() == "party ending"


def test_status_line_says_when_the_audio_device_is_missing(daemon):
    party = daemon(player=PygamePlayer("no such device"))
    assert party.board.text() == "idle, 3 songs; audio device missing, retrying"


def test_a_broken_config_is_refused_with_check_config_errors(daemon, caplog):
    party = daemon()
    path = party.config.path
    path.write_text(path.read_text().replace("GPIO17", "GPIO5"))
    with pytest.raises(ConfigError) as expected:  # what check-config reports
        load_config(path)
    with caplog.at_level(logging.ERROR):
        answer = reload(party)
    assert answer["ok"] is False
    assert answer["errors"] == expected.value.problems
    for problem in expected.value.problems:
        assert problem in caplog.messages
    assert party.config.button.pin == 17
    assert party.hardware is not None and set(party.hardware.relays) == {"lights", "beacon"}
    assert "reload failed (1 problem(s) in" in party.board.text()


@pytest.mark.parametrize(
    "hostile",
    [
        "l0: &l0 lol\n"
        + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10)),
        "".join(f"typo{i}: 1\n" for i in range(500)),
        "",
    ],
    ids=["alias-bomb", "500-problems", "empty"],
)
def test_a_hostile_config_on_sighup_leaves_the_party_going(daemon, caplog, hostile):
    party = daemon()
    party.handle(Request(Input.PRESS))
    path = party.config.path
    before = path.read_text()
    path.write_text((before if hostile.startswith("typo") else "") + hostile)
    with pytest.raises(ConfigError) as expected:
        load_config(path)
    with caplog.at_level(logging.ERROR):
        party._on_signal(signal.SIGHUP, None)  # what systemctl reload sends
        for event in party.events.wait(0):
            party.handle(event)
    logged = [m for m in caplog.messages if m.startswith(f"{path}:") or m.startswith("...")]
    problems = expected.value.problems
    assert logged[: min(20, len(problems))] == problems[:20]
    if len(problems) > 20:
        assert logged[20:] == [
            f"... and {len(problems) - 20} more (party-button check-config {path})"
        ]
    assert party.machine.phase.value == "party"
    assert party.hardware is not None and party.hardware.relay_states() == {
        "lights": True,
        "beacon": True,
    }
    assert party.config.button.pin == 17 and party.reloader.pending is None


def test_a_good_config_is_applied_at_once_when_idle(daemon, make_config, mock_factory):
    party = daemon()
    make_config({"relays": [{"name": "fog", "pin": "GPIO13", "active_high": True}]})
    answer = reload(party)
    assert answer["ok"] is True and answer["applied"] is True
    assert answer["relays"] == {"fog": False}
    assert party.board.text() == "idle, 3 songs"
    # The old relay pins were released, the new one is claimed and drives off.
    DigitalOutputDevice(5, pin_factory=mock_factory).close()
    assert mock_factory.pin(13).state is False


def test_pins_that_cannot_be_claimed_leave_the_old_config_running(
    daemon, make_config, mock_factory, caplog
):
    party = daemon()
    squatter = DigitalOutputDevice(20, pin_factory=mock_factory)  # another program's pin
    make_config({"relays": [{"name": "lights", "pin": "GPIO20"}]})
    with caplog.at_level(logging.ERROR):
        answer = reload(party)
    squatter.close()
    assert answer["ok"] is False
    assert answer["relays"] == {"lights": False, "beacon": False}
    assert party.config.relays[0].pin == 5
    assert any("new configuration not applied" in message for message in caplog.messages)
    party.handle(Request(Input.PRESS))
    assert party.hardware is not None
    assert party.hardware.relay_states() == {"lights": True, "beacon": True}


def test_idle_daemon_sleeps_without_a_watchdog(daemon, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    party = daemon()
    assert party.next_wakeup(party.clock()) is None


def test_the_watchdog_is_the_only_wake_up_when_idle(daemon, tmp_path, monkeypatch):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify"))
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "6000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    party = daemon()
    now = party.clock()
    assert party.next_wakeup(now) == 0.0  # the first ping is due at once
    party.notifier.watchdog(now)
    assert party.next_wakeup(now) == pytest.approx(3.0)
    assert listener.recv(100) == b"WATCHDOG=1"
    listener.close()


def test_log_records_carry_journal_fields(daemon, caplog):
    party = daemon()
    with caplog.at_level(logging.INFO):
        party.handle(Request(Input.PRESS))
        party.step()
    fields = [
        (key, getattr(record, key))
        for record in caplog.records
        for key in ("EVENT", "RELAY", "SONG", "PHASE")
        if hasattr(record, key)
    ]
    assert fields == [
        ("EVENT", "press"),
        ("RELAY", "lights"),  # one entry per relay: journalctl RELAY=lights finds it
        ("RELAY", "beacon"),
        ("SONG", party.playing.name),
        ("PHASE", "party"),
    ]


def test_a_press_names_its_sender_by_uid_user_name_and_pid(daemon, caplog):
    party = daemon()
    with caplog.at_level(logging.INFO):
        party.handle(Request(Input.PRESS, peer=Peer(pid=4321, uid=0, gid=0)))
        party.handle(Request(Input.STOP, peer=Peer(pid=4322, uid=4_000_000, gid=0)))
    said = [r.getMessage() for r in caplog.records if getattr(r, "EVENT", None)]
    assert said[0] == "press (control, uid 0 (root) pid 4321) during idle"
    assert said[1].startswith("stop (control, uid 4000000 (unknown user) pid 4322) during ")


def test_shutdown_logs_every_relay_off(daemon, caplog):
    party = daemon()
    party.handle(Request(Input.PRESS))
    with caplog.at_level(logging.INFO):
        party.close()
    assert "shutdown: lights off, beacon off" in caplog.messages


def test_daemon_socket_is_removed_on_close(daemon, tmp_path):
    path = Path(tmp_path / "run" / "control.sock")
    party = daemon(control_path=path)
    assert path.exists()
    party.close()
    assert not path.exists()


def test_a_reload_with_other_songs_folders_plays_from_them_at_the_next_press(
    make_config, mock_factory, tmp_path
):
    elsewhere = tmp_path / "elsewhere"
    write_tone(elsewhere / "fresh.ogg", 0.6, 600.0)
    with running_daemon(make_config(), mock_factory) as daemon:
        make_config({"songs": {"folders": [str(elsewhere)]}})
        answered = threading.Event()
        daemon.events.put(ReloadRequest(reply=lambda answer: answered.set()))
        assert answered.wait(10)
        # The song prepared from the old folder goes with the old library.
        wait_for(lambda: daemon.player.prepared == elsewhere / "fresh.ogg", timeout=30)
        mark = history(daemon).mark()
        press(mock_factory)
        assert history(daemon).wait(lambda s: s.phase == "party", after=mark).playing == "fresh.ogg"

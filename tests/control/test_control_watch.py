"""The watch stream of a running daemon: state lines, event lines, limits, the CLI."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from party_button.control import server as control
from party_button.control.client import send_command, watch
from party_button.control.watch import PROTOCOL_VERSION, STATE_FIELDS, StateFeed, describe
from party_button.daemon.daemon import Daemon
from party_button.errors import ControlError
from party_button.testing import press, running_daemon, wait_for, write_tone

GIVE_UP = 20.0


class Watcher:
    """Reads a watch stream in a thread, so the test can wait for the message it expects."""

    def __init__(self, path: Path) -> None:
        self.messages: list[dict] = []
        self.ended = threading.Event()
        self._stream = watch(path)
        self.messages.append(next(self._stream))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for message in self._stream:
                self.messages.append(message)
        except ControlError as exc:
            self.messages.append({"error": str(exc)})
        self.ended.set()

    def wait(self, wanted: Callable[[dict], bool], after: int = 0) -> dict:
        """The first message from index ``after`` on that ``wanted`` accepts."""
        found: list[dict] = []

        def seen() -> bool:
            found[:] = [m for m in self.messages[after:] if wanted(m)]
            return bool(found)

        try:
            wait_for(seen, GIVE_UP)
        except AssertionError:
            pytest.fail(f"no such message in {self.messages[after:]}")
        return found[0]

    def events(self) -> list[tuple[str, str]]:
        return [
            (m["event"], m.get("source", "")) for m in self.messages if m.get("type") == "event"
        ]


@pytest.fixture
def served(make_config, mock_factory, tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Start a running daemon with a control socket (``changes`` go into the config)."""
    started = []

    def start(changes: dict | None = None) -> Daemon:
        context = running_daemon(
            make_config(changes), mock_factory, control_path=tmp_path / "run" / "control.sock"
        )
        started.append(context)
        return context.__enter__()

    yield start
    for context in reversed(started):
        context.__exit__(None, None, None)


def allowed(path: Path, command: str) -> dict:
    """The answer to ``command``, sent again while it comes too soon after the last one."""
    answers: list[dict] = []

    def answered() -> bool:
        answers.append(send_command(path, command))
        return not answers[-1].get("error", "").startswith(f"too many {command} commands")

    wait_for(answered, GIVE_UP)
    return answers[-1]


def path_of(daemon: Daemon) -> Path:
    assert daemon.control_path is not None
    return daemon.control_path


def test_the_first_line_is_the_whole_state(served):
    daemon = served()
    [first] = Watcher(path_of(daemon)).messages
    assert first["v"] == PROTOCOL_VERSION and first["type"] == "state"
    assert first["changed"] == list(STATE_FIELDS)
    assert {name: first[name] for name in STATE_FIELDS} == {
        "phase": "idle",
        "relays": {"lights": False, "beacon": False},
        "playing": None,
        "position": 0.0,
        "audio": daemon.conductor.audio_status,
        "songs": 3,
        "status": "idle, 3 songs",
        "config": str(daemon.config.path),
        "reload_pending": False,
        "reload_error": None,
        "length": None,
        "next_phase": None,
    }


def test_a_button_press_is_an_event_then_a_state_change(served, mock_factory):
    daemon = served()
    watcher = Watcher(path_of(daemon))
    press(mock_factory)
    event = watcher.wait(lambda m: m.get("event") == "press")
    assert (event["type"], event["source"], event["during"]) == ("event", "button", "idle")
    index = watcher.messages.index(event)
    state = watcher.wait(lambda m: m.get("phase") == "party", after=index)
    assert {"phase", "relays", "playing", "status"} <= set(state["changed"])
    assert state["relays"] == {"lights": True, "beacon": True}
    assert state["playing"] in {"song0.ogg", "song1.ogg", "song2.ogg"}
    # The song (0.6 s) plays to its end: the party ends and the relays go off.
    idle = watcher.wait(lambda m: m.get("phase") == "idle", after=index)
    assert idle["relays"] == {"lights": False, "beacon": False}


def test_the_position_moves_on_once_a_second(served, song_folder):
    for song in song_folder.iterdir():
        write_tone(song, 3.5)
    daemon = served()
    watcher = Watcher(path_of(daemon))
    send_command(path_of(daemon), "press")
    ticks = [
        watcher.wait(lambda m, s=second: m.get("changed") == ["position"] and m["position"] >= s)
        for second in (1, 2, 3)
    ]
    assert [int(tick["position"]) for tick in ticks] == [1, 2, 3]
    positions = [m["position"] for m in watcher.messages if m.get("changed") == ["position"]]
    assert len(positions) == len({int(p) for p in positions})  # one line a second


def test_commands_are_events_with_who_sent_them(served):
    daemon = served({"party": {"on_press": "ignore"}})
    path = path_of(daemon)
    watcher = Watcher(path)
    assert send_command(path, "press")["ok"] is True
    playing = watcher.wait(lambda m: m.get("playing") is not None)["playing"]
    assert allowed(path, "next")["ok"] is True
    watcher.wait(lambda m: "playing" in m.get("changed", ()) and m["playing"] != playing)
    assert send_command(path, "stop")["ok"] is True
    watcher.wait(lambda m: m.get("phase") == "cooldown")
    answer = allowed(path, "next")
    assert answer["ok"] is False and answer["error"] == "nothing to skip: no song is playing"
    watcher.wait(lambda m: m.get("event") == "next" and m["during"] == "cooldown")
    events = [m for m in watcher.messages if m.get("type") == "event"]
    assert [(m["event"], m["during"]) for m in events[:4]] == [
        ("press", "idle"),
        ("next", "party"),
        ("stop", "party"),
        ("next", "cooldown"),
    ]
    assert {(m["source"], m["uid"], m["pid"]) for m in events} == {
        ("control", os.getuid(), os.getpid())
    }


def test_a_hold_is_a_button_event(served, mock_factory):
    daemon = served()
    watcher = Watcher(path_of(daemon))
    press(mock_factory)
    watcher.wait(lambda m: m.get("phase") == "party")
    press(mock_factory, seconds=daemon.config.button.hold_time + 0.3)
    watcher.wait(lambda m: m.get("event") == "hold")
    assert ("hold", "button") in watcher.events()
    watcher.wait(lambda m: m.get("phase") in ("cooldown", "idle") and "phase" in m["changed"])


def test_a_reload_is_an_event_and_its_failure_is_state(served):
    daemon = served()
    path = path_of(daemon)
    watcher = Watcher(path)
    config = daemon.config.path
    good = config.read_text()
    config.write_text(good + "typo: 1\n")
    assert send_command(path, "reload")["ok"] is False
    event = watcher.wait(lambda m: m.get("event") == "reload")
    assert (event["ok"], event["problems"], event["source"]) == (False, 1, "control")
    failed = watcher.wait(lambda m: m.get("reload_error") is not None)
    assert failed["reload_error"] == f"1 problem(s) in {config}"
    config.write_text(good)
    assert allowed(path, "reload")["ok"] is True
    watcher.wait(lambda m: m.get("event") == "reload" and m["ok"])
    watcher.wait(lambda m: "reload_error" in m.get("changed", ()) and m["reload_error"] is None)


def test_the_stream_ends_with_stopping_when_the_daemon_stops(make_config, mock_factory, tmp_path):
    path = tmp_path / "run" / "control.sock"
    with running_daemon(make_config(), mock_factory, control_path=path):
        watcher = Watcher(path)
    assert watcher.ended.wait(GIVE_UP)
    assert watcher.messages[-1]["event"] == "stopping"


def test_watchers_are_limited(served, monkeypatch):
    monkeypatch.setattr(control, "MAX_WATCHERS", 2)
    daemon = served()
    first, second = Watcher(path_of(daemon)), Watcher(path_of(daemon))
    with pytest.raises(
        ControlError, match=r"refused to be watched: too many watchers \(2 at most\)"
    ):
        next(watch(path_of(daemon)))
    assert first.messages and second.messages
    assert send_command(path_of(daemon), "status")["ok"] is True


def test_a_watcher_that_does_not_read_is_dropped_and_the_daemon_goes_on(
    served, mock_factory, monkeypatch, caplog
):
    monkeypatch.setattr(control, "WATCH_BACKLOG", 2048)
    monkeypatch.setattr(control, "SEND_BUFFER", 1)  # the kernel's smallest send buffer
    daemon = served({"party": {"cooldown": 0.0}})
    path = path_of(daemon)
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(str(path))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
    stalled.sendall(b"watch\n")  # ... and never reads
    reader = Watcher(path)
    wait_for(lambda: daemon.control is not None and len(daemon.control._clients) == 2, GIVE_UP)
    presses = 0
    while len(daemon.control._clients) == 2:  # each press during a party is a new song
        press(mock_factory)
        presses += 1
        assert presses < 500, "the stalled watcher was never dropped"
    assert any(
        message.startswith(f"control socket: dropped watcher uid {os.getuid()} pid")
        and message.endswith("bytes unread")
        for message in caplog.messages
    )
    assert send_command(path, "status")["ok"] is True
    count = len(reader.messages)
    press(mock_factory)
    reader.wait(lambda m: m.get("event") == "press", after=count)  # the reader still gets all
    stalled.close()


def _phase_of(line: str, raw: bool) -> str | None:
    """The phase a printed watch line changes to, if it changes the phase."""
    if raw:
        message = json.loads(line)
        return message["phase"] if "phase" in message.get("changed", ()) else None
    for part in line.rstrip("\n").split(" ", 1)[1].split(" | "):
        if part.startswith("phase "):
            return part.removeprefix("phase ")
    return None


@pytest.mark.parametrize("raw", [False, True], ids=["human", "json"])
def test_status_watch_prints_one_line_per_change(served, mock_factory, raw):
    daemon = served()
    command = [sys.executable, "-m", "party_button", "status", "--watch"]
    command += ["--socket", str(path_of(daemon))] + (["--json"] if raw else [])
    cli = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    printed: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [printed.put(line) for line in cli.stdout], daemon=True).start()
    lines = [printed.get(timeout=GIVE_UP)]
    press(mock_factory)
    phases = []
    while not ("party" in phases and phases[-1] == "idle"):
        lines.append(printed.get(timeout=GIVE_UP))
        if (phase := _phase_of(lines[-1], raw)) is not None:
            phases.append(phase)
    cli.terminate()
    cli.wait(timeout=GIVE_UP)
    if raw:
        messages = [json.loads(line) for line in lines]
        assert messages[0]["type"] == "state" and messages[0]["phase"] == "idle"
        assert [m["source"] for m in messages if m.get("event") == "press"] == ["button"]
    else:
        text = [line.rstrip("\n").split(" ", 1)[1] for line in lines]
        assert text[0].startswith("phase idle | relays lights off, beacon off | playing nothing")
        assert "press (button) during idle" in text
        assert any(
            line.startswith("phase party | relays lights on, beacon on | playing song")
            for line in text
        )


def test_describe_reads_like_a_log():
    feed = StateFeed()
    status = {name: None for name in STATE_FIELDS}
    status.update(
        phase="party",
        relays={"lights": True, "fog": False},
        playing="a.ogg",
        position=83.4,
        audio="default",
        songs=3,
        status="partying: a.ogg",
        config="/etc/party-button/config.yaml",
        reload_pending=False,
    )
    assert describe(feed.full(status)).split(" ", 1)[1] == (
        "phase party | relays lights on, fog off | playing a.ogg | at 1:23 | audio default"
        " | songs 3 | config /etc/party-button/config.yaml"
    )
    assert feed.changes({**status, "position": 83.9}) is None  # the same second
    moved = feed.changes({**status, "position": 84.0})
    assert moved is not None and moved["changed"] == ["position"] and moved["position"] == 84.0
    assert describe(moved).split(" ", 1)[1] == "at 1:24"
    assert describe(
        {
            "type": "event",
            "event": "press",
            "source": "control",
            "uid": 0,
            "pid": 7,
            "during": "idle",
        }
    ).endswith(" press (control, uid 0 pid 7) during idle")
    assert describe({"type": "event", "event": "reload", "ok": False, "problems": 2}).endswith(
        " reload refused: 2 problem(s)"
    )


def test_hold_sent_over_the_socket_is_the_panic_stop(served):
    daemon = served()
    path = path_of(daemon)
    watcher = Watcher(path)
    send_command(path, "press")
    party = watcher.wait(lambda m: m.get("phase") == "party")
    assert send_command(path, "hold")["ok"] is True
    event = watcher.wait(lambda m: m.get("event") == "hold")
    assert (event["source"], event["during"]) == ("control", "party")
    after = watcher.wait(
        lambda m: "phase" in m.get("changed", ()), after=watcher.messages.index(party) + 1
    )
    # No fade: straight from the party to the cooldown, relays off and nothing playing.
    assert after["phase"] == "cooldown"
    assert after["relays"] == {"lights": False, "beacon": False}
    assert after["playing"] is None


def test_the_next_phase_and_the_length_come_with_the_state(served):
    daemon = served({"party": {"cooldown": 2.0}})
    path = path_of(daemon)
    watcher = Watcher(path)
    send_command(path, "press")
    party = watcher.wait(lambda m: m.get("phase") == "party" and m.get("playing"))
    assert party["next_phase"] == {"phase": "ending", "in": None}  # when the song ends
    assert party["length"] == pytest.approx(0.6, abs=0.05)  # the songs are 0.6 s tones
    cooldown = watcher.wait(lambda m: m.get("phase") == "cooldown")
    assert cooldown["next_phase"]["phase"] == "idle"
    assert 0.0 < cooldown["next_phase"]["in"] <= 2.0
    assert cooldown["length"] is None
    idle = watcher.wait(lambda m: m.get("phase") == "idle", after=watcher.messages.index(cooldown))
    assert idle["next_phase"] is None


def test_a_countdown_alone_sends_no_line():
    feed = StateFeed()
    status = {name: None for name in STATE_FIELDS}
    status.update(phase="cooldown", position=0.0, next_phase={"phase": "idle", "in": 2.0})
    feed.full(status)
    assert feed.changes({**status, "next_phase": {"phase": "idle", "in": 1.2}}) is None
    changed = feed.changes({**status, "phase": "idle", "next_phase": None})
    assert changed is not None and changed["changed"] == ["phase", "next_phase"]
    assert describe(
        {**changed, "changed": ["next_phase"], "next_phase": {"phase": "idle", "in": 1.5}}
    ).endswith("then idle in 1.5 s")

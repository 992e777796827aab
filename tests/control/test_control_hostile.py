"""Clients that hold, flood or abuse the control socket of a running daemon.

The daemon runs its real loop (in a thread, or as a process where its file descriptors
must run out) on mock pins with pygame on SDL's dummy driver; every client is a real
``AF_UNIX`` socket. Whatever a client does, the daemon goes on answering everyone else.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from party_button.beats.grid import BeatGrid, SongStamp, save_grid
from party_button.control import server as control
from party_button.control.client import send_command
from party_button.control.server import ControlServer
from party_button.daemon.daemon import Daemon
from party_button.daemon.events import EventQueue
from party_button.errors import ControlError
from party_button.testing import running_daemon, wait_for

GIVE_UP = 20.0  # seconds after which a wait fails the test (never reached when it passes)


@pytest.fixture
def served(make_config, mock_factory, tmp_path: Path) -> Iterator[Daemon]:
    """A running daemon with its control socket in ``tmp_path/run``."""
    path = tmp_path / "run" / "control.sock"
    with running_daemon(make_config(), mock_factory, control_path=path) as daemon:
        yield daemon


def socket_of(daemon: Daemon) -> Path:
    assert daemon.control_path is not None
    return daemon.control_path


def connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(GIVE_UP)
    sock.connect(str(path))
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the daemon sends until it hangs up."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def hung_up(sock: socket.socket) -> bool:
    """Whether the daemon has closed its end, seen without reading a byte."""
    poller = select.poll()
    poller.register(sock, select.POLLRDHUP)
    return bool(poller.poll(0))


def answer_of(sock: socket.socket) -> dict:
    return json.loads(read_all(sock).split(b"\n")[0])


def clients(daemon: Daemon) -> int:
    assert daemon.control is not None
    return len(daemon.control._clients)


def test_a_connection_that_sends_nothing_is_dropped(served, monkeypatch):
    monkeypatch.setattr(control, "REQUEST_TIMEOUT", 0.3)
    with connect(socket_of(served)) as idle:
        wait_for(lambda: clients(served) == 1, GIVE_UP)
        assert read_all(idle) == b""  # hung up on, without an answer
    assert clients(served) == 0
    assert send_command(socket_of(served), "status")["ok"] is True


def test_a_line_that_never_ends_is_dropped_even_while_bytes_trickle_in(served, monkeypatch):
    monkeypatch.setattr(control, "REQUEST_TIMEOUT", 0.3)
    with connect(socket_of(served)) as slow:
        slow.settimeout(0.02)
        deadline = time.monotonic() + GIVE_UP
        dropped = False
        while not dropped and time.monotonic() < deadline:
            try:
                slow.send(b"s")
                dropped = slow.recv(100) == b""
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                dropped = True
        assert dropped
    assert send_command(socket_of(served), "status")["ok"] is True


def test_too_many_connections_in_all_are_refused_with_a_reason(served, monkeypatch):
    monkeypatch.setattr(control, "MAX_CONNECTIONS", 4)
    monkeypatch.setattr(control, "MAX_PER_PROCESS", 100)
    path = socket_of(served)
    held = [connect(path) for _ in range(4)]
    wait_for(lambda: clients(served) == 4, GIVE_UP)
    with connect(path) as extra:
        assert answer_of(extra) == {"ok": False, "error": "too many connections (4 at most)"}
    held.pop().close()
    wait_for(lambda: clients(served) == 3, GIVE_UP)
    assert send_command(path, "status")["ok"] is True
    for sock in held:
        sock.close()


def test_one_process_cannot_take_every_connection(served, monkeypatch):
    monkeypatch.setattr(control, "MAX_PER_PROCESS", 3)
    path = socket_of(served)
    held = [connect(path) for _ in range(3)]
    wait_for(lambda: clients(served) == 3, GIVE_UP)
    with connect(path) as extra:
        assert answer_of(extra) == {
            "ok": False,
            "error": f"too many connections from process {os.getpid()} (3 at most)",
        }
    other = subprocess.run(
        [sys.executable, "-m", "party_button", "status", "--socket", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 0, other.stderr  # another process is still served
    assert json.loads(other.stdout)["phase"] == "idle"
    for sock in held:
        sock.close()


@pytest.mark.parametrize("line", [b"p" * 300, b"p" * 300 + b"\n", b"status" + b" " * 250 + b"\n"])
def test_a_long_line_is_refused(served, line):
    with connect(socket_of(served)) as sock:
        sock.sendall(line)
        assert answer_of(sock) == {"ok": False, "error": "request longer than 256 bytes"}
    assert send_command(socket_of(served), "status")["ok"] is True


def test_binary_garbage_is_an_unknown_command(served):
    with connect(socket_of(served)) as sock:
        sock.sendall(b"\xff\xfe\x00\x01press\x9b\n")
        answer = answer_of(sock)
    assert answer["ok"] is False
    assert answer["error"].startswith("unknown command '\ufffd\ufffd\\x00\\x01press\ufffd'")
    assert served.machine.phase.value == "idle"  # "press" hidden in garbage is not a press


def test_clients_that_never_read_their_answers_are_not_waited_for(served):
    path = socket_of(served)
    silent = []
    for _ in range(6):
        sock = connect(path)
        sock.sendall(b"status\n")
        silent.append(sock)  # never read, never closed until the end
    for sock in silent:
        wait_for(lambda sock=sock: hung_up(sock), GIVE_UP)  # the daemon let go of each one
    assert clients(served) == 0
    assert send_command(path, "status")["ok"] is True
    for sock in silent:
        assert answer_of(sock)["phase"] == "idle"  # the answer was there all along
        sock.close()


def test_a_flood_of_presses_is_answered_and_limited(served):
    path = socket_of(served)
    started = time.monotonic()
    answers = [send_command(path, "press") for _ in range(60)]
    elapsed = time.monotonic() - started
    accepted = [answer for answer in answers if answer["ok"]]
    refused = [answer for answer in answers if not answer["ok"]]
    assert answers[0]["ok"] is True
    assert refused and {answer["error"] for answer in refused} == {
        "too many press commands: one each 0.25 s"
    }
    assert len(accepted) <= elapsed / control.COMMAND_INTERVALS["press"] + 1
    assert send_command(path, "stop")["ok"] is True  # stop is never limited
    wait_for(lambda: send_command(path, "status")["phase"] in ("idle", "cooldown"), GIVE_UP)


def test_a_watcher_that_talks_after_watch_is_dropped(served):
    with connect(socket_of(served)) as sock:
        sock.sendall(b"watch\n")
        sock.makefile("rb").readline()
        wait_for(lambda: served.control is not None and served.control.watching, GIVE_UP)
        sock.sendall(b"status\n")
        assert read_all(sock) == b""
    wait_for(lambda: clients(served) == 0, GIVE_UP)


RUN = [sys.executable, "-m", "party_button", "run"]


class DaemonProcess:
    """``party-button run`` as a process of its own, to lower its file descriptor limit."""

    def __init__(self, config: Path, socket_path: Path, log_path: Path) -> None:
        self.socket_path = socket_path
        self.log_path = log_path
        environ = {**os.environ, "SDL_AUDIODRIVER": "dummy"}
        for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "RUNTIME_DIRECTORY"):
            environ.pop(name, None)
        with log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                [*RUN, "--config", str(config), "--socket", str(socket_path)],
                env=environ,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def ready(self) -> bool:
        assert self.process.poll() is None, self.log
        try:
            return send_command(self.socket_path, "status")["ok"] is True
        except ControlError:
            return False

    def open_files(self) -> list[int]:
        return [int(fd) for fd in os.listdir(f"/proc/{self.process.pid}/fd")]

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(timeout=GIVE_UP)


def test_running_out_of_file_descriptors_refuses_clients_and_recovers(
    make_config, song_folder, tmp_path
):
    config = make_config()
    for song in song_folder.iterdir():  # beat grids ready: no analysis opens files meanwhile
        beats = tuple(0.5 * n for n in range(2))
        save_grid(song, BeatGrid(120.0, beats, beats[:1], 4, SongStamp.of(song), "known"))
    daemon = DaemonProcess(config.path, tmp_path / "run" / "control.sock", tmp_path / "log")
    try:
        wait_for(daemon.ready, GIVE_UP)
        # Room for a few more descriptors only (besides the gaps among those open now).
        limit = max(daemon.open_files()) + 3
        resource.prlimit(daemon.process.pid, resource.RLIMIT_NOFILE, (limit, limit))
        watchers: list[socket.socket] = []
        # Each accepted watcher holds a descriptor; the library's thread opens and closes
        # some of its own (folders, songs), so a refusal is waited for, not assumed.
        for _again in range(3):  # refused again and again, logged once
            wait_for(lambda: _refused_or_held(daemon.socket_path, watchers), GIVE_UP)
        assert len(watchers) < control.MAX_PER_PROCESS
        for sock in watchers:
            sock.close()
        wait_for(daemon.ready, GIVE_UP)
        assert daemon.log.count("out of file descriptors (Too many open files)") == 1
        assert "file descriptors available again" in daemon.log
        assert daemon.stop() == 0
        assert "Traceback" not in daemon.log
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()


def _refused_or_held(path: Path, watchers: list[socket.socket]) -> bool:
    """Whether a new watcher of the daemon at ``path`` is refused for want of descriptors;
    one that is accepted is kept in ``watchers``, holding a descriptor of the daemon's."""
    sock = connect(path)
    with contextlib.suppress(BrokenPipeError):  # a refusal may come before the request
        sock.sendall(b"watch\n")
    first = json.loads(sock.makefile("rb").readline())
    if first.get("ok") is not False:
        watchers.append(sock)
        return False
    sock.close()
    assert first == {
        "ok": False,
        "error": "the daemon is out of file descriptors; try again later",
    }
    return True


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_socket_folder_made_by_another_user_is_refused(tmp_path):
    folder = tmp_path / "party-button-0"
    folder.mkdir(mode=0o700)
    planted = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    planted.bind(str(folder / "control.sock"))  # a socket nobody answers on: "stale"
    planted.close()
    os.chown(folder, 4242, 4242)
    with pytest.raises(ControlError) as refused:
        ControlServer(folder / "control.sock", EventQueue(), lambda *_request: None)
    assert str(refused.value) == (
        f"{folder} belongs to uid 4242, not to this user (uid 0); someone else may have made "
        "it: remove it, or choose another place with --socket or $PARTY_BUTTON_SOCKET"
    )
    assert [path.name for path in folder.iterdir()] == ["control.sock"]  # left alone


def test_a_socket_folder_that_is_a_symbolic_link_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / "party-button-0").symlink_to(elsewhere)
    with pytest.raises(ControlError, match="party-button-0 is a symbolic link, not a folder"):
        ControlServer(
            tmp_path / "party-button-0" / "control.sock", EventQueue(), lambda *_request: None
        )
    assert list(elsewhere.iterdir()) == []


def test_a_socket_folder_others_may_write_is_refused(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(ControlError, match=r"may be changed by other users \(mode 0777\)"):
        ControlServer(folder / "control.sock", EventQueue(), lambda *_request: None)
    folder.chmod(0o1777)  # sticky, like /tmp: others cannot replace this user's files
    queue = EventQueue()
    ControlServer(folder / "control.sock", queue, queue.put_command).close()
    queue.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_run_refuses_a_fallback_folder_in_tmp_made_by_someone_else(make_config, tmp_path):
    """With no runtime directory the socket goes to $TMPDIR/party-button-UID."""
    config = make_config()
    temp = tmp_path / "tmp"
    squatted = temp / f"party-button-{os.getuid()}"
    squatted.mkdir(parents=True)
    os.chown(squatted, 4242, 4242)
    environ = {**os.environ, "TMPDIR": str(temp), "SDL_AUDIODRIVER": "dummy"}
    for name in ("PARTY_BUTTON_SOCKET", "RUNTIME_DIRECTORY", "XDG_RUNTIME_DIR", "NOTIFY_SOCKET"):
        environ.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "party_button", "run", "--config", str(config.path)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"{squatted} belongs to uid 4242, not to this user" in result.stderr
    assert "Traceback" not in result.stderr
    assert "pins claimed" not in result.stderr  # refused before any pin was touched


def test_a_client_that_never_reads_a_long_answer_is_dropped(
    make_config, mock_factory, tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr(control, "SEND_BUFFER", 1)  # the kernel's smallest send buffer
    monkeypatch.setattr(control, "ANSWER_TIMEOUT", 0.3)
    # Relays with long names make a status answer larger than that buffer.
    pins = (5, 6, 13, 16, 19, 20, 21, 22, 23, 24, 25, 26, 27)
    relays = [{"name": f"{'relay' * 200}{pin}", "pin": pin} for pin in pins]
    path = tmp_path / "run" / "control.sock"
    with running_daemon(make_config({"relays": relays}), mock_factory, control_path=path) as daemon:
        with connect(path) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
            sock.sendall(b"status\n")  # ... and never reads
            wait_for(lambda: hung_up(sock), GIVE_UP)
            assert clients(daemon) == 0
            dropped = f"control socket: dropped uid {os.getuid()} pid {os.getpid()}: it did not"
            assert f"{dropped} read its answer" in caplog.messages
            received = read_all(sock)
        assert len(received) > 0 and not received.endswith(b"\n")  # cut off, never all sent
        monkeypatch.setattr(control, "SEND_BUFFER", 64 * 1024)
        assert len(send_command(path, "status")["relays"]) == len(pins)


def test_a_flood_of_refused_connections_is_one_warning_a_minute(served, monkeypatch, caplog):
    monkeypatch.setattr(control, "MAX_PER_PROCESS", 2)
    path = socket_of(served)
    held = [connect(path) for _ in range(2)]
    wait_for(lambda: clients(served) == 2, GIVE_UP)
    refused = f"too many connections from process {os.getpid()} (2 at most)"
    with caplog.at_level(logging.DEBUG, logger="party_button.control.server"):
        for _ in range(50):
            with connect(path) as extra:
                assert answer_of(extra) == {"ok": False, "error": refused}
    about = [record for record in caplog.records if refused in record.getMessage()]
    assert len(about) == 50
    assert [record.levelno for record in about].count(logging.WARNING) == 1
    for sock in held:
        sock.close()


GOOD_FOLLOW = {"song": "a.ogg", "id": 1, "heard_at": 1.0, "lease": 1.0}


@pytest.mark.parametrize(
    ("argument", "error"),
    [
        (b"", "follow: the argument is not JSON"),
        (b"[1, 2]", "follow: the argument must be a JSON object"),
        (json.dumps({**GOOD_FOLLOW, "path": "/etc/shadow"}).encode(), "unknown field 'path'"),
        (b'{"song": "a.ogg"}', "follow: missing id, heard_at, lease"),
        (json.dumps({**GOOD_FOLLOW, "song": "../../etc/shadow"}).encode(), "without '/'"),
        (json.dumps({**GOOD_FOLLOW, "song": "a\u0007.ogg"}).encode(), "control characters"),
        (json.dumps({**GOOD_FOLLOW, "song": "x" * 256}).encode(), "1 to 255 characters"),
        (json.dumps({**GOOD_FOLLOW, "heard_at": "soon"}).encode(), "heard_at: expected a number"),
        (json.dumps({**GOOD_FOLLOW, "heard_at": 1e300}).encode(), "heard_at: expected a number"),
        (b'{"song": null, "id": 1, "heard_at": NaN, "lease": 1}', "heard_at: expected a number"),
        (json.dumps({**GOOD_FOLLOW, "lease": 0}).encode(), "lease: expected a number above 0"),
        (json.dumps({**GOOD_FOLLOW, "lease": 3600}).encode(), "lease: expected a number"),
        (json.dumps({**GOOD_FOLLOW, "id": True}).encode(), "id: expected a whole number"),
        (json.dumps({**GOOD_FOLLOW, "beats": [1.0, 0.5]}).encode(), "beats: expected increasing"),
        (json.dumps({**GOOD_FOLLOW, "beats": "0.5"}).encode(), "beats: expected a list"),
        (json.dumps({**GOOD_FOLLOW, "beats": [0.5], "downbeats": [0.7]}).encode(), "one of the"),
        (
            json.dumps({**GOOD_FOLLOW, "beats": [k / 10 for k in range(8193)]}).encode(),
            "beats: expected a list of at most 8192 times",
        ),
        (json.dumps({**GOOD_FOLLOW, "same_grid": 1}).encode(), "same_grid: expected true or"),
        (
            json.dumps({**GOOD_FOLLOW, "same_grid": True, "beats": [0.5]}).encode(),
            "same_grid: true only with a song and without tempo_bpm, beats",
        ),
        (
            json.dumps({**GOOD_FOLLOW, "song": None, "same_grid": True}).encode(),
            "same_grid: true only with a song",
        ),
    ],
)
def test_a_bad_follow_argument_is_refused_with_its_field_and_changes_nothing(
    served, argument, error
):
    with connect(socket_of(served)) as sock:
        sock.sendall(b"follow " + argument + b"\n")
        answer = answer_of(sock)
    assert answer["ok"] is False
    assert answer["error"].startswith("follow: ") and error in answer["error"], answer
    assert "phase" not in answer  # refused by the socket: the daemon never saw it
    status = send_command(socket_of(served), "status")
    assert (status["phase"], status["playing"]) == ("idle", None)


def test_an_argument_to_a_command_without_one_is_refused(served):
    with connect(socket_of(served)) as sock:
        sock.sendall(b"press now\n")
        assert answer_of(sock) == {"ok": False, "error": "press takes no argument"}
    assert send_command(socket_of(served), "status")["phase"] == "idle"


def test_a_follow_line_beyond_its_limit_is_refused_before_it_ends(served):
    limit = control.MAX_FOLLOW_REQUEST
    with connect(socket_of(served)) as sock:
        sock.sendall(b"follow " + b"[" * (limit - len(b"follow ")))  # no end of line yet
        answer = answer_of(sock)
    assert answer == {"ok": False, "error": f"request longer than {limit} bytes"}
    assert clients(served) == 0
    assert send_command(socket_of(served), "status")["ok"] is True


def test_a_flood_of_follows_is_limited(served):
    path = socket_of(served)
    line = b"follow " + json.dumps(GOOD_FOLLOW).encode() + b"\n"
    answers = []
    for _ in range(20):
        with connect(path) as sock:
            sock.sendall(line)
            answers.append(answer_of(sock))
    refused = {answer["error"] for answer in answers if "too many" in answer.get("error", "")}
    assert refused == {"too many follow commands: one each 0.05 s"}
    # every one that passed the limit reached the daemon, which is no room and says so
    assert {a["error"] for a in answers if "phase" in a} == {
        "follow: this daemon is no sync room (sync.role)"
    }

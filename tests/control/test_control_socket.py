"""The control socket server and client over real Unix sockets, and where the socket lives."""

from __future__ import annotations

import dataclasses
import grp
import json
import os
import shutil
import socket
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from party_button.cli.main import main
from party_button.control.client import send_command
from party_button.control.protocol import SYSTEM_SOCKET, client_socket_path, daemon_socket_path
from party_button.control.server import ControlServer
from party_button.daemon.events import REQUESTS, Event, EventQueue
from party_button.errors import ControlError
from party_button.testing.users import run_as


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ControlServer]:
    queue = EventQueue()
    control = ControlServer(tmp_path / "run" / "control.sock", queue, queue.put_command)
    yield control
    control.close()
    queue.close()


def kind(event: Event) -> str:
    """The control command that ``event`` stands for."""
    anonymous = dataclasses.replace(event, peer=None)
    argument = getattr(event, "order", None)
    return next(name for name, make in REQUESTS.items() if make(None, argument) == anonymous)


def serve(server: ControlServer, client: Callable[[], object], answer: dict | None = None):
    """Run ``client`` in a thread while this thread plays the daemon's loop."""
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["value"] = client()
        except Exception as exc:
            result["value"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    events = []
    while thread.is_alive():
        for event in server.queue.wait(0.05):
            events.append(event)
            event.reply({"ok": True, "kind": kind(event), **(answer or {})})
    thread.join()
    return result["value"], events


def raw_request(path: Path, *chunks: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        for chunk in chunks:
            sock.sendall(chunk)
        return json.loads(sock.makefile("rb").readline())


def test_socket_is_created_for_owner_and_group_only(server):
    info = server.path.stat()
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o660


@pytest.mark.parametrize("command", ["press", "stop", "next", "hold", "status", "reload"])
def test_each_command_becomes_an_event_and_its_answer_comes_back(server, command):
    answer, events = serve(server, lambda: send_command(server.path, command))
    assert [kind(event) for event in events] == [command]
    assert answer == {"ok": True, "kind": command}


def test_a_request_split_over_several_writes_is_put_together(server):
    answer, events = serve(server, lambda: raw_request(server.path, b"pre", b"ss\n"))
    assert answer == {"ok": True, "kind": "press"}
    assert len(events) == 1


def test_an_unknown_command_is_answered_without_reaching_the_daemon(server):
    answer, events = serve(server, lambda: raw_request(server.path, b"dance\n"))
    assert events == []
    assert answer == {
        "ok": False,
        "error": "unknown command 'dance' "
        "(use press, stop, next, hold, status, reload, watch, grid, follow)",
    }


def test_a_client_that_hangs_up_without_a_word_is_forgotten(server):
    def hang_up() -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(server.path))
        return send_command(server.path, "status")["kind"]

    answer, events = serve(server, hang_up)
    assert answer == "status"
    assert [kind(event) for event in events] == ["status"]


def test_a_stale_socket_file_is_replaced(tmp_path):
    path = tmp_path / "control.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: a daemon that was killed
    queue = EventQueue()
    control = ControlServer(path, queue, queue.put_command)
    try:
        answer, _events = serve(control, lambda: send_command(path, "status"))
        assert answer["ok"] is True
    finally:
        control.close()
        queue.close()
    assert not path.exists()


def test_a_second_daemon_on_the_same_socket_is_refused(server):
    queue = EventQueue()
    with pytest.raises(ControlError, match="another party-button daemon is listening on"):
        ControlServer(server.path, queue, queue.put_command)
    queue.close()
    assert stat.S_ISSOCK(server.path.stat().st_mode)


def test_a_file_in_the_way_is_not_deleted(tmp_path):
    path = tmp_path / "control.sock"
    path.write_text("important")
    with pytest.raises(ControlError, match="exists and is not a socket"):
        ControlServer(path, EventQueue(), lambda *_request: None)
    assert path.read_text() == "important"


def test_client_without_a_daemon_gets_a_clear_error(tmp_path, capsys):
    path = tmp_path / "none.sock"
    with pytest.raises(ControlError, match=r"no party-button daemon is listening on .*none\.sock"):
        send_command(path, "press")
    assert main(["press", "--socket", str(path)]) == 1
    assert "is it running?" in capsys.readouterr().err


def test_cli_prints_the_status_line_and_json(server, capsys):
    answer = {"status": "idle, 3 songs"}
    code, _ = serve(server, lambda: main(["press", "--socket", str(server.path)]), answer)
    assert code == 0
    assert capsys.readouterr().out == "idle, 3 songs\n"
    code, _ = serve(server, lambda: main(["status", "--socket", str(server.path)]), answer)
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {
        "ok": True,
        "kind": "status",
        "status": "idle, 3 songs",
    }


def test_cli_reload_prints_the_config_errors_and_fails(server, capsys):
    problems = {"ok": False, "errors": ["config.yaml:3: button.pin: is required"]}
    code, _ = serve(server, lambda: main(["reload", "--socket", str(server.path)]), problems)
    assert code == 1
    assert capsys.readouterr().err == "config.yaml:3: button.pin: is required\n"


def test_cli_reload_prints_the_daemons_reason_when_it_refuses(server, capsys):
    refused = {"ok": False, "error": "too many reload commands: one each 1 s"}
    code, _ = serve(server, lambda: main(["reload", "--socket", str(server.path)]), refused)
    assert code == 1
    assert capsys.readouterr().err == "too many reload commands: one each 1 s\n"


@pytest.mark.parametrize(
    ("applied", "said"),
    [
        (False, "the config is valid; it applies when the party is over\n"),
        (True, "the config is applied\n"),
    ],
)
def test_cli_reload_says_whether_the_config_is_applied_or_waits(server, capsys, applied, said):
    answer = {"ok": True, "applied": applied}
    code, _ = serve(server, lambda: main(["reload", "--socket", str(server.path)]), answer)
    assert (code, capsys.readouterr().out) == (0, said)


def test_cli_reload_without_a_daemon_says_to_restart_it(tmp_path, capsys):
    assert main(["reload", "--socket", str(tmp_path / "none.sock")]) == 1
    assert capsys.readouterr().err.endswith(
        "(is it running?); a daemon that failed to start reads its config when started "
        "again: systemctl reset-failed party-button; systemctl restart party-button\n"
    )


def test_daemon_socket_path_follows_systemd_then_the_user(tmp_path):
    assert daemon_socket_path({"PARTY_BUTTON_SOCKET": "/x/y.sock"}) == Path("/x/y.sock")
    assert daemon_socket_path({"RUNTIME_DIRECTORY": "/run/party-button:/run/other"}) == Path(
        "/run/party-button/control.sock"
    )
    assert daemon_socket_path({"XDG_RUNTIME_DIR": "/run/user/1000"}) == Path(
        "/run/user/1000/party-button/control.sock"
    )
    assert daemon_socket_path({}).name == "control.sock"


@pytest.mark.skipif(SYSTEM_SOCKET.exists(), reason="a party-button service runs here")
def test_client_socket_path_is_the_daemons_without_a_system_service(tmp_path):
    environ = {"XDG_RUNTIME_DIR": str(tmp_path)}
    assert client_socket_path(environ) == tmp_path / "party-button" / "control.sock"
    assert client_socket_path({"RUNTIME_DIRECTORY": str(tmp_path)}) == tmp_path / "control.sock"


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_a_user_outside_the_services_group_is_told_to_join_it(monkeypatch):
    # The service's runtime folder is open to its group only (RuntimeDirectoryMode=0750).
    runtime = Path(tempfile.mkdtemp(prefix="party-button-run-"))
    try:
        runtime.chmod(0o755)
        service_folder = runtime / "party-button"
        service_folder.mkdir(mode=0o750)
        system_socket = service_folder / "control.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(system_socket))
        monkeypatch.setattr("party_button.control.protocol.SYSTEM_SOCKET", system_socket)

        def ask() -> str:  # as an ordinary user, outside the group
            path = client_socket_path({"XDG_RUNTIME_DIR": "/run/user/65534"})
            try:
                send_command(path, "status")
            except ControlError as exc:
                return str(exc)
            return "answered"

        result = run_as(65534, 65534, [], ask)
        group = grp.getgrgid(service_folder.stat().st_gid).gr_name
        listener.close()
    finally:
        shutil.rmtree(runtime)
    # Named from the folder's group: the refused user may not list the folder (no "ls -l").
    assert result == (
        f"permission denied on {system_socket}: only members of the group {group!r} may use "
        f"it: ask the admin to add you (sudo usermod -aG {group} nobody), then log in again"
    )

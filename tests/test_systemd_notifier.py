"""The systemd helpers: sd_notify over a real datagram socket, the watchdog rhythm, journald."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from systemd.journal import JournalHandler

from party_button.systemd import Notifier, setup_logging, watchdog_period


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket standing where systemd's notify socket would be."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(0.5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    messages = []
    sock.settimeout(0.05)
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            return messages


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "junk"}, None),
        ({"WATCHDOG_USEC": "10000000"}, 5.0),
        ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1234"}, 5.0),
        ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "99"}, None),
    ],
)
def test_watchdog_period_is_half_of_watchdog_usec_for_the_watched_pid(environ, expected):
    assert watchdog_period(environ, pid=1234) == expected


def test_silent_and_harmless_without_systemd(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    notifier = Notifier()
    assert not notifier.enabled
    assert notifier.watchdog_deadline(0.0) is None
    notifier.ready("idle")
    notifier.watchdog(10.0)
    notifier.stopping()


def test_messages_reach_the_notify_socket(notify_socket):
    notifier = Notifier()
    notifier.ready("idle, 3 songs")
    notifier.status("partying: a.ogg")
    notifier.status("partying: a.ogg")  # unchanged: not sent again
    notifier.reloading()
    notifier.stopping()
    assert received(notify_socket) == [
        "READY=1\nSTATUS=idle, 3 songs",
        "STATUS=partying: a.ogg",
        "RELOADING=1\nSTATUS=reloading the configuration",
        "STOPPING=1\nSTATUS=stopping: relays off, music off",
    ]


def test_watchdog_pings_once_per_half_period(notify_socket, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    notifier = Notifier()
    assert notifier.period == 1.0
    assert notifier.watchdog_deadline(100.0) == 100.0  # the first ping is due at once
    for now in (100.0, 100.5, 100.99, 101.0, 101.7, 102.1):
        notifier.watchdog(now)
    assert received(notify_socket) == ["WATCHDOG=1"] * 3
    assert notifier.watchdog_deadline(102.2) == pytest.approx(103.1)  # a period after the last


def test_a_vanished_notify_socket_does_not_stop_the_daemon(tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    notifier = Notifier()
    assert notifier.enabled
    notifier.ready("idle")  # FileNotFoundError from sd_notify is only logged


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, restored after the test."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def test_logs_go_to_journald_when_stderr_is_the_journal_stream(tmp_path, root_logger):
    with (tmp_path / "stream").open("w") as stream:
        info = os.fstat(stream.fileno())
        environ = {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        setup_logging(logging.INFO, environ=environ, stream=stream)
    [handler] = root_logger.handlers
    assert isinstance(handler, JournalHandler)
    name = os.fsdecode(b"caf\xe9.ogg")  # a file name that is not UTF-8
    record = logging.LogRecord("party_button", logging.INFO, "", 1, "playing %s", (name,), None)
    assert handler.format(record) == "playing caf\\xe9.ogg"  # journald takes only UTF-8


@pytest.mark.parametrize("journal_stream", [None, "1:2", "nonsense"])
def test_logs_go_to_the_terminal_otherwise(tmp_path, root_logger, journal_stream):
    environ = {"JOURNAL_STREAM": journal_stream} if journal_stream else {}
    for handler in list(root_logger.handlers):  # a fresh process has none
        root_logger.removeHandler(handler)
    with (tmp_path / "stream").open("w") as stream:
        setup_logging(logging.INFO, environ=environ, stream=stream)
        logging.getLogger("party_button.test").info("hello %s", "terminal")
    [handler] = root_logger.handlers
    assert not isinstance(handler, JournalHandler)
    assert "INFO hello terminal" in (tmp_path / "stream").read_text()

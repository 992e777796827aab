"""A library of 20,000 songs: ready before the scan ends, presses answered, the watchdog pinged.

Behaviour only; how fast is measured by ``benchmarks/library.py``.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from party_button.beats.grid import BeatGrid, SongStamp, grid_document, grid_path
from party_button.cli import main as cli
from party_button.config.schema import Config
from party_button.phase import Phase
from party_button.testing import LIGHTS, press, relays_on, running_daemon, tiny_library, wait_for

SONGS = 20_000
HUMAN_GAP = 0.1  # seconds between releasing the button and pressing it again


class NotifySocket:
    """A datagram socket where systemd's notify socket would be, read in a thread."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except OSError:
                return

    def count(self, message: str) -> int:
        return sum(line == message for line in list(self.messages))

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._reader.join(timeout=2)


@pytest.fixture
def notify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifySocket]:
    path = tmp_path / "notify"
    listener = NotifySocket(path)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # a ping every 0.1 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield listener
    listener.close()


def big_library(folder: Path) -> None:
    """20,000 tiny songs in 100 folders, each with a current beat grid (they share one)."""
    tiny_library(folder, SONGS, per_folder=200, seconds=1.0)
    first = next(folder.glob("album0000/*.ogg"))
    grid = BeatGrid(120.0, (0.25, 0.75), (0.25,), 4, SongStamp.of(first), analyzer="known")
    document = json.dumps(grid_document(first, grid))
    for song in folder.glob("album*/*.ogg"):
        grid_path(song).write_text(document)


@pytest.mark.slow  # over a minute: make check leaves it out
def test_twenty_thousand_songs(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    song_folder: Path,
    notify: NotifySocket,
    caplog: pytest.LogCaptureFixture,
) -> None:
    big_library(song_folder / "big")
    fallback = song_folder.parent / "sounds" / "fallback.ogg"
    config = make_config({"party": {"fallback_sound": str(fallback), "cooldown": 0.0}})
    caplog.set_level(logging.INFO, logger="party_button")

    def played() -> list[str]:  # what each party played, songs or the fallback
        return [m for m in caplog.messages if m.startswith("playing ") or "fallback" in m]

    def lights_switched_on() -> int:
        return sum(state.state == 0 for state in mock_factory.pin(LIGHTS).states)  # active-low

    with running_daemon(config, mock_factory, scanned=False) as daemon:
        wait_for(lambda: any("READY=1" in message for message in notify.messages))
        ready = next(message for message in notify.messages if "READY=1" in message)
        assert "found so far" in ready  # ready did not wait for the scan

        press(mock_factory)  # during the scan: whatever has been found plays, or the fallback
        wait_for(lambda: played() and lights_switched_on() >= 1)
        pings_while_scanning = 0
        while not daemon.library.complete:
            pings_while_scanning = notify.count("WATCHDOG=1")
            time.sleep(0.01)
        assert pings_while_scanning >= 1
        assert len(daemon.library) == SONGS + 3

        for _press in range(5):  # each press plays another song, in a party or a new one
            before = len(played())
            time.sleep(HUMAN_GAP)  # a finger is not back on the button within the bounce time
            # A press while a party ends is swallowed on purpose: the first song (1 s) may end
            # during a slow scan.
            wait_for(lambda: daemon.machine.phase in (Phase.IDLE, Phase.PARTY))
            press(mock_factory)
            wait_for(lambda before=before: len(played()) > before)
        songs = played()[-5:]
        assert all(line.startswith("playing song") for line in songs)
        assert len(set(songs)) == 5
        pings = notify.count("WATCHDOG=1")
        wait_for(lambda: notify.count("WATCHDOG=1") > pings)
    assert relays_on(mock_factory) == (False, False)
    assert cli.main(["songs", "--config", str(config.path), "--count", "1"]) == 0
    with running_daemon(config, mock_factory, scanned=False) as daemon:
        pass  # stopped during (or right after) its first pass: it stops, relays off
    assert not daemon.library._thread.is_alive()
    assert relays_on(mock_factory) == (False, False)

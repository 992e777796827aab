"""Files that others may put into a songs folder, named like what the daemon reads there.

The songs folder is writable by the web service and the ``party-button`` group, so a beat
grid (``SONG.beats.json``) may be a FIFO, a link to a file elsewhere, a device or gigabytes.
Every such file is read through :func:`~party_button.small_files.read_small_file`.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

from party_button.beats.grid import MAX_GRID_BYTES, grid_path, load_grid
from party_button.small_files import FileRefused, read_small_file
from party_button.testing import running_daemon, wait_for, write_tone


def read_in_thread(path: Path, limit: int) -> BaseException | bytes:
    """What ``read_small_file`` gives, from a thread that the test does not wait on forever."""
    result: list = []

    def read() -> None:
        try:
            result.append(read_small_file(path, limit))
        except OSError as exc:
            result.append(exc)

    threading.Thread(target=read, daemon=True).start()
    wait_for(lambda: result, timeout=10)
    return result[0]


def test_only_a_regular_file_within_the_limit_is_read(tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.json"
    folder.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    link = tmp_path / "link.json"
    link.symlink_to(outside)
    device = tmp_path / "device.json"
    device.symlink_to("/dev/zero")
    big = tmp_path / "big.json"
    with big.open("wb") as out:
        out.truncate(1024**3)  # sparse
    fine = tmp_path / "fine.json"
    fine.write_bytes(b"x" * 100)

    for path, reason in (
        (fifo, "a FIFO, not a regular file"),
        (folder, "a folder, not a regular file"),
        (link, "a symbolic link, not a regular file"),
        (device, "a symbolic link, not a regular file"),
        (big, "larger than 1 MiB"),
    ):
        got = read_in_thread(path, 1024**2)
        assert isinstance(got, FileRefused) and str(got) == reason, (path, got)
    assert read_in_thread(fine, 100) == b"x" * 100
    assert isinstance(read_in_thread(fine, 99), FileRefused)
    assert isinstance(read_in_thread(tmp_path / "missing.json", 10), FileNotFoundError)


def test_a_device_behind_a_followed_link_is_refused(tmp_path):
    device = tmp_path / "device"
    device.symlink_to("/dev/zero")
    with pytest.raises(FileRefused, match="a device, not a regular file"):
        read_small_file(device, 10, follow_links=True)


def test_grids_that_are_fifos_links_or_huge_are_no_grids(tmp_path, caplog):
    songs = [write_tone(tmp_path / f"song{number}.ogg", 0.3) for number in range(3)]
    os.mkfifo(grid_path(songs[0]))
    grid_path(songs[1]).symlink_to("/etc/hostname")
    with grid_path(songs[2]).open("wb") as out:
        out.truncate(MAX_GRID_BYTES + 1)
    with caplog.at_level(logging.WARNING, logger="party_button.beats.grid"):
        for song in songs:
            got: list = []
            threading.Thread(
                target=lambda s=song, got=got: got.append(load_grid(s)), daemon=True
            ).start()
            wait_for(lambda got=got: got, timeout=10)
            assert got == [None]
    reasons = [record.getMessage() for record in caplog.records]
    assert [reason.split(": ", 2)[-1] for reason in reasons] == [
        "a FIFO, not a regular file",
        "a symbolic link, not a regular file",
        "larger than 4 MiB",
    ]


def test_the_daemons_library_keeps_scanning_beside_a_fifo_grid(
    make_config, mock_factory, song_folder
):
    for song in song_folder.glob("*.ogg"):
        os.mkfifo(grid_path(song))  # whichever song is next, its grid is a FIFO
    config = make_config()
    with running_daemon(config, mock_factory) as daemon:
        assert len(daemon.library) == 3
        write_tone(song_folder / "new.ogg", 0.6)
        wait_for(lambda: len(daemon.library) == 4, timeout=60)

"""The daemon's songs library thread: checked picks, hostile files set aside, grids off the loop."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from party_button.beats.grid import BeatGrid, SongStamp, save_grid
from party_button.config.schema import Config
from party_button.media.picker import SongPicker
from party_button.song_file import SongUnavailable, open_song
from party_button.testing import tiny_library, tiny_song, wait_for
from party_button.testing.library import (
    StrictUtf8Handler,
    fifo,
    header_only_ogg,
    in_child,
    sparse_file,
    world_readable_folder,
)


@pytest.fixture
def picker(make_config: Callable[..., Config]) -> Iterator[Callable[..., SongPicker]]:
    started: list[SongPicker] = []

    def start(changes: dict | None = None, **options: object) -> SongPicker:
        started.append(SongPicker(make_config(changes), seed=3, **options))  # type: ignore[arg-type]
        started[-1].start()
        return started[-1]

    yield start
    for each in started:
        each.close()


def checked_names(library: SongPicker, count: int) -> list[str]:
    """The names of ``count`` checked picks, each taken once it is ready."""
    names = []
    for _ in range(count):
        wait_for(lambda: library.next_checked)
        pick = library.take()
        assert pick is not None and pick.checked
        names.append(pick.path.name)
    return names


def test_files_that_cannot_play_are_set_aside_once_each(
    picker: Callable[..., SongPicker], song_folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for song in song_folder.glob("song*.ogg"):
        song.unlink()
    tiny_song(song_folder / "good.ogg")
    (song_folder / "empty.ogg").write_bytes(b"")
    header_only_ogg(song_folder / "cut.ogg")
    sparse_file(song_folder / "huge.ogg", 3 * 1024**3)
    library = picker()
    assert library.wait_complete(10)
    assert checked_names(library, 5) == ["good.ogg"] * 5
    skipped = sorted(m for m in caplog.messages if m.startswith("skipping"))
    aside = "(set aside until the file changes)"
    assert skipped == [
        f"skipping song: {song_folder / 'cut.ogg'}: holds no sound {aside}",
        f"skipping song: {song_folder / 'empty.ogg'}: an empty file {aside}",
        f"skipping song: {song_folder / 'huge.ogg'}: 3.0 GiB: over the 2 GiB limit {aside}",
    ]
    assert len(library) == 1


def test_a_fifo_swapped_in_after_the_scan_is_never_waited_on(
    picker: Callable[..., SongPicker], song_folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    library = picker()
    assert library.wait_complete(10)
    wait_for(lambda: library.next_checked)
    for song in song_folder.glob("song*.ogg"):
        song.unlink()
        fifo(song)  # where the scan saw songs there are FIFOs now
    tiny_song(song_folder / "late.ogg")
    assert library.passes >= 1
    wanted = library.rescan()
    wait_for(lambda: library.passes >= wanted)
    picks = set(checked_names(library, 3))
    assert picks == {"late.ogg"}
    fifos = [m for m in caplog.messages if "FIFO" in m]
    assert len(fifos) >= 3  # named by the scan, or by the check of a pick made before it


def test_set_aside_until_the_file_changes(
    picker: Callable[..., SongPicker], song_folder: Path
) -> None:
    library = picker()
    assert library.wait_complete(10)
    broken = song_folder / "song1.ogg"
    library.set_aside(broken, f"song: {broken}: did not play")
    wanted = library.rescan()
    wait_for(lambda: library.passes >= wanted)
    assert len(library) == 2
    assert "song1.ogg" not in checked_names(library, 4)
    tiny_song(broken, 0.5)  # a new version
    wanted = library.rescan()
    wait_for(lambda: library.passes >= wanted)
    assert len(library) == 3


def test_the_beat_grid_is_loaded_with_the_pick(
    picker: Callable[..., SongPicker], song_folder: Path
) -> None:
    for song in song_folder.glob("song*.ogg"):
        song.unlink()
    song = tiny_song(song_folder / "beat.ogg")
    grid = BeatGrid(120.0, (0.1, 0.6), (0.1,), 4, SongStamp.of(song), analyzer="known")
    save_grid(song, grid)
    library = picker()
    wait_for(lambda: library.next_checked)
    pick = library.take()
    assert pick is not None and pick.grid == grid and pick.length == pytest.approx(0.3)


def test_songs_without_a_grid_go_to_the_analysis_and_an_unchecked_pick_gets_its_grid(
    picker: Callable[..., SongPicker], song_folder: Path
) -> None:
    no_grid: list[Path] = []
    grids: list[tuple[Path, BeatGrid]] = []
    got_grid = threading.Event()

    def on_grid(song: Path, grid: BeatGrid) -> None:
        grids.append((song, grid))
        got_grid.set()

    for index in range(3):
        song = song_folder / f"song{index}.ogg"
        save_grid(song, BeatGrid(100.0, (0.2,), (0.2,), 4, SongStamp.of(song), analyzer="known"))
    tiny_song(song_folder / "new.ogg")
    library = picker(on_no_grid=no_grid.append, on_grid=on_grid)
    assert library.wait_complete(10)
    assert no_grid == [song_folder / "new.ogg"]
    for _take in range(1000):  # until one comes unchecked: taken before the thread checked it
        pick = library.take()
        assert pick is not None
        if not pick.checked and pick.path.name != "new.ogg":
            break
    else:
        pytest.fail("every pick came checked")
    assert got_grid.wait(10)
    assert grids[0][0] == pick.path and grids[0][1].tempo_bpm == 100.0


def test_a_press_during_a_long_first_pass_gets_what_was_found(
    picker: Callable[..., SongPicker], song_folder: Path
) -> None:
    tiny_library(song_folder / "many", 3000, per_folder=10)
    library = picker()
    wait_for(lambda: len(library) > 0)
    pick = library.take()
    assert pick is not None and pick.path.exists()
    assert library.wait_complete(30)
    assert len(library) == 3003


def test_close_stops_the_thread_even_during_the_first_pass(
    picker: Callable[..., SongPicker], song_folder: Path
) -> None:
    tiny_library(song_folder / "many", 3000, per_folder=10)
    library = picker()
    wait_for(lambda: len(library) > 0)
    library.close()
    assert not library._thread.is_alive()
    library.close()  # twice is safe


def test_the_scan_log_names_the_songs_found(
    picker: Callable[..., SongPicker], song_folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    library = picker()
    assert library.wait_complete(10)
    found = [m for m in caplog.messages if " clips in " in m]
    assert len(found) == 1 and found[0].startswith(f"3 songs and 0 clips in {song_folder} (")
    assert os.path.isdir(song_folder)


def test_a_song_that_cannot_be_read_is_set_aside(make_config: Callable[..., Config]) -> None:
    folder = world_readable_folder()
    try:
        tiny_song(folder / "good.ogg")
        tiny_song(folder / "locked.ogg").chmod(0)  # root's, and unreadable to anyone else
        config = make_config({"songs": {"folders": [str(folder)]}})

        def picks_and_log() -> tuple[list[str], list[str]]:
            handler = StrictUtf8Handler()
            logging.getLogger("party_button").addHandler(handler)
            with SongPicker(config, seed=1) as library:
                assert library.wait_complete(10)
                names = checked_names(library, 4)
            return names, [line for line in handler.lines if line.startswith("skipping")]

        names, skipped = in_child(picks_and_log, as_nobody=True)
    finally:
        shutil.rmtree(folder)
    assert names == ["good.ogg"] * 4
    assert skipped == [
        f"skipping song: {folder / 'locked.ogg'}: cannot be read (permission denied) "
        "(set aside until the file changes)"
    ]


def test_out_of_file_descriptors_no_song_is_set_aside_or_left_out(
    picker: Callable[..., SongPicker], song_folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def exhausted() -> tuple[int, list[str], str, int, list[str]]:
        library = picker()
        assert library.wait_complete(10)
        wait_for(lambda: library.next_checked)
        library.take()  # the next one is to be checked, while no descriptor is left
        tiny_song(song_folder / "new.ogg")  # the folder changed: the next pass reads it
        top = max(int(fd) for fd in os.listdir("/proc/self/fd"))
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (top + 16, hard))
        held = []
        with contextlib.suppress(OSError):
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        with pytest.raises(SongUnavailable) as unavailable:
            open_song(song_folder / "song0.ogg")
        wanted = library.rescan()
        wait_for(lambda: library.passes >= wanted)
        during = len(library)
        for descriptor in held:
            os.close(descriptor)
        wanted = library.rescan()
        wait_for(lambda: library.passes >= wanted and library.next_checked)
        lines = [m for m in caplog.messages if m.startswith(("skipping", "not a song"))]
        return during, lines, str(unavailable.value), len(library), library.clip_count

    during, skipped, unavailable, after, _clips = in_child(exhausted)
    assert during == 3  # nothing left out: the folder is read again when it can be
    assert skipped == []  # nothing set aside: no file was at fault
    assert unavailable == f"{song_folder / 'song0.ogg'}: Too many open files"
    assert after == 4


def test_a_routine_pass_that_finds_nothing_stays_quiet(
    picker: Callable[..., SongPicker], song_folder: Path
) -> None:
    heard: list[None] = []
    library = picker(scan_interval=0.02, on_change=lambda: heard.append(None))
    wait_for(lambda: library.next_checked and library.passes >= 2)
    quiet_since, passes = len(heard), library.passes
    wait_for(lambda: library.passes >= passes + 5)  # routine passes over unchanged folders
    assert len(heard) == quiet_since  # the daemon's loop is not woken for nothing

    asked = library.rescan()  # asked for: heard, though nothing changed
    wait_for(lambda: library.passes >= asked and len(heard) > quiet_since)
    heard_before_copy, songs = len(heard), len(library)
    tiny_song(song_folder / "new.ogg")
    wait_for(lambda: len(heard) > heard_before_copy)  # a pass that found a song is heard
    assert len(library) == songs + 1

"""Beat grids: analysis against the demo songs' known grids, grid files, the analyze command and
the background worker."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import queue
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest

from party_button.beats.analysis import ANALYZER, analyze_song
from party_button.beats.grid import (
    ANALYSIS_VERSION,
    BeatGrid,
    SongStamp,
    analysis_available,
    grid_path,
    is_up_to_date,
    load_grid,
    save_grid,
)
from party_button.beats.worker import BeatWorker
from party_button.cli import analyze as analyze_command
from party_button.cli.common import call
from party_button.errors import SongError
from party_button.testing.beats import (
    ANALYSIS_TIMEOUT,
    SHORTEST,
    SONGS_DIR,
    TRUTH,
    f_measure,
)


@pytest.fixture(scope="module")
def analyses() -> dict[str, BeatGrid]:
    """Each shipped demo song analysed once for the whole module."""
    pytest.importorskip("soxr")
    return {song["file"]: analyze_song(SONGS_DIR / song["file"]) for song in TRUTH}


@pytest.fixture
def analysis_missing(monkeypatch):
    """Make ``import soxr`` fail as it does when the beats extra is not installed."""
    monkeypatch.setitem(sys.modules, "soxr", None)
    assert not analysis_available()


@pytest.fixture
def song_copy(tmp_path) -> Path:
    """A demo song copied into a fresh folder, so grid files land there."""
    pytest.importorskip("soxr")
    return Path(shutil.copy(SONGS_DIR / SHORTEST, tmp_path / SHORTEST))


def make_grid(song: Path, **changes) -> BeatGrid:
    """A plausible hand-made grid stamped with ``song``'s current file."""
    grid = BeatGrid(
        tempo_bpm=120.0,
        beats=(0.5, 1.0, 1.5, 2.0, 2.5),
        downbeats=(0.5, 2.5),
        beats_per_bar=4,
        stamp=SongStamp.of(song),
        analyzer="hand",
    )
    return dataclasses.replace(grid, **changes)


# -- the test's own yardstick ------------------------------------------------------------------


def test_f_measure_counts_each_reference_beat_once():
    reference = [0.5, 1.0, 1.5, 2.0]
    assert f_measure(reference, reference) == 1.0
    assert f_measure([t + 0.06 for t in reference], reference) == 1.0
    assert f_measure([t + 0.08 for t in reference], reference) == 0.0
    assert f_measure([0.5, 0.51, 1.0], reference) == pytest.approx(
        2 * (2 / 3 * 2 / 4) / (2 / 3 + 2 / 4)
    )
    assert f_measure([], reference) == 0.0


# -- analysis against the known grids ------------------------------------------------------------


@pytest.mark.parametrize("song", TRUTH, ids=lambda s: s["file"])
def test_tempo_within_two_percent(analyses, song):
    assert analyses[song["file"]].tempo_bpm == pytest.approx(song["tempo_bpm"], rel=0.02)


@pytest.mark.parametrize("song", TRUTH, ids=lambda s: s["file"])
def test_beats_match_the_known_grid(analyses, song):
    assert f_measure(analyses[song["file"]].beats, song["beats"]) >= 0.9


@pytest.mark.parametrize("song", TRUTH, ids=lambda s: s["file"])
def test_downbeats_fall_on_the_known_bar_starts(analyses, song):
    """The estimated downbeats match the known ones (F-measure >= 0.9, 70 ms), so the bar phase
    is right, and every downbeat is one of the estimated beats."""
    grid = analyses[song["file"]]
    assert f_measure(grid.downbeats, song["downbeats"]) >= 0.9
    assert set(grid.downbeats) <= set(grid.beats)


def test_grid_records_its_source(analyses):
    song = SONGS_DIR / TRUTH[0]["file"]
    grid = analyses[TRUTH[0]["file"]]
    assert grid.stamp == SongStamp.of(song)
    assert grid.beats_per_bar == 4
    assert grid.version == ANALYSIS_VERSION
    assert grid.analyzer == ANALYZER


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("noise.ogg", b"definitely not vorbis" * 50, "cannot decode audio"),
        ("empty.wav", b"", "an empty file"),
    ],
)
def test_analysis_of_a_bad_file_is_a_song_error(tmp_path, name, content, reason):
    pytest.importorskip("soxr")
    bad = tmp_path / name
    bad.write_bytes(content)
    with pytest.raises(SongError, match=reason):
        analyze_song(bad)


def test_analysis_of_a_missing_file_is_a_song_error(tmp_path):
    pytest.importorskip("soxr")
    with pytest.raises(SongError, match="no such file"):
        analyze_song(tmp_path / "gone.ogg")


def test_silence_has_no_steady_beat(tmp_path):
    pytest.importorskip("soxr")
    np = pytest.importorskip("numpy")
    sf = pytest.importorskip("soundfile")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(22050 * 5, dtype=np.float32), 22050)
    with pytest.raises(SongError, match="no steady beat"):
        analyze_song(silent)


# -- grid files ----------------------------------------------------------------------------


def test_grid_file_sits_beside_the_song():
    assert grid_path(Path("/music/a b.ogg")) == Path("/music/a b.ogg.beats.json")


def test_grid_file_round_trip(tmp_path):
    song = tmp_path / "song.ogg"
    song.write_bytes(b"audio")
    grid = make_grid(song)
    assert load_grid(song) is None
    assert not is_up_to_date(song)
    assert save_grid(song, grid) == grid_path(song)
    assert load_grid(song) == grid
    assert is_up_to_date(song)
    assert json.loads(grid_path(song).read_text())["song"]["name"] == "song.ogg"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.ogg", "song.ogg.beats.json"]


def test_analysed_grid_round_trips(tmp_path, analyses):
    song = Path(shutil.copy2(SONGS_DIR / SHORTEST, tmp_path / SHORTEST))
    grid = dataclasses.replace(analyses[SHORTEST], stamp=SongStamp.of(song))
    save_grid(song, grid)
    assert load_grid(song) == grid


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda song: song.write_bytes(b"other audio"), id="content"),
        pytest.param(lambda song: song.write_bytes(b"audiO"), id="same-size"),
        pytest.param(lambda song: song.unlink(), id="deleted"),
    ],
)
def test_grid_goes_stale_when_the_song_changes(tmp_path, change):
    song = tmp_path / "song.ogg"
    song.write_bytes(b"audio")
    save_grid(song, make_grid(song))
    change(song)
    assert load_grid(song) is None
    assert not is_up_to_date(song)


def test_grid_survives_a_copy_with_new_file_times(tmp_path):
    song = tmp_path / "song.ogg"
    song.write_bytes(b"audio")
    save_grid(song, make_grid(song))
    os.utime(song, ns=(0, 10**9))
    assert load_grid(song) == make_grid(song)


def test_grid_goes_stale_with_a_new_analysis_version(tmp_path):
    song = tmp_path / "song.ogg"
    song.write_bytes(b"audio")
    save_grid(song, make_grid(song, version=ANALYSIS_VERSION - 1))
    assert load_grid(song) is None


def _grid_file_without(key: str):
    def corrupt(document: dict) -> dict:
        del document[key]
        return document

    return corrupt


@pytest.mark.parametrize(
    ("corrupt", "reason"),
    [
        pytest.param(lambda d: "{not json", "Expecting property name", id="not-json"),
        pytest.param(lambda d: [1, 2], "'format' is not", id="a-list"),
        pytest.param(_grid_file_without("beats"), "missing key 'beats'", id="no-beats"),
        pytest.param(
            lambda d: {**d, "tempo_bpm": "fast"}, "'tempo_bpm' is not a number", id="tempo"
        ),
        pytest.param(lambda d: {**d, "beats": [2.0, 1.0]}, "increasing order", id="unsorted"),
        pytest.param(lambda d: {**d, "song": {"size": 5}}, "missing key 'sha256'", id="no-hash"),
        pytest.param(lambda d: {**d, "downbeats": [9.0]}, "subset of 'beats'", id="downbeats"),
    ],
)
def test_corrupt_grid_file_is_a_warning_not_a_crash(tmp_path, caplog, corrupt, reason):
    song = tmp_path / "song.ogg"
    song.write_bytes(b"audio")
    grid_file = save_grid(song, make_grid(song))
    bad = corrupt(json.loads(grid_file.read_text()))
    grid_file.write_text(bad if isinstance(bad, str) else json.dumps(bad))
    with caplog.at_level(logging.WARNING, logger="party_button.beats.grid"):
        assert load_grid(song) is None
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert str(grid_file) in message
    assert reason in message


def test_failed_save_keeps_the_old_grid_file_and_leaves_no_temp_file(tmp_path):
    song = tmp_path / "song.ogg"
    song.write_bytes(b"audio")
    good = make_grid(song)
    save_grid(song, good)
    with pytest.raises(TypeError):
        save_grid(song, make_grid(song, analyzer=object()))  # not JSON serialisable
    assert load_grid(song) == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.ogg", "song.ogg.beats.json"]


# -- party-button analyze --------------------------------------------------------------------


def run_analyze(argv: list[str], default_paths: list[Path] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="party-button analyze")
    analyze_command.add_arguments(parser)
    args = parser.parse_args(argv)
    args.run = lambda parsed: analyze_command.analyze(parsed, default_paths or [])
    return call(args)


def test_analyze_a_folder_then_skip_what_is_up_to_date(tmp_path, capsys):
    pytest.importorskip("soxr")
    (tmp_path / "nested").mkdir()
    top = Path(shutil.copy(SONGS_DIR / SHORTEST, tmp_path / "a.ogg"))
    nested = Path(shutil.copy(SONGS_DIR / SHORTEST, tmp_path / "nested" / "b.OGG"))
    (tmp_path / "notes.txt").write_text("not a song")

    assert run_analyze([str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[0] for line in lines] == [str(top), str(nested)]
    assert all(": analysed: " in line and " BPM, " in line for line in lines)
    assert is_up_to_date(top) and is_up_to_date(nested)
    assert not grid_path(tmp_path / "notes.txt").exists()

    assert run_analyze([str(top), str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{top}: up to date", f"{nested}: up to date"]

    assert run_analyze(["--force", str(top)]) == 0
    assert ": analysed: " in capsys.readouterr().out


def test_analyze_uses_the_default_paths_without_arguments(song_copy, capsys):
    assert run_analyze([], default_paths=[song_copy.parent]) == 0
    assert capsys.readouterr().out.startswith(f"{song_copy}: analysed: ")


def test_analyze_reports_bad_inputs_and_still_analyses_the_rest(song_copy, capsys):
    folder = song_copy.parent
    corrupt = folder / "corrupt.ogg"
    corrupt.write_bytes(b"OggS" + bytes(2000))
    text = folder / "readme.txt"
    text.write_text("hello")
    missing = folder / "missing.mp3"

    code = run_analyze([str(missing), str(corrupt), str(text), str(song_copy)])
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.out.splitlines()
    assert lines[0] == f"{missing}: failed: no such file or folder"
    assert lines[1].startswith(f"{corrupt}: failed: cannot decode audio")
    assert lines[2].startswith(f"{text}: failed: cannot decode audio")
    assert lines[3].startswith(f"{song_copy}: analysed: ")
    assert "Traceback" not in captured.out + captured.err
    assert is_up_to_date(song_copy)


def test_analyze_an_empty_folder_says_so(tmp_path, capsys):
    pytest.importorskip("soxr")
    assert run_analyze([str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"no songs found in {tmp_path}\n"


def test_analyze_without_the_beats_extra_says_how_to_install_it(analysis_missing, tmp_path, capsys):
    song = tmp_path / "song.ogg"
    song.write_bytes(b"audio")
    assert run_analyze([str(song)]) == 1
    captured = capsys.readouterr()
    assert captured.err == analyze_command.NEEDS_EXTRA + "\n"
    assert captured.out == ""
    assert not grid_path(song).exists()


# -- the background worker -------------------------------------------------------------------


def collect(
    events: queue.Queue, count: int, timeout: float = ANALYSIS_TIMEOUT
) -> list[tuple[Path, BeatGrid]]:
    return [events.get(timeout=timeout) for _ in range(count)]


def assert_no_worker_thread() -> None:
    assert not [t for t in threading.enumerate() if t.name == "beat-worker"]


def test_worker_analyses_submitted_songs_and_closes_cleanly(song_copy, caplog):
    second = Path(shutil.copy(song_copy, song_copy.with_name("second.ogg")))
    broken = song_copy.with_name("broken.ogg")
    broken.write_bytes(b"garbage" * 100)
    events: queue.Queue = queue.Queue()
    with caplog.at_level(logging.WARNING), BeatWorker(lambda s, g: events.put((s, g))) as worker:
        assert worker.enabled
        for song in (broken, song_copy, second, song_copy):
            worker.submit(song)
        done = collect(events, 2)
    assert sorted(song.name for song, _ in done) == [SHORTEST, "second.ogg"]
    for song, grid in done:
        assert grid == load_grid(song)
        assert grid.tempo_bpm == pytest.approx(128.0, rel=0.02)
    assert events.empty()
    assert not grid_path(broken).exists()
    assert any(str(broken) in r.getMessage() for r in caplog.records)
    assert not worker.enabled
    assert_no_worker_thread()
    worker.close()  # a second close is harmless


def test_worker_reports_a_stored_grid_without_analysing(tmp_path):
    pytest.importorskip("soxr")
    song = tmp_path / "song.ogg"
    song.write_bytes(b"not audio, but its grid is current")
    grid = make_grid(song)
    save_grid(song, grid)
    events: queue.Queue = queue.Queue()
    with BeatWorker(lambda s, g: events.put((s, g))) as worker:
        worker.submit(song)
        assert collect(events, 1) == [(song, grid)]
    assert_no_worker_thread()


def test_worker_survives_a_failing_callback(song_copy, caplog):
    second = Path(shutil.copy(song_copy, song_copy.with_name("second.ogg")))
    events: queue.Queue = queue.Queue()

    def on_done(song: Path, grid: BeatGrid) -> None:
        if song == song_copy:
            raise RuntimeError("callback trouble")
        events.put(song)

    with caplog.at_level(logging.ERROR), BeatWorker(on_done) as worker:
        worker.submit(song_copy)
        worker.submit(second)
        assert events.get(timeout=ANALYSIS_TIMEOUT) == second
    assert "callback trouble" in caplog.text
    assert_no_worker_thread()


def test_worker_close_finishes_the_song_under_way_and_drops_the_queue(tmp_path):
    pytest.importorskip("soxr")
    songs = [Path(shutil.copy(SONGS_DIR / SHORTEST, tmp_path / f"{i}.ogg")) for i in range(3)]
    entered, release = threading.Event(), threading.Event()
    done: list[Path] = []

    def on_done(song: Path, grid: BeatGrid) -> None:
        done.append(song)
        entered.set()
        release.wait(timeout=60)  # hold the worker inside the first song

    worker = BeatWorker(on_done)
    for song in songs:
        worker.submit(song)
    assert entered.wait(timeout=ANALYSIS_TIMEOUT)
    closer = threading.Thread(target=worker.close)
    closer.start()
    while worker.enabled:
        threading.Event().wait(0.01)
    release.set()
    closer.join(timeout=60)
    assert not closer.is_alive()
    worker.submit(songs[0])  # ignored after close
    assert done == [songs[0]]
    assert [grid_path(s).exists() for s in songs] == [True, False, False]
    assert_no_worker_thread()


def test_worker_without_the_beats_extra_is_off_and_says_so_once(analysis_missing, tmp_path, caplog):
    song = tmp_path / "song.ogg"
    song.write_bytes(b"audio")
    with caplog.at_level(logging.INFO), BeatWorker(lambda s, g: None) as worker:
        assert not worker.enabled
        worker.submit(song)
        worker.submit(song)
    worker.close()
    assert [r.getMessage() for r in caplog.records if "extra" in r.getMessage()] == [
        "beat analysis is off: the beats extra is not installed "
        "(pip install 'party-button[beats]'); lights use a tempo-free pattern"
    ]
    assert not grid_path(song).exists()
    assert_no_worker_thread()


def test_worker_close_stops_an_analysis_under_way_at_once(tmp_path):
    pytest.importorskip("soxr")
    song = Path(shutil.copy(SONGS_DIR / SHORTEST, tmp_path / "song.ogg"))
    worker = BeatWorker(lambda s, g: None)
    worker.submit(song)
    deadline = time.monotonic() + 30
    while worker._child is None:  # the analysis has started in its child process
        assert time.monotonic() < deadline
        time.sleep(0.01)
    child = worker._child
    started = time.monotonic()
    worker.close()
    assert time.monotonic() - started < 2.0
    assert child.returncode is not None  # the child is gone, not left running
    assert not grid_path(song).exists()
    assert_no_worker_thread()

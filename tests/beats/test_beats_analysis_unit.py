"""The beat worker's two ways to the analysis: a child process, and the beats unit's socket.

Under systemd every connection to ``party-button-beats.socket`` starts one
``python -m party_button.beats.worker`` with the connection as its stdin and stdout
(``Accept=yes``, ``StandardInput=socket``). :class:`SocketActivation` does the same here,
without systemd; the system tests run the real units.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from party_button.beats.grid import grid_path, load_grid
from party_button.beats.worker import BeatWorker
from party_button.testing import wait_for
from party_button.testing.beats import ANALYSIS_TIMEOUT, SHORTEST, SONGS_DIR


class SocketActivation:
    """A listening socket that starts one analysis process per connection, like systemd."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.processes: list[subprocess.Popen[bytes]] = []
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(2)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _address = self._listener.accept()
            except OSError:
                return
            with connection:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "party_button.beats.worker"],
                        stdin=connection.fileno(),
                        stdout=connection.fileno(),
                    )
                )

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=5)
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()


@pytest.fixture
def beats_unit(tmp_path: Path) -> Iterator[SocketActivation]:
    pytest.importorskip("soxr")
    unit = SocketActivation(tmp_path / "beats.sock")
    yield unit
    unit.close()


@pytest.fixture
def song(tmp_path: Path) -> Path:
    pytest.importorskip("soxr")
    return Path(shutil.copy(SONGS_DIR / SHORTEST, tmp_path / "new-song.ogg"))


@pytest.mark.slow  # numba compiles for half a minute: make check leaves it out
def test_a_song_is_analysed_by_the_unit_and_its_grid_stored(beats_unit, song):
    events: queue.Queue = queue.Queue()
    with BeatWorker(lambda s, g: events.put((s, g)), socket_path=beats_unit.path) as worker:
        worker.submit(song)
        done, grid = events.get(timeout=ANALYSIS_TIMEOUT)
    assert done == song
    assert grid == load_grid(song)
    assert grid.tempo_bpm == pytest.approx(128.0, rel=0.02)
    assert len(beats_unit.processes) == 1
    assert beats_unit.processes[0].wait(timeout=30) == 0


@pytest.mark.slow  # numba compiles for half a minute: make check leaves it out
def test_the_socket_path_comes_from_the_environment(beats_unit, song, monkeypatch):
    monkeypatch.setenv("PARTY_BUTTON_BEATS_SOCKET", str(beats_unit.path))
    events: queue.Queue = queue.Queue()
    with BeatWorker(lambda s, g: events.put(s)) as worker:
        worker.submit(song)
        assert events.get(timeout=ANALYSIS_TIMEOUT) == song
    assert len(beats_unit.processes) == 1


def test_a_failure_in_the_unit_is_logged_with_the_song(beats_unit, tmp_path, caplog):
    broken = tmp_path / "broken.ogg"
    broken.write_bytes(b"not a song" * 100)
    events: queue.Queue = queue.Queue()
    with (
        caplog.at_level(logging.WARNING, logger="party_button.beats.worker"),
        BeatWorker(lambda s, g: events.put(s), socket_path=beats_unit.path) as worker,
    ):
        worker.submit(broken)
        wait_for(lambda: caplog.records, timeout=ANALYSIS_TIMEOUT)
    [record] = caplog.records
    assert record.getMessage().startswith(f"no beat grid for {broken}: cannot decode audio (")
    assert events.empty()
    assert not grid_path(broken).exists()


def test_close_ends_the_analysis_under_way_in_the_unit(beats_unit, song):
    worker = BeatWorker(lambda s, g: None, socket_path=beats_unit.path)
    worker.submit(song)
    wait_for(lambda: beats_unit.processes, timeout=ANALYSIS_TIMEOUT)
    worker.close()
    # The analysis notices that nobody waits for it any more and ends without answering
    # (exit status 0, whether it notices during the analysis or when its answer cannot be
    # written). How soon is not asserted: on a busy machine the thread that notices may wait
    # long for the interpreter lock while the analysis imports numpy.
    assert beats_unit.processes[0].wait(timeout=ANALYSIS_TIMEOUT) == 0
    assert not grid_path(song).exists()


def test_an_unreachable_unit_is_said_once_and_blames_no_song(tmp_path, song, caplog):
    other = Path(shutil.copy(song, tmp_path / "other.ogg"))
    missing = tmp_path / "no-such.sock"
    with (
        caplog.at_level(logging.INFO, logger="party_button.beats.worker"),
        BeatWorker(lambda s, g: None, socket_path=missing) as worker,
    ):
        for count, submitted in enumerate((song, other, song), start=1):
            worker.submit(submitted)
            wait_for(
                lambda n=count: sum("analysing" in r.getMessage() for r in caplog.records) == n
            )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"no beat grid for {song}: cannot reach the beat analysis at {missing} (No such file or"
        " directory; is party-button-beats.socket running?)"
    ]


def test_a_child_that_dies_unexpectedly_is_logged_with_the_song(
    tmp_path, song, monkeypatch, caplog
):
    # What the daemon's old sandbox did to the analysis: a call refused with EPERM.
    refusing = tmp_path / "refusing"
    (refusing / "soxr").mkdir(parents=True)
    (refusing / "soxr" / "__init__.py").write_text(
        "import errno, os\nraise PermissionError(errno.EPERM, os.strerror(errno.EPERM))\n"
    )
    monkeypatch.setenv("PYTHONPATH", f"{refusing}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    with (
        caplog.at_level(logging.WARNING, logger="party_button.beats.worker"),
        BeatWorker(lambda s, g: None) as worker,
    ):
        worker.submit(song)
        wait_for(lambda: caplog.records, timeout=ANALYSIS_TIMEOUT)
    assert [r.getMessage() for r in caplog.records] == [
        f"no beat grid for {song}: PermissionError: [Errno 1] Operation not permitted"
    ]


def test_a_request_that_is_not_one_gets_an_error_answer():
    result = subprocess.run(
        [sys.executable, "-m", "party_button.beats.worker"],
        input="just a song name\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout == (
        '{"error": "bad request \'just a song name\\\\n\' (expected SONG<TAB>BEATS_PER_BAR)"}\n'
    )


def children_of(pid: int) -> list[int]:
    """The live (not zombie) processes whose parent is ``pid``."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone while we looked
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat_file.parent.name))
    return found


def is_running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


STARTS_AN_ANALYSIS = """
import sys, time
from pathlib import Path
from party_button.beats.worker import BeatWorker
worker = BeatWorker(lambda song, grid: None)
worker.submit(Path(sys.argv[1]))
time.sleep(600)
"""


def test_an_analysis_child_ends_when_the_process_that_started_it_is_killed(tmp_path, song):
    # A daemon killed by SIGKILL (the watchdog, an admin) must not leave its analysis running.
    hanging = tmp_path / "hanging"
    (hanging / "soxr").mkdir(parents=True)
    (hanging / "soxr" / "__init__.py").write_text("import time\ntime.sleep(600)\n")
    env = {**os.environ, "PYTHONPATH": f"{hanging}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("PARTY_BUTTON_BEATS_SOCKET", None)
    parent = subprocess.Popen([sys.executable, "-c", STARTS_AN_ANALYSIS, str(song)], env=env)
    try:
        wait_for(lambda: children_of(parent.pid), timeout=30)
        [child] = children_of(parent.pid)
        parent.kill()
        parent.wait()
        wait_for(lambda: not is_running(child), timeout=30)
    finally:
        parent.kill()
        parent.wait()


def test_the_analysis_tells_its_time_and_peak_memory_on_stderr(song):
    # Under systemd stderr is the journal: what each song cost, against the unit's budget.
    result = subprocess.run(
        [sys.executable, "-m", "party_button.beats.worker"],
        input=f"{song}\t4\n",
        capture_output=True,
        text=True,
        timeout=ANALYSIS_TIMEOUT,
        check=True,
    )
    assert '"tempo_bpm"' in result.stdout
    assert re.fullmatch(rf"{re.escape(str(song))}: \d+\.\d s, peak memory \d+ MB\n", result.stderr)


# The worker, after the kernel's "memory-deny-write-execute" is set for it (PR_SET_MDWE,
# Linux 6.3): as under the beats unit's MemoryDenyWriteExecute=yes, no memory may be
# writable and executable. Exit 77: the kernel has no such setting.
UNDER_MDWE = """
import ctypes, os, runpy, sys
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    sys.exit(77)
runpy.run_module("party_button.beats.worker", run_name="__main__")
"""


def test_the_analysis_needs_no_memory_that_is_writable_and_executable(song):
    result = subprocess.run(
        [sys.executable, "-c", UNDER_MDWE],
        input=f"{song}\t4\n",
        capture_output=True,
        text=True,
        timeout=ANALYSIS_TIMEOUT,
        check=False,
    )
    if result.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3 and later have it)")
    assert result.returncode == 0, result.stderr
    assert '"tempo_bpm"' in result.stdout, result.stdout + result.stderr


def test_an_answer_nobody_waits_for_any_more_ends_the_analysis_quietly(song):
    # The asker hung up just as the analysis ended (the daemon closed its worker): no answer
    # can be written, and that is no failure of the unit.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "party_button.beats.worker"],
            input=f"{song}\t4\n".encode(),
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=ANALYSIS_TIMEOUT,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (0, b"")

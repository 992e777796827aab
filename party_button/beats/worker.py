"""A background thread that gives new songs a beat grid while the daemon keeps partying.

The daemon owns one :class:`BeatWorker`, submits songs that have no current grid, and learns
of each grid through ``on_done``. Without the ``beats`` extra the worker is disabled: it says so
once in the log and ignores what is submitted, and the light show keeps its tempo-free pattern.

The analysis itself never runs in the daemon's process. Run by hand, the worker starts
``python -m party_button.beats.worker --child-of PID`` for each song; under systemd it asks
the ``party-button-beats`` unit instead (a sandbox and a memory budget of its own, at idle
priority), through the socket named by ``$PARTY_BUTTON_BEATS_SOCKET``. Both speak the same
protocol: one request line (``SONG<TAB>BEATS_PER_BAR``) in, one JSON line out: the grid
file's document, or ``{"error": "reason"}``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import queue
import resource
import select
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from party_button.beats.grid import (
    BeatGrid,
    SongStamp,
    analysis_available,
    grid_document,
    grid_from_document,
    load_grid,
    save_grid,
)
from party_button.errors import SongError

log = logging.getLogger(__name__)

ANALYSIS_SOCKET_ENV = "PARTY_BUTTON_BEATS_SOCKET"
CHILD_NICENESS = 10
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_STOP = None


class AnalysisUnavailable(RuntimeError):
    """The analysis unit's socket cannot be reached; no song is to blame."""


class BeatWorker:
    """One worker thread analysing submitted songs, one at a time, in submission order.

    ``on_done(song, grid)`` is called from the worker thread for every submitted song that ends
    up with a current grid, whether just analysed or already stored; keep it short (put an event
    on the daemon's queue). A song that cannot be analysed is logged and not retried until its
    file changes. ``socket_path`` (default ``$PARTY_BUTTON_BEATS_SOCKET``) sends the analysis
    to the beats unit; without it each song is analysed in a child process. Use as a context
    manager, or call :meth:`close`::

        with BeatWorker(lambda song, grid: events.put(("grid", song, grid))) as worker:
            worker.submit(Path("songs/lift-off.ogg"))
    """

    def __init__(
        self,
        on_done: Callable[[Path, BeatGrid], None],
        beats_per_bar: int = 4,
        socket_path: Path | None = None,
    ) -> None:
        self._on_done = on_done
        self._beats_per_bar = beats_per_bar
        if socket_path is None and os.environ.get(ANALYSIS_SOCKET_ENV):
            socket_path = Path(os.environ[ANALYSIS_SOCKET_ENV])
        self._socket_path = socket_path
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._pending: set[Path] = set()
        self._failed: dict[Path, SongStamp] = {}
        self._unavailable_said = False
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[str] | None = None
        self._connection: socket.socket | None = None
        if analysis_available():
            self._thread = threading.Thread(target=self._run, name="beat-worker", daemon=True)
            self._thread.start()
        else:
            log.info(
                "beat analysis is off: the beats extra is not installed "
                "(pip install 'party-button[beats]'); lights use a tempo-free pattern"
            )

    @property
    def enabled(self) -> bool:
        """Whether songs are analysed (the beats extra is installed, the worker not closed)."""
        return self._thread is not None and not self._closed.is_set()

    def submit(self, song: Path) -> None:
        """Queue ``song`` for analysis unless it is queued already; a no-op when disabled."""
        if not self.enabled:
            return
        with self._lock:
            if song in self._pending:
                return
            self._pending.add(song)
        self._queue.put(song)

    def close(self) -> None:
        """Drop queued songs, stop an analysis under way, join the thread.

        A callback already running is let finish. Returns quickly, so that the daemon can
        stop within systemd's time however long a song takes to analyse.
        """
        if self._closed.is_set():
            return
        self._closed.set()
        if self._thread is None:
            return
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(_STOP)
        with self._lock:
            if self._child is not None:
                self._child.kill()
            if self._connection is not None:
                # The unit's analysis notices the hang-up and ends; our read returns at once.
                with contextlib.suppress(OSError):
                    self._connection.shutdown(socket.SHUT_RDWR)
        self._thread.join()

    def __enter__(self) -> BeatWorker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        while (song := self._queue.get()) is not _STOP:
            with self._lock:
                self._pending.discard(song)
            if self._closed.is_set():
                continue
            try:
                grid = self._grid_for(song)
            except Exception:  # a party never stops for one song: log and go on
                log.exception("beat analysis of %s failed unexpectedly", song)
                continue
            if grid is not None and not self._closed.is_set():
                try:
                    self._on_done(song, grid)
                except Exception:
                    log.exception("beat grid callback for %s failed", song)

    def _grid_for(self, song: Path) -> BeatGrid | None:
        """The current grid of ``song``: stored, or analysed and stored now; None if it fails."""
        grid = load_grid(song)
        if grid is not None:
            return grid
        try:
            stamp = SongStamp.of(song)
        except OSError as exc:
            log.warning("cannot analyse %s: %s", song, exc.strerror or exc)
            return None
        if self._failed.get(song) == stamp:
            return None
        log.info("analysing the beat of %s", song)
        try:
            answer = self._analyse(song)
        except AnalysisUnavailable as exc:
            if not self._unavailable_said:  # not the song's fault: it is tried again later
                self._unavailable_said = True
                log.warning("no beat grid for %s: %s", song, exc)
            return None
        if answer is None:
            return None
        try:
            grid = _grid_from_answer(answer)
        except SongError as exc:
            self._failed[song] = stamp
            log.warning("no beat grid for %s: %s", song, exc)
            return None
        log.info("%s: %.1f BPM, %d beats", song, grid.tempo_bpm, len(grid.beats))
        try:
            save_grid(song, grid)
        except OSError as exc:  # the grid still serves this run; it is only not kept
            log.warning("cannot store the beat grid of %s: %s", song, exc.strerror or exc)
        return grid

    def _analyse(self, song: Path) -> str | None:
        """The analysis's answer line for ``song``, or ``None`` when stopped by :meth:`close`."""
        request = f"{song}\t{self._beats_per_bar}\n"
        if self._socket_path is not None:
            return self._analyse_in_unit(request)
        return self._analyse_in_child(request)

    def _analyse_in_child(self, request: str) -> str | None:
        """Ask a child process: the analysis's memory stays out of the daemon, and :meth:`close`
        can stop an analysis at once."""
        command = [
            sys.executable,
            "-P",  # nothing imported from the current folder (PYTHONPATH still counts)
            "-s",  # nor from the user's site-packages
            "-m",
            "party_button.beats.worker",
            "--child-of",
            str(os.getpid()),
        ]
        with self._lock:
            if self._closed.is_set():
                return None
            self._child = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            child = self._child
        out, err = child.communicate(request)
        with self._lock:
            self._child = None
        if self._closed.is_set():
            return None
        if not out.strip():
            lines = err.strip().splitlines()
            reason = lines[-1] if lines else f"the analysis ended with code {child.returncode}"
            return json.dumps({"error": reason})
        return out

    def _analyse_in_unit(self, request: str) -> str | None:
        """Ask the beats unit through its socket (one connection, one song)."""
        assert self._socket_path is not None
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                connection.connect(str(self._socket_path))
            except OSError as exc:
                raise AnalysisUnavailable(
                    f"cannot reach the beat analysis at {self._socket_path} "
                    f"({exc.strerror or exc}; is party-button-beats.socket running?)"
                ) from None
            with self._lock:
                if self._closed.is_set():
                    return None
                self._connection = connection
            answer = b""
            try:
                connection.sendall(request.encode())
                while chunk := connection.recv(65536):
                    answer += chunk
            except OSError as exc:
                answer = json.dumps({"error": f"the analysis broke off: {exc}"}).encode()
        finally:
            with self._lock:
                self._connection = None
            connection.close()
        if self._closed.is_set():
            return None
        if not answer.strip():
            return json.dumps({"error": "the analysis ended without an answer (see its journal)"})
        return answer.decode(errors="replace")


def _grid_from_answer(answer: str) -> BeatGrid:
    """The grid in an analysis's answer line; raises SongError with the analysis's reason."""
    try:
        document = json.loads(answer)
    except ValueError:
        raise SongError(f"the analysis answered something that is not JSON: {answer!r}") from None
    if isinstance(document, dict) and "error" in document:
        raise SongError(str(document["error"]))
    try:
        return grid_from_document(document)
    except ValueError as exc:
        raise SongError(f"the analysis gave no usable grid: {exc}") from None


def answer(request: str) -> dict[str, object]:
    """The answer to one request line, ``SONG<TAB>BEATS_PER_BAR``: a grid document or an error."""
    song_text, _, bar_text = request.rstrip("\n").partition("\t")
    if not song_text or not bar_text.isdigit():
        return {"error": f"bad request {request!r} (expected SONG<TAB>BEATS_PER_BAR)"}
    song = Path(song_text)
    try:
        from party_button.beats.analysis import analyze_song  # numpy: only in the analysis

        grid = analyze_song(song, int(bar_text))
    except SongError as exc:
        return {"error": str(exc).removeprefix(f"{song}: ")}
    except Exception as exc:  # an answer is always better than a silent end
        return {"error": f"{type(exc).__name__}: {exc}"}
    return grid_document(song, grid)


def _exit_on_hang_up(fd: int) -> None:
    """End the process when the peer of the socket ``fd`` hangs up: nobody waits any more."""
    poller = select.poll()
    poller.register(fd, select.POLLRDHUP)
    poller.poll()
    os._exit(0)


def _die_with_parent(parent: int) -> None:
    """Be killed when ``parent``, the process that started this one, dies, even by
    ``SIGKILL``: an analysis nobody waits for must not go on using the CPU."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the request above took effect
        os._exit(0)


def main(argv: list[str]) -> int:
    """Answer one request from stdin on stdout: as the daemon's child (``--child-of PID``:
    at a lower priority, and ending with the daemon) or in the beats unit."""
    if len(argv) == 2 and argv[0] == "--child-of" and argv[1].isdigit():
        _die_with_parent(int(argv[1]))
        # Best effort: a lower priority is a courtesy. The unit sets its own with Nice= and
        # the idle scheduling classes, where a system-call filter may refuse setpriority().
        with contextlib.suppress(OSError):
            os.nice(CHILD_NICENESS)
    elif argv:
        print(
            "usage: python -m party_button.beats.worker [--child-of PID] < request", file=sys.stderr
        )
        return 2
    request = sys.stdin.readline()
    if stat.S_ISSOCK(os.fstat(sys.stdin.fileno()).st_mode):
        threading.Thread(target=_exit_on_hang_up, args=(sys.stdin.fileno(),), daemon=True).start()
    started = time.monotonic()
    document = answer(request)
    try:
        print(json.dumps(document), flush=True)
    except (BrokenPipeError, ConnectionResetError):
        os._exit(0)  # the asker hung up while the analysis ended: nobody waits any more
    # For the journal (the unit's stderr): what the analysis cost, against the unit's budget.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    song = request.partition("\t")[0]
    took = time.monotonic() - started
    print(f"{song}: {took:.1f} s, peak memory {peak_mb:.0f} MB", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A background thread that gives new songs a beat grid while the daemon keeps partying.

The daemon owns one :class:`BeatWorker`, submits songs that have no current grid, and learns
of each grid through ``on_done``. Without librosa the worker is disabled: it says so once in
the log and ignores what is submitted, and the light show keeps its tempo-free pattern.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from party_button.beats.grid import (
    BeatGrid,
    SongStamp,
    analyze_song,
    grid_document,
    grid_from_document,
    librosa_available,
    load_grid,
    save_grid,
)
from party_button.errors import SongError

log = logging.getLogger(__name__)

_STOP = None


class BeatWorker:
    """One worker thread analysing submitted songs, one at a time, in submission order.

    ``on_done(song, grid)`` is called from the worker thread for every submitted song that ends
    up with a current grid, whether just analysed or already stored; keep it short (put an event
    on the daemon's queue). A song that cannot be analysed is logged and not retried until its
    file changes. Use as a context manager, or call :meth:`close`::

        with BeatWorker(lambda song, grid: events.put(("grid", song, grid))) as worker:
            worker.submit(Path("songs/lift-off.ogg"))
    """

    def __init__(self, on_done: Callable[[Path, BeatGrid], None], beats_per_bar: int = 4) -> None:
        self._on_done = on_done
        self._beats_per_bar = beats_per_bar
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._pending: set[Path] = set()
        self._failed: dict[Path, SongStamp] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[str] | None = None
        if librosa_available():
            self._thread = threading.Thread(target=self._run, name="beat-worker", daemon=True)
            self._thread.start()
        else:
            log.info(
                "beat analysis is off: librosa is not installed "
                "(pip install 'party-button[beats]'); lights use a tempo-free pattern"
            )

    @property
    def enabled(self) -> bool:
        """Whether songs are analysed (librosa is installed and the worker is not closed)."""
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
        """Drop queued songs, stop an analysis under way (its child process), join the thread.

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
            grid = self._analyse_in_child(song)
        except SongError as exc:
            self._failed[song] = stamp
            log.warning("no beat grid for %s", exc)
            return None
        if grid is None:
            return None
        log.info("%s: %.1f BPM, %d beats", song, grid.tempo_bpm, len(grid.beats))
        try:
            save_grid(song, grid)
        except OSError as exc:  # the grid still serves this run; it is only not kept
            log.warning("cannot store the beat grid of %s: %s", song, exc.strerror or exc)
        return grid

    def _analyse_in_child(self, song: Path) -> BeatGrid | None:
        """Analyse ``song`` in a child process: librosa's memory stays out of the daemon, and
        :meth:`close` can stop an analysis at once. ``None`` when stopped; raises SongError."""
        command = [sys.executable, "-m", "party_button.beats.worker", str(song)]
        with self._lock:
            if self._closed.is_set():
                return None
            self._child = subprocess.Popen(
                [*command, str(self._beats_per_bar)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            child = self._child
        out, err = child.communicate()
        with self._lock:
            self._child = None
        if self._closed.is_set():
            return None
        if child.returncode != 0:
            lines = err.strip().splitlines()
            raise SongError(
                lines[-1] if lines else f"{song}: analysis ended with {child.returncode}"
            )
        try:
            return grid_from_document(json.loads(out))
        except ValueError as exc:
            raise SongError(f"{song}: the analysis gave no usable grid: {exc}") from None


def main(argv: list[str]) -> int:
    """The child's side: analyse one song at low priority and print its grid as JSON."""
    os.nice(10)
    song, beats_per_bar = Path(argv[0]), int(argv[1])
    try:
        grid = analyze_song(song, beats_per_bar)
    except SongError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(json.dumps(grid_document(song, grid)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The running daemon's songs library: scanned, checked and picked from off the main loop.

A :class:`SongPicker` owns one background thread. It scans the songs folders (the first pass
hands on what it finds as it goes, so a press during a long first scan already plays what has
been found), scans again every :data:`SCAN_INTERVAL` seconds and whenever the daemon asks
(after each party), and keeps the next song and the next clip *checked*: the file is a
non-empty regular file that can be opened, its header does not say it holds no sound, and its
beat grid is loaded (which hashes the whole song). The main loop only calls :meth:`take`,
which returns the checked pick at once, or, when the thread is still checking, the next item
straight from the bag (its grid follows through ``on_grid``). Nothing the loop calls waits on
a disk.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from party_button.beats.grid import BeatGrid, grid_path, load_grid
from party_button.errors import SongError
from party_button.media.library import ScannedLibrary, beat_source, library_parts
from party_button.media.song_length import song_length
from party_button.names import printable
from party_button.song_file import (
    MAX_SONG_BYTES,
    SongUnavailable,
    file_stamp,
    open_song,
)

if TYPE_CHECKING:
    from party_button.config.schema import Config

log = logging.getLogger(__name__)

SCAN_INTERVAL = 10.0
"""Seconds between two passes over the songs folders when nothing asks for one."""
CLOSE_TIMEOUT = 1.0
"""Seconds :meth:`SongPicker.close` waits for the thread (a song being hashed is not waited for)."""
AFTER_TAKE = 0.03
"""Seconds the thread lets the loop have after a take (it loads and starts that pick) before
it checks the next one."""


@dataclass(frozen=True)
class Pick:
    """A song or clip to play, with what the thread learnt about it.

    ``checked`` picks had their file looked at and their ``grid`` loaded; ``length`` is what
    the header says (None when it does not say, or when the pick is not checked).
    """

    path: Path
    checked: bool = False
    grid: BeatGrid | None = None
    length: float | None = None


class SongPicker:
    """The songs library of ``config`` in a background thread; the loop :meth:`take`\\ s picks.

    ``on_change()`` is called (from the thread) when a pick is ready or a pass is over,
    ``on_no_grid(path)`` for each song found without a beat grid file and each checked
    song whose grid file is out of date, and
    ``on_grid(path, grid)`` with the grid of a pick that :meth:`take` gave unchecked. Keep
    them short: put an event on the daemon's queue. Close with :meth:`close`.
    """

    def __init__(
        self,
        config: Config,
        *,
        seed: int | None = None,
        on_change: Callable[[], None] = lambda: None,
        on_no_grid: Callable[[Path], None] = lambda song: None,
        on_grid: Callable[[Path, BeatGrid], None] = lambda song, grid: None,
        scan_interval: float = SCAN_INTERVAL,
    ) -> None:
        self.folders = config.songs.folders
        self._lock = threading.Lock()
        scanner, library = library_parts(config, seed=seed)
        self._library = library
        self._scanned = ScannedLibrary(scanner, library, self._lock)
        self._on_change = on_change
        self._on_no_grid = on_no_grid
        self._on_grid = on_grid
        self._scan_interval = scan_interval
        self._ready: dict[str, Pick] = {}
        self._grids_wanted: list[str] = []
        self._rescan = False
        self._taken_at = 0.0
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._complete = threading.Event()
        self.passes = 0  # passes over the folders that are over
        self._passes_begun = 0
        self._thread = threading.Thread(target=self._run, name="song-picker", daemon=True)

    # -- the loop's side: never waits on a disk ----------------------------------------------

    def start(self) -> None:
        """Start the thread (once): the first pass over the folders begins."""
        if self._thread.ident is None:
            self._thread.start()

    def close(self) -> None:
        """Stop the thread; safe to call twice. A pass under way ends at its next folder."""
        self._closed.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(CLOSE_TIMEOUT)

    def __enter__(self) -> SongPicker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def complete(self) -> bool:
        """Whether the first pass over the folders is over."""
        return self._complete.is_set()

    def wait_complete(self, timeout: float | None = None) -> bool:
        """Wait until the first pass is over (for commands and tests, never the loop)."""
        return self._complete.wait(timeout)

    def __len__(self) -> int:
        with self._lock:
            return len(self._library)

    @property
    def clip_count(self) -> int:
        """How many clips can be picked."""
        with self._lock:
            return self._library.clip_count

    @property
    def next_checked(self) -> bool:
        """Whether the song (and clip) that come next have been checked."""
        with self._lock:
            upcoming = self._library.peek()
            return bool(upcoming) and all(item in self._ready for item in upcoming)

    def is_clip(self, path: Path) -> bool:
        """Whether ``path`` is a clip (by its extension) rather than a song."""
        return self._library.is_clip(path)

    def take(self, *, clips: bool = True) -> Pick | None:
        """The next song or clip (only songs with ``clips=False``); None for an empty library."""
        with self._lock:
            item = self._library.next_item(clips=clips)
            if item is None:
                return None
            pick = self._ready.pop(item, None)
            if pick is None:
                self._grids_wanted.append(item)
            self._taken_at = time.monotonic()
        self._wake.set()
        return pick or Pick(Path(item))

    def set_aside(self, path: Path, reason: str) -> None:
        """Log that ``path`` failed and keep it out of the picks until the file changes.

        A file that is no longer there is not broken: it is kept out quietly, and the folders
        are looked at again (it leaves the library, or comes back when it is there again).
        """
        self._set_aside(path, reason, only_if_next=False)

    def _set_aside(self, path: Path, reason: str, *, only_if_next: bool) -> None:
        """:meth:`set_aside`; with ``only_if_next``, only while ``path`` is still to come (if
        the loop took it meanwhile, the loop says what became of it)."""
        stamp = file_stamp(path)
        gone = not os.path.lexists(path)
        with self._lock:
            if only_if_next and os.fspath(path) not in self._library.peek():
                return
            self._library.set_aside(os.fspath(path), stamp)
            self._ready.pop(os.fspath(path), None)
            self._rescan = self._rescan or gone
        if gone:
            log.info("%s is gone: looking at the songs folders again", printable(path))
        else:
            log.warning("skipping %s (set aside until the file changes)", reason)
        self._wake.set()

    def use_clips(self, on: bool) -> None:
        """Let clips take part, or play songs only."""
        with self._lock:
            self._library.use_clips(on)
            self._drop_stale()
        self._wake.set()

    def rescan(self) -> int:
        """Ask for a pass over the folders now; returns its number. It has looked at
        everything done before this call when :attr:`passes` reaches that number, and
        ``on_change`` follows."""
        with self._lock:
            self._rescan = True
            number = self._passes_begun + 1
        self._wake.set()
        return number

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._first_pass()
            next_pass = time.monotonic() + self._scan_interval
            while not self._closed.is_set():
                self._prepare_next()
                self._load_wanted_grids()
                self._wake.wait(max(0.0, next_pass - time.monotonic()))
                self._wake.clear()
                self._closed.wait(max(0.0, self._taken_at + AFTER_TAKE - time.monotonic()))
                if self._closed.is_set():
                    break
                if self._rescan or time.monotonic() >= next_pass:
                    with self._lock:
                        asked, self._rescan = self._rescan, False
                        self._passes_begun += 1
                    changed = self._scanned.refresh(self._found, self._closed.is_set)
                    next_pass = time.monotonic() + self._scan_interval
                    self.passes += 1
                    if asked or changed:  # a routine pass that found nothing stays quiet
                        self._on_change()
        except Exception:  # a bug here must not take the party down: the loop plays on
            log.exception("the songs library stopped looking for songs")

    def _first_pass(self) -> None:
        started = time.monotonic()
        with self._lock:
            self._passes_begun += 1

        def found(added: list[str], removed: list[str]) -> None:
            self._found(added, removed)
            self._prepare_next()  # an early press plays what has been found

        self._scanned.refresh(found, self._closed.is_set)
        with self._lock:
            self._library.forget_next()  # chosen from part of the library: choose again
            self._ready.clear()
            songs, clips = len(self._library) - self._library.clip_count, self._library.clip_count
        log.info(
            "%d songs and %d clips in %s (scanned in %.1f s)",
            songs,
            clips,
            ", ".join(printable(folder) for folder in self.folders),
            time.monotonic() - started,
        )
        self.passes += 1
        self._complete.set()
        self._on_change()

    def _found(self, added: list[str], _removed: list[str]) -> None:
        """New songs without a beat grid file go to ``on_no_grid``."""
        for path in added:
            if not self._library.is_clip(path) and not os.path.exists(grid_path(Path(path))):
                self._on_no_grid(Path(path))

    def _prepare_next(self) -> None:
        """Check the items that come next until each is playable or the library runs out;
        ``on_change`` follows when any was checked."""
        checked = False
        while not self._closed.is_set():
            with self._lock:
                waiting = [item for item in self._library.peek() if item not in self._ready]
            if not waiting:
                break
            checked = True
            for item in waiting:
                try:
                    pick = self._check(item)
                except SongUnavailable as exc:
                    log.warning("cannot check the next song now: %s; trying again later", exc)
                    return
                if isinstance(pick, str):  # what is wrong with it
                    self._set_aside(Path(item), pick, only_if_next=True)
                    continue
                with self._lock:
                    if item in self._library.peek():
                        self._ready[item] = pick
                    self._drop_stale()
        if checked:
            self._on_change()

    def _check(self, item: str) -> Pick | str:
        """The checked pick of ``item``, or what keeps it from playing; raises
        :class:`SongUnavailable` when it cannot be looked at now."""
        path = Path(item)
        clip = self._library.is_clip(item)
        kind = "clip" if clip else "song"
        try:
            descriptor = open_song(path, max_bytes=None if clip else MAX_SONG_BYTES)
        except SongUnavailable:
            raise
        except SongError as exc:
            return f"{kind}: {exc}"
        try:
            length = None if clip else song_length(descriptor, os.fstat(descriptor).st_size)
        except OSError as exc:
            return f"{kind}: {printable(path)}: cannot be read ({exc.strerror})"
        finally:
            os.close(descriptor)
        if length == 0:
            return f"{kind}: {printable(path)}: holds no sound"
        return Pick(path, checked=True, grid=self._grid(path), length=length)

    def _grid(self, item: Path) -> BeatGrid | None:
        """The current beat grid that the light show follows for ``item``, if there is one.

        A song whose grid file is out of date goes to ``on_no_grid`` (to be analysed again;
        songs without one went there when they were found).
        """
        with self._lock:
            paired = self._library.paired_song(item)
        source = beat_source(item, paired)
        grid = load_grid(source)
        stale = grid is None and os.path.exists(grid_path(source))
        if stale and not self._library.is_clip(source):
            self._on_no_grid(source)
        return grid

    def _load_wanted_grids(self) -> None:
        """The grids of picks that :meth:`take` gave unchecked."""
        with self._lock:
            wanted, self._grids_wanted = self._grids_wanted, []
        for item in wanted:
            grid = self._grid(Path(item))
            if grid is not None:
                self._on_grid(Path(item), grid)

    def _drop_stale(self) -> None:
        """Forget checked picks that are no longer next (the lock is held)."""
        next_items = set(self._library.peek())
        for item in [item for item in self._ready if item not in next_items]:
            del self._ready[item]

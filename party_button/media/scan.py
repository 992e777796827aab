"""Finding the songs and clips in the songs folders: incremental, and safe from hostile trees.

A :class:`FolderScanner` remembers every folder it listed with the folder's identity and
modification time. A pass looks at each folder again (one ``stat``) and lists again only the
folders that changed: a file added, removed or renamed changes its folder's time. A pass over
a library that did not change costs one ``stat`` per folder, however many songs there are.

What the walk never does: open a file, enter a folder twice (a symlink loop among folders is
reported and cut), go deeper than :data:`MAX_DEPTH`, keep more than :data:`MAX_FILES` files or
walk more than :data:`MAX_FOLDERS` folders. Names starting with a dot are hidden files (macOS's
``._song.mp3`` companions, ``.Trash``) and are skipped. A file with a song's name that is not a
regular file (a FIFO, a device, a dangling link, a link loop) or cannot be looked at is
reported once, one line naming it, and looked at again on every pass, so that a link whose
target comes back becomes a song.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from party_button.names import printable
from party_button.song_file import file_problem, not_the_files_fault, stat_problem

log = logging.getLogger(__name__)

MAX_FILES = 100_000
"""Songs and clips kept in all; more are reported once and left out."""
MAX_FOLDERS = 50_000
"""Folders walked in all."""
MAX_DEPTH = 32
"""Folder levels below a songs folder."""
MAX_PROBLEMS = 1_000
"""Files that are not songs remembered (to report once, and to look at again)."""
RACY_SECONDS = 2.0
"""A folder changed this recently is listed again on the next pass: a file added within the
same tick of the folder's clock (2 s on FAT) does not change the time again."""
LOGGED_PROBLEMS = 20
"""Problems named one by one per pass; the rest are counted in one line."""
BATCH = 256
"""Changes handed on together while a pass goes on."""

Changes = Callable[[list[str], list[str]], None]


@dataclass
class _Folder:
    """What a pass learnt about one folder."""

    key: tuple[int, int, int]  # device, inode, modification time (ns)
    racy: bool
    files: list[str] = field(default_factory=list)  # accepted names, sorted
    folders: list[str] = field(default_factory=list)  # sub-folder paths, sorted
    problems: dict[str, str] = field(default_factory=dict)  # path -> what is wrong with it


@dataclass
class _Pass:
    """One pass: the folders it entered, its changes not yet handed on, the problems it met."""

    on_changes: Changes
    stop: Callable[[], bool]
    entered: dict[tuple[int, int], str] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    left_out: str | None = None


class FolderScanner:
    """The files under ``roots`` whose extension is in ``extensions``, kept up to date.

    Each :meth:`scan` is one pass; it hands what was added and removed since the last pass to
    ``on_changes(added, removed)`` in pieces of about :data:`BATCH` paths while it goes on, so
    that the first songs of a big library can play before the pass ends. Not thread-safe: one
    thread scans.
    """

    def __init__(
        self,
        roots: Sequence[os.PathLike[str] | str],
        extensions: Iterable[str],
        exclude: Iterable[os.PathLike[str] | str] = (),
    ) -> None:
        self.roots = [os.fspath(root) for root in roots]
        self.accepted = frozenset(f".{ext.lower().lstrip('.')}" for ext in extensions)
        self.exclude = [os.fspath(path) for path in exclude]
        self._folders: dict[str, _Folder] = {}
        self._root_problems: dict[str, str] = {}
        self._reported: dict[str, str] = {}
        self._left_out: str | None = None
        self._count = 0
        self._problem_count = 0
        self._excluded: set[tuple[int, int]] = set()

    def __len__(self) -> int:
        return self._count

    def scan(self, on_changes: Changes, stop: Callable[[], bool] = lambda: False) -> None:
        """One pass over every folder; the changes since the last pass go to ``on_changes``.

        When ``stop()`` turns true the pass ends early; what it did not reach stays as it was.
        """
        self._excluded = set()
        for path in self.exclude:
            try:
                status = os.stat(path)
            except OSError:
                continue
            self._excluded.add((status.st_dev, status.st_ino))
        state = _Pass(on_changes, stop)
        for root in self.roots:
            if self._root_ok(root):
                self._walk(root, state)
        if stop():
            self._flush(state)
            return
        for path in [path for path in self._folders if path not in state.seen]:
            self._forget(path, state)
        self._flush(state)
        self._log_problems(state)

    # -- one pass --------------------------------------------------------------------------

    def _walk(self, root: str, state: _Pass) -> None:
        """Enter ``root`` and every folder below it, depth first, in name order."""
        stack = [(root, 0)]
        while stack and not state.stop():
            path, depth = stack.pop()
            listing = self._enter(path, state)
            if listing is None:
                continue
            if depth >= MAX_DEPTH and listing.folders:
                state.problems[path] = f"deeper than {MAX_DEPTH} folders: not searched further"
                continue
            stack.extend((child, depth + 1) for child in reversed(listing.folders))

    def _root_ok(self, root: str) -> bool:
        """Whether the songs folder ``root`` is there; says so once when it goes and comes back."""
        try:
            problem = None if stat.S_ISDIR(os.stat(root).st_mode) else "not a folder"
        except OSError as exc:
            problem = stat_problem(root, exc)
        before = self._root_problems.get(root)
        if problem is None:
            if before is not None:
                log.info("songs folder %s is back", printable(root))
                del self._root_problems[root]
            return True
        if before != problem:
            log.warning(
                "songs folder %s: %s; its songs are left out until it is back",
                printable(root),
                problem,
            )
            self._root_problems[root] = problem
        return False

    def _enter(self, path: str, state: _Pass) -> _Folder | None:
        """The listing of folder ``path``: the one kept when it did not change, else a new one."""
        try:
            status = os.stat(path)
        except OSError as exc:  # gone since its parent was listed
            state.problems[path] = stat_problem(path, exc)
            return None
        identity = (status.st_dev, status.st_ino)
        if identity in state.entered:
            first = printable(state.entered[identity])
            state.problems[path] = f"the same folder as {first} (a link loop?): not entered again"
            return None
        if len(state.entered) >= MAX_FOLDERS:
            state.left_out = state.left_out or f"more than {MAX_FOLDERS} folders"
            return None
        state.entered[identity] = path
        state.seen.add(path)
        key = (status.st_dev, status.st_ino, status.st_mtime_ns)
        kept = self._folders.get(path)
        if kept is None or kept.key != key or kept.racy or self._problems_changed(kept):
            racy = time.time() - status.st_mtime < RACY_SECONDS
            try:
                listing = self._list(path, _Folder(key, racy), state)
            except OSError as exc:
                log.warning(
                    "cannot read the folder %s now (%s): its songs stay as they were",
                    printable(path),
                    exc.strerror,
                )
                if kept is not None:
                    kept.racy = True  # read it again next time
                return kept
            self._keep(path, kept, listing, state)
        else:
            listing = kept
        state.problems.update(listing.problems)
        return listing

    def _list(self, path: str, listing: _Folder, state: _Pass) -> _Folder:
        """Read folder ``path``: its accepted files, sub-folders and problem files.

        Only those are kept, and at most the limits' worth of each, so that a folder of a
        million files costs no more memory than the limits allow.
        """
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    if not entry.name.startswith("."):
                        self._sort_out(entry, listing)
                    if len(listing.files) > MAX_FILES:
                        state.left_out = state.left_out or f"more than {MAX_FILES} songs and clips"
                        break
                    if len(listing.folders) > MAX_FOLDERS:
                        state.left_out = state.left_out or f"more than {MAX_FOLDERS} folders"
                        break
        except OSError as exc:
            if not_the_files_fault(exc):  # out of descriptors: keep what the last pass read
                raise
            listing.problems[path] = f"the folder {stat_problem(path, exc)}"
            listing.racy = True  # a permission given back does not change the folder's time
        listing.files.sort()
        listing.folders.sort()
        return listing

    def _sort_out(self, entry: os.DirEntry[str], listing: _Folder) -> None:
        """Put ``entry`` with the listing's folders, files or problems, or leave it out."""
        accepted = os.path.splitext(entry.name)[1].lower() in self.accepted
        try:
            if entry.is_dir():
                listing.folders.append(entry.path)
            elif accepted and entry.is_file():
                if not self._is_excluded(entry):
                    listing.files.append(entry.name)
            elif (accepted or entry.is_symlink()) and len(listing.problems) < MAX_PROBLEMS:
                listing.problems[entry.path] = self._problem(entry.path) or "not a song"
        except OSError as exc:
            if len(listing.problems) < MAX_PROBLEMS:
                listing.problems[entry.path] = stat_problem(entry.path, exc)

    def _problem(self, path: str) -> str | None:
        """What keeps ``path`` from being a song (or a folder) now; None when nothing does."""
        try:
            status = os.stat(path)
        except OSError as exc:
            return stat_problem(path, exc)
        return None if stat.S_ISDIR(status.st_mode) else file_problem(status, max_bytes=None)

    def _problems_changed(self, listing: _Folder) -> bool:
        """Whether a problem file of an unchanged folder changed behind its link."""
        return any(self._problem(path) != problem for path, problem in listing.problems.items())

    def _is_excluded(self, entry: os.DirEntry[str]) -> bool:
        if not self._excluded:
            return False
        status = entry.stat()
        return (status.st_dev, status.st_ino) in self._excluded

    def _keep(self, path: str, old: _Folder | None, new: _Folder, state: _Pass) -> None:
        """Keep ``new`` as the listing of ``path``, handing on what differs from ``old``."""
        before = set(old.files) if old is not None else set()
        for name in before.difference(new.files):
            state.removed.append(os.path.join(path, name))
            self._count -= 1
        kept = []
        for name in new.files:
            if name in before:
                kept.append(name)
            elif self._count < MAX_FILES:
                kept.append(name)
                state.added.append(os.path.join(path, name))
                self._count += 1
            else:
                state.left_out = state.left_out or f"more than {MAX_FILES} songs and clips"
        new.files = kept
        self._problem_count -= len(old.problems) if old is not None else 0
        if self._problem_count + len(new.problems) > MAX_PROBLEMS:
            new.problems.clear()
        self._problem_count += len(new.problems)
        self._folders[path] = new
        if len(state.added) + len(state.removed) >= BATCH:
            self._flush(state)

    def _forget(self, path: str, state: _Pass) -> None:
        """Folder ``path`` is gone (or no longer reached): its files leave the library."""
        listing = self._folders.pop(path)
        self._problem_count -= len(listing.problems)
        for name in listing.files:
            state.removed.append(os.path.join(path, name))
            self._count -= 1

    def _flush(self, state: _Pass) -> None:
        """Hand the changes found so far on."""
        if state.added or state.removed:
            added, removed = state.added, state.removed
            state.added, state.removed = [], []
            state.on_changes(added, removed)

    def _log_problems(self, state: _Pass) -> None:
        """Name each problem once, when it first shows (at most :data:`LOGGED_PROBLEMS`)."""
        new = [
            (path, problem)
            for path, problem in state.problems.items()
            if self._reported.get(path) != problem
        ]
        for path, problem in new[:LOGGED_PROBLEMS]:
            log.warning("not a song: %s: %s", printable(path), problem)
        if len(new) > LOGGED_PROBLEMS:
            log.warning("... and %d more files that are not songs", len(new) - LOGGED_PROBLEMS)
        if state.left_out is not None and state.left_out != self._left_out:
            log.warning("%s: the rest are left out", state.left_out)
        self._reported = state.problems
        self._left_out = state.left_out


def scan_library(
    folders: Iterable[os.PathLike[str] | str],
    extensions: Iterable[str],
    exclude: Iterable[os.PathLike[str] | str] = (),
) -> list[str]:
    """Every file under ``folders`` whose extension is accepted, sorted, without ``exclude``.

    One pass of a :class:`FolderScanner`; files that are not songs are logged and left out.
    """
    found: list[str] = []
    FolderScanner(list(folders), extensions, exclude).scan(lambda added, _: found.extend(added))
    return sorted(found)

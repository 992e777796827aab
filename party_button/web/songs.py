"""The songs folders as the web page sees them: listing, uploads and deletions.

Uploads go to the first songs folder. A name is refused rather than cleaned up: it must pass
:func:`~party_button.web.song_names.checked_name` (taken in NFC) and be a plain file name (no
folder, no leading dot) with one of the songs extensions, and no song may have the same name
in another Unicode form. The bytes stream into a hidden temporary file in that folder (the
library skips names that start with a dot), the size limit and the budget of all uploads in
progress are counted as they come, the file is checked by decoding (:mod:`.song_check`, one
at a time), and only then linked under its name, which never replaces a song that is already
there. Nothing outside the songs folders is ever written or removed, nor a sound the config
uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import stat
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from party_button.beats.grid import ANALYSIS_VERSION, SIDECAR_SUFFIX, grid_path, read_grid_file
from party_button.media.scan import FolderScanner
from party_button.names import printable
from party_button.web.song_check import NotASong, check_song
from party_button.web.song_names import BadName, checked_name

MAX_NAME_BYTES = 200
LIST_LIMIT = 200
"""Songs in one listing; a search narrows a bigger library down."""
_TEMP_PREFIX = ".upload-"
MAX_WAITING_CHECKS = 4
"""Uploads that may wait for the one check at a time; more are refused."""


class SongRefused(Exception):
    """An upload or deletion that is refused; ``status`` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Song:
    """One song of the library, named relative to its songs folder."""

    name: str
    folder: int
    size: int
    grid: str  # "ready", "stale" or "none"

    def as_json(self) -> dict[str, object]:
        """The song as the API shows it."""
        return {"name": self.name, "folder": self.folder, "size": self.size, "grid": self.grid}


def upload_name(raw: str | None, extensions: tuple[str, ...]) -> str:
    """``raw`` (in NFC) if it may be a new song's file name; else :class:`SongRefused` saying
    why."""
    try:
        name = checked_name(raw)
    except BadName as exc:
        raise SongRefused(str(exc)) from None
    shown = printable(name)[:80]
    if "/" in name or "\\" in name:
        raise SongRefused(f"{shown}: a song's name must not name a folder ('/' is not allowed)")
    if name.startswith("."):
        raise SongRefused(f"{shown}: a song's name must not start with a dot")
    if len(os.fsencode(name)) > MAX_NAME_BYTES:
        raise SongRefused(f"{shown}...: a song's name is at most {MAX_NAME_BYTES} bytes")
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    if extension not in extensions:
        raise SongRefused(f"{shown}: a song must end in .{', .'.join(extensions)}")
    return name


class UploadSlots:
    """What uploads may hold at once: bytes of temporary files against a budget, and one
    check (a decoding child) at a time, with :data:`MAX_WAITING_CHECKS` waiting their turn.

    Beyond either, an upload is refused with 503 and a reason; nothing is written first.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.held = 0
        self._check = asyncio.Lock()
        self._checks = 0  # checking or waiting to

    def take(self, count: int) -> None:
        """Count ``count`` more bytes of temporary files, or :class:`SongRefused` (503)."""
        if self.held + count > self.budget:
            raise SongRefused(
                f"other uploads hold {self.held // 1024**2} MB of the {self.budget // 1024**2} MB "
                "kept for uploads in progress: try again in a minute",
                503,
            )
        self.held += count

    def give_back(self, count: int) -> None:
        """``count`` bytes of temporary files are gone."""
        self.held -= count

    @contextlib.asynccontextmanager
    async def checking(self) -> AsyncIterator[None]:
        """The one check's turn, waiting for it; :class:`SongRefused` (503) when too many
        wait already."""
        if self._checks > MAX_WAITING_CHECKS:
            raise SongRefused(
                f"{self._checks} uploads are being checked or wait for it: try again in a minute",
                503,
            )
        self._checks += 1
        try:
            async with self._check:
                yield
        finally:
            self._checks -= 1


class SongsFolders:
    """The configured songs folders: what they hold, adding to the first, removing."""

    def __init__(
        self,
        folders: tuple[Path, ...],
        extensions: tuple[str, ...],
        exclude: tuple[Path, ...],
        upload_budget: int,
    ) -> None:
        self.folders = folders
        self.extensions = extensions
        self.protected = exclude
        self.slots = UploadSlots(upload_budget)
        self._scanner = FolderScanner([str(folder) for folder in folders], extensions, exclude)
        self._files: set[str] = set()
        self._lock = asyncio.Lock()

    @property
    def upload_folder(self) -> Path:
        """Where uploads go: the first songs folder."""
        return self.folders[0]

    def _scan(self) -> list[str]:
        def take(added: list[str], removed: list[str]) -> None:
            self._files.difference_update(removed)
            self._files.update(added)

        self._scanner.scan(take)
        return sorted(self._files)

    async def songs(self, search: str = "", limit: int = LIST_LIMIT) -> tuple[list[Song], int]:
        """Songs whose name holds ``search`` (any case), at most ``limit``, and how many match.

        The folders are looked at again (one ``stat`` per folder that did not change) off the
        event loop.
        """
        async with self._lock:
            paths = await asyncio.to_thread(self._scan)
        wanted = unicodedata.normalize("NFC", search).casefold()
        named = [(path, self._name(path)) for path in paths]
        matches = [
            (path, name)
            for path, name in named
            if wanted in unicodedata.normalize("NFC", name[1]).casefold()
        ]
        shown = await asyncio.to_thread(
            lambda: [_song(path, *name) for path, name in matches[:limit]]
        )
        return [song for song in shown if song is not None], len(matches)

    def _name(self, path: str) -> tuple[int, str]:
        """The songs folder ``path`` is in and its name relative to that folder."""
        for index, folder in enumerate(self.folders):
            with contextlib.suppress(ValueError):
                return index, printable(Path(path).relative_to(folder))
        return 0, printable(path)

    async def add(self, name: str, chunks: AsyncIterator[bytes], limit: int) -> Path:
        """Write a song from ``chunks`` as ``name`` in the upload folder, once it is checked.

        :class:`SongRefused`: too big (413, counted as the bytes come), not audio (422),
        the name is taken (409).
        """
        folder = self.upload_folder
        if _twin(folder, name) is not None:
            raise SongRefused(f"{printable(name)}: a song with this name is already there", 409)
        temp = folder / f"{_TEMP_PREFIX}{secrets.token_hex(8)}.part"
        try:
            descriptor = os.open(
                temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640
            )
        except OSError as exc:
            raise SongRefused(
                f"cannot write into the songs folder {printable(folder)}: {exc.strerror}", 507
            ) from None
        size = 0
        try:
            with os.fdopen(descriptor, "wb") as out:
                async for chunk in chunks:
                    if size + len(chunk) > limit:
                        raise SongRefused(
                            f"{printable(name)}: over the upload limit of {limit // 1024**2} MB",
                            413,
                        )
                    self.slots.take(len(chunk))
                    size += len(chunk)
                    await asyncio.to_thread(out.write, chunk)
                out.flush()
                await asyncio.to_thread(os.fsync, out.fileno())
            try:
                async with self.slots.checking():
                    await check_song(temp, name.rpartition(".")[2].lower())
            except NotASong as exc:
                raise SongRefused(
                    f"{printable(name)}: not a song the party can play: {exc}", 422
                ) from None
            if _twin(folder, name) is not None:
                raise SongRefused(f"{printable(name)}: a song with this name is already there", 409)
            _link_into_place(temp, folder / name)
        except OSError as exc:
            raise SongRefused(
                f"{printable(name)}: cannot be written: {exc.strerror}", 507
            ) from None
        finally:
            temp.unlink(missing_ok=True)
            self.slots.give_back(size)
        return folder / name

    async def remove(self, name: str) -> Path:
        """Delete the song called ``name`` (relative to a songs folder) and its beat grid;
        never a sound the config uses (the intro, the fallback)."""
        try:
            name = checked_name(name)
        except BadName as exc:
            raise SongRefused(str(exc)) from None
        return await asyncio.to_thread(self._remove, name)

    def _remove(self, name: str) -> Path:
        path = self._find(name)
        if any(_same_file(path, used) for used in self.protected):
            raise SongRefused(
                f"{printable(name)}: the config uses it (party.intro_sound or "
                "party.fallback_sound): change the config first",
                403,
            )
        try:
            path.unlink()
        except FileNotFoundError:
            raise SongRefused(f"{printable(name)}: no such song", 404) from None
        except OSError as exc:
            raise SongRefused(
                f"{printable(name)}: cannot be deleted: {exc.strerror}", 403
            ) from None
        grid_path(path).unlink(missing_ok=True)
        return path

    def _find(self, name: str) -> Path:
        """The song file called ``name``: within a songs folder, with a song's extension, a
        file (not a link or anything else) ; :class:`SongRefused` otherwise."""
        parts = Path(name).parts
        if not parts or Path(name).is_absolute() or any(p in ("..", ".") for p in parts):
            raise SongRefused(f"{printable(name)}: not a song's name", 400)
        if name.endswith(SIDECAR_SUFFIX) or name.rpartition(".")[2].lower() not in self.extensions:
            raise SongRefused(f"{printable(name)}: not a song's name", 400)
        for folder in self.folders:
            path = folder / name
            try:
                status = path.lstat()
            except FileNotFoundError:
                path = _twin(path.parent, path.name) or path  # the same name, decomposed
                try:
                    status = path.lstat()
                except OSError:
                    continue
            except OSError:
                continue
            if not path.resolve().is_relative_to(folder.resolve()):
                raise SongRefused(f"{printable(name)}: outside the songs folders", 400)
            if not stat.S_ISREG(status.st_mode):
                raise SongRefused(f"{printable(name)}: not a song file", 400)
            return path
        raise SongRefused(f"{printable(name)}: no such song", 404)


def _link_into_place(temp: Path, target: Path) -> None:
    """Give ``temp`` the name ``target`` at once, never replacing a file already there."""
    try:
        os.link(temp, target, follow_symlinks=False)
    except FileExistsError:
        raise SongRefused(
            f"{printable(target.name)}: a song with this name is already there", 409
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # A file system without hard links (FAT on a USB stick): check, then rename.
        if os.path.lexists(target):
            raise SongRefused(
                f"{printable(target.name)}: a song with this name is already there", 409
            ) from None
        os.rename(temp, target)


def _twin(folder: Path, name: str) -> Path | None:
    """The file in ``folder`` whose name is ``name`` once both are in NFC (``café`` written
    decomposed), or None."""
    wanted = unicodedata.normalize("NFC", name)
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if unicodedata.normalize("NFC", entry.name) == wanted:
                    return folder / entry.name
    except OSError:
        return None
    return None


def _same_file(path: Path, other: Path) -> bool:
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False


def _song(path: str, folder: int, name: str) -> Song | None:
    """The listing entry of ``path``; None when it went away meanwhile."""
    try:
        size = os.stat(path).st_size
    except OSError:
        return None
    return Song(name=name, folder=folder, size=size, grid=_grid_state(Path(path), size))


def _grid_state(song: Path, size: int) -> str:
    """``ready`` when the song has a beat grid made from a file of its size, ``stale`` when
    the grid is of another version of it, else ``none``. (The daemon checks the content's
    hash before it uses a grid; the page only reads the grid file.)"""
    try:
        grid = read_grid_file(grid_path(song))
    except (OSError, ValueError):
        return "none"
    return "ready" if grid.stamp.size == size and grid.version == ANALYSIS_VERSION else "stale"

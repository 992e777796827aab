"""The songs folders as the web page sees them: listing, uploads and deletions.

Uploads go to the first songs folder. A name is refused rather than cleaned up: it must be
a plain file name (no folder, no leading dot, no control character) with one of the songs
extensions. The bytes stream into a hidden temporary file in that folder (the library skips
names that start with a dot), the size limit is counted as they come, the file is checked by
decoding (:mod:`.song_check`), and only then linked under its name, which never replaces a
song that is already there. Nothing outside the songs folders is ever written or removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import secrets
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from party_button.beats.grid import (
    ANALYSIS_VERSION,
    SIDECAR_SUFFIX,
    grid_from_document,
    grid_path,
)
from party_button.media.scan import FolderScanner
from party_button.names import printable
from party_button.web.song_check import NotASong, check_song

MAX_NAME_BYTES = 200
LIST_LIMIT = 200
"""Songs in one listing; a search narrows a bigger library down."""
_TEMP_PREFIX = ".upload-"


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
    """``raw`` if it may be a new song's file name; else :class:`SongRefused` saying why."""
    if not raw:
        raise SongRefused("the file has no name")
    shown = printable(raw)[:80]
    if "/" in raw or "\\" in raw:
        raise SongRefused(f"{shown}: a song's name must not name a folder ('/' is not allowed)")
    if raw.startswith("."):
        raise SongRefused(f"{shown}: a song's name must not start with a dot")
    if any(ord(char) < 32 or ord(char) == 127 for char in raw):
        raise SongRefused(f"{shown}: control characters are not allowed in a song's name")
    if len(os.fsencode(raw)) > MAX_NAME_BYTES:
        raise SongRefused(f"{shown}...: a song's name is at most {MAX_NAME_BYTES} bytes")
    extension = raw.rpartition(".")[2].lower() if "." in raw else ""
    if extension not in extensions:
        raise SongRefused(f"{shown}: a song must end in .{', .'.join(extensions)}")
    return raw


class SongsFolders:
    """The configured songs folders: what they hold, adding to the first, removing."""

    def __init__(
        self, folders: tuple[Path, ...], extensions: tuple[str, ...], exclude: tuple[Path, ...]
    ) -> None:
        self.folders = folders
        self.extensions = extensions
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
        wanted = search.casefold()
        named = [(path, self._name(path)) for path in paths]
        matches = [(path, name) for path, name in named if wanted in name[1].casefold()]
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
        temp = folder / f"{_TEMP_PREFIX}{secrets.token_hex(8)}.part"
        try:
            descriptor = os.open(
                temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640
            )
        except OSError as exc:
            raise SongRefused(
                f"cannot write into the songs folder {printable(folder)}: {exc.strerror}", 507
            ) from None
        try:
            with os.fdopen(descriptor, "wb") as out:
                size = 0
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise SongRefused(
                            f"{printable(name)}: over the upload limit of {limit // 1024**2} MB",
                            413,
                        )
                    await asyncio.to_thread(out.write, chunk)
                out.flush()
                await asyncio.to_thread(os.fsync, out.fileno())
            try:
                await check_song(temp, name.rpartition(".")[2].lower())
            except NotASong as exc:
                raise SongRefused(
                    f"{printable(name)}: not a song the party can play: {exc}", 422
                ) from None
            _link_into_place(temp, folder / name)
        except OSError as exc:
            raise SongRefused(
                f"{printable(name)}: cannot be written: {exc.strerror}", 507
            ) from None
        finally:
            temp.unlink(missing_ok=True)
        return folder / name

    async def remove(self, name: str) -> Path:
        """Delete the song called ``name`` (relative to a songs folder) and its beat grid."""
        return await asyncio.to_thread(self._remove, name)

    def _remove(self, name: str) -> Path:
        path = self._find(name)
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
        grid = grid_from_document(json.loads(grid_path(song).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return "none"
    return "ready" if grid.stamp.size == size and grid.version == ANALYSIS_VERSION else "stale"

"""Opening song files without trusting them.

A songs folder may hold anything with a song's name: a FIFO (opening it would wait forever for
a writer), a device node, a socket, a symlink loop, a dangling link, a file that cannot be
read, a file of many gigabytes. :func:`open_song` refuses each with a one-line reason before
it opens anything that is not a regular file, and never blocks.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from party_button.errors import SongError
from party_button.names import printable

MAX_SONG_BYTES = 2 * 1024**3
"""A bigger file is not taken for a song (an hour of CD-quality WAV is 635 MB)."""

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
# Errors that say nothing about the file: the process or the system is short of something.
_NOT_THE_FILES_FAULT = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EINTR})
_SPECIAL_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class SongUnavailable(SongError):
    """A song cannot be opened now for a reason that is not the file's (the daemon is out of
    file descriptors): it is not broken, and is tried again later."""


def not_the_files_fault(exc: OSError) -> bool:
    """Whether ``exc`` comes from the process or the system (no descriptors or memory left),
    not from the file it names."""
    return exc.errno in _NOT_THE_FILES_FAULT


@dataclass(frozen=True)
class FileStamp:
    """What tells one version of a file from the next: a changed file has a new stamp."""

    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, status: os.stat_result) -> FileStamp:
        """The stamp of a file whose ``os.stat`` result is ``status``."""
        return cls(status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


def file_stamp(path: str | os.PathLike[str]) -> FileStamp | None:
    """The stamp of ``path`` now (following links), or None when it cannot be looked at."""
    try:
        return FileStamp.of(os.stat(path))
    except OSError:
        return None


def stat_problem(path: str | os.PathLike[str], exc: OSError) -> str:
    """Why ``path`` cannot be looked at, in a few words: a loop, a broken link, a permission."""
    if exc.errno == errno.ELOOP:
        return "a symlink loop"
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        if os.path.islink(path):
            return "a broken link (its target is missing)"
        return "no such file"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "cannot be read (permission denied)"
    return f"cannot be read ({exc.strerror or exc})"


def file_problem(status: os.stat_result, max_bytes: int | None = MAX_SONG_BYTES) -> str | None:
    """Why a file with ``status`` is not a song file, or None when it may be one."""
    for test, kind in _SPECIAL_KINDS:
        if test(status.st_mode):
            return f"{kind}, not a file"
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file"
    if status.st_size == 0:
        return "an empty file"
    if max_bytes is not None and status.st_size > max_bytes:
        return f"{status.st_size / 1024**3:.1f} GiB: over the {max_bytes / 1024**3:g} GiB limit"
    return None


def open_song(path: str | os.PathLike[str], max_bytes: int | None = MAX_SONG_BYTES) -> int:
    """A read-only descriptor of ``path``, which must be a non-empty regular file.

    Raises :class:`SongError` (``FILE: reason``) otherwise, :class:`SongUnavailable` when
    the process is short of descriptors or memory. The file is looked at before it is opened
    and opened without blocking, so a FIFO or a device is never waited on or woken; the
    caller closes the descriptor.
    """
    try:
        problem = file_problem(os.stat(path), max_bytes)
    except OSError as exc:
        problem = stat_problem(path, exc)
    if problem is None:
        try:
            descriptor = os.open(path, _OPEN_FLAGS)
        except OSError as exc:
            if not_the_files_fault(exc):
                raise SongUnavailable(f"{printable(path)}: {exc.strerror}") from None
            problem = stat_problem(path, exc)
        else:
            # Looked at again through the descriptor: the name may have been swapped since.
            problem = file_problem(os.fstat(descriptor), max_bytes)
            if problem is None:
                return descriptor
            os.close(descriptor)
    raise SongError(f"{printable(path)}: {problem}")


def descriptor_path(descriptor: int) -> Path:
    """A name that opens the very file behind ``descriptor``, whatever its own name now is."""
    return Path(f"/proc/self/fd/{descriptor}")

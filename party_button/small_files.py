"""Reading a small file from a folder that others can write, without trusting it.

A songs folder is written by the web service and the ``party-button`` group: a beat grid
there (``SONG.beats.json``) may be a FIFO (a plain ``open`` waits for a writer forever), a
device, a link to somewhere else, or many gigabytes. :func:`read_small_file` is the one way
such files (grids, sidecars, config and password files) are read: opened without blocking
and without following a link in its last part, looked at through the descriptor (a regular
file, or :class:`FileRefused`), and read up to a limit.

Example::

    try:
        text = read_small_file(grid_path(song), MAX_GRID_BYTES).decode()
    except FileNotFoundError:
        ...  # no grid
    except OSError as exc:  # FileRefused included: its str is the reason
        log.warning("%s: %s", path, exc)
"""

from __future__ import annotations

import errno
import os
import stat

_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class FileRefused(OSError):
    """A file that is not read: not a regular file (``mode`` says what it is) or over the
    limit (``limit`` is set); its ``str`` is the reason in a few words."""

    def __init__(self, reason: str, *, mode: int | None = None, limit: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.mode = mode
        self.limit = limit

    def __str__(self) -> str:
        return self.reason


def file_kind(mode: int) -> str:
    """What a file of ``mode`` is, in two words (``a FIFO``, ``a folder``)."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a plain file"


def read_small_file(
    path: str | os.PathLike[str], max_bytes: int, *, follow_links: bool = False
) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` of them.

    Raises ``FileNotFoundError`` when it is not there, :class:`FileRefused` when it is not a
    regular file (a link too, unless ``follow_links``) or is bigger, ``OSError`` when it
    cannot be read. Never blocks on a FIFO or a device.
    """
    flags = _FLAGS if follow_links else _FLAGS | os.O_NOFOLLOW
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_links and os.path.islink(path):
            raise FileRefused("a symbolic link, not a regular file", mode=stat.S_IFLNK) from None
        raise
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise FileRefused(f"{file_kind(mode)}, not a regular file", mode=mode)
        chunks = []
        size = 0
        while size <= max_bytes:
            chunk = os.read(descriptor, max_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(descriptor)
    if size > max_bytes:
        raise FileRefused(f"larger than {_size(max_bytes)}", limit=max_bytes)
    return b"".join(chunks)


def _size(count: int) -> str:
    return f"{count // 1024**2} MiB" if count >= 1024**2 else f"{count // 1024} KiB"

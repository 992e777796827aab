"""Hostile songs folders for tests and benchmarks: loops, FIFOs, devices, odd names, many files."""

from __future__ import annotations

import logging
import os
import pickle
import pwd
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from party_button.systemd import PrintableFormatter
from party_button.testing import tone_bytes

NOT_UTF8 = os.fsdecode(b"caf\xe9 \xff.ogg")  # Latin-1 bytes in a name: not UTF-8
SHOWN_NOT_UTF8 = "caf\\xe9 \\xff.ogg"


def header_only_ogg(path: Path) -> Path:
    """The first pages of a real Ogg Vorbis song: its headers and no sound."""
    song = tone_bytes(3.0)
    setup_end = song.index(b"OggS", song.index(b"\x05vorbis"))  # the page after the setup header
    path.write_bytes(song[:setup_end])
    return path


def fifo(path: Path) -> Path:
    """A FIFO (named pipe) at ``path``: opening it to read would wait for a writer forever."""
    os.mkfifo(path)
    return path


def null_device(path: Path) -> Path | None:
    """A character device node like /dev/null at ``path``; None where nodes cannot be made."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        return None
    return path


def sparse_file(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that takes no disk space (all zeros)."""
    with path.open("wb") as file:
        file.truncate(size)
    return path


class StrictUtf8Handler(logging.Handler):
    """Records log lines as they reach journald, and fails as journald's handler does on text
    that is not UTF-8."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(PrintableFormatter("%(message)s"))  # the daemon's journald format
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        line.encode("utf-8")  # raises UnicodeEncodeError on surrogate escapes
        self.lines.append(line)


def in_child(function: Callable[[], Any], *, as_nobody: bool = False) -> Any:
    """``function()``'s result, run in a forked child process (as the user nobody with
    ``as_nobody``, when run as root), so that it may change what the process may do.

    Files with no permissions are readable by root, so tests of unreadable files need a user
    without root's powers. The result comes back pickled; an exception is raised here.
    """
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os.close(read_end)
        try:
            if as_nobody and os.geteuid() == 0:
                nobody = pwd.getpwnam("nobody")
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
            outcome: tuple[bool, Any] = (True, function())
        except BaseException as exc:
            outcome = (False, repr(exc))
        with os.fdopen(write_end, "wb") as out:
            pickle.dump(outcome, out)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as results:
        data = results.read()
    os.waitpid(child, 0)
    ok, value = pickle.loads(data)
    if not ok:
        raise AssertionError(f"in the child: {value}")
    return value


def world_readable_folder() -> Path:
    """A fresh folder that the user nobody can enter (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="party-button-unprivileged-"))
    folder.chmod(0o755)
    return folder

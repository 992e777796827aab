r"""Display-safe names: file names as text that any log line, JSON answer or terminal takes.

File names are bytes on Linux; those that are not UTF-8 reach Python as strings with
surrogate escapes, which journald, JSON and a UTF-8 terminal refuse. :func:`printable` is the
form every log line, status answer and command output uses.

Example::

    >>> printable(b"caf\xe9.ogg")
    'caf\\xe9.ogg'
    >>> printable("song.ogg")
    'song.ogg'
"""

from __future__ import annotations

import os


def printable(path: str | bytes | os.PathLike[str]) -> str:
    """``path`` as text that any log or JSON takes: bytes that are not UTF-8 become ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")

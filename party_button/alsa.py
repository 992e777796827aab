"""Keep libasound's own error messages out of the daemon's output.

libasound prints every error it meets straight to stderr (``ALSA lib confmisc.c:855:
(parse_card) cannot find card '0'`` and seven more lines for a missing sound card), on every
attempt to open a device. Under systemd that is eight journal lines every few seconds for as
long as no speaker is plugged in. The daemon says what failed itself, once, from SDL's error
(``ALSA: Couldn't open audio device: ...``), so libasound's messages are dropped.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

# void (*snd_lib_error_handler_t)(const char *file, int line, const char *function, int err,
#                                 const char *fmt, ...): the variadic rest is never read.
_ErrorHandler = ctypes.CFUNCTYPE(
    None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
)


def _ignore(_file: bytes, _line: int, _function: bytes, _err: int, _fmt: bytes) -> None:
    """libasound's error handler: says nothing."""


_handler = _ErrorHandler(_ignore)  # kept for the life of the process: libasound holds it
_installed = False


def silence_library_errors() -> bool:
    """Install a silent error handler in libasound (the copy SDL loads, ``libasound.so.2``).

    Returns whether it is installed; without libasound there is nothing to silence (and SDL
    has no ALSA either). Safe to call more than once.
    """
    global _installed
    if _installed:
        return True
    try:
        library = ctypes.CDLL("libasound.so.2")
    except OSError:
        return False
    library.snd_lib_error_set_handler(_handler)
    _installed = True
    log.debug("libasound's error messages are silenced")
    return True

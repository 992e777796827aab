"""Keep libasound's own error messages out of the daemon's output.

libasound prints every error it meets straight to stderr (``ALSA lib confmisc.c:855:
(parse_card) cannot find card '0'`` and seven more lines for a missing sound card), on every
attempt to open a device. Under systemd that is eight journal lines every few seconds for as
long as no speaker is plugged in. The daemon says what failed itself, once, from SDL's error
(``ALSA: Couldn't open audio device: ...``), so libasound's messages are dropped.

The handler must not be Python code: SDL's device-detection thread reports errors while the
main thread holds the interpreter lock inside ``pygame.mixer.init()``, waiting for that very
thread, and a Python callback would wait for the lock forever. So the handler is C's
``abs()``: it takes the first argument, touches nothing, and returns, which is all that a
handler with the signature ``void (const char *file, ...)`` needs to do.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

_installed = False


def silence_library_errors() -> bool:
    """Give libasound (the copy SDL loads, ``libasound.so.2``) an error handler that is silent.

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
    silent = ctypes.cast(ctypes.CDLL(None).abs, ctypes.c_void_p)
    library.snd_lib_error_set_handler.argtypes = [ctypes.c_void_p]
    library.snd_lib_error_set_handler(silent)
    _installed = True
    log.debug("libasound's error messages are silenced")
    return True

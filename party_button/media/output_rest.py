"""Let the mixer's audio thread sleep while nothing plays, and wake it at once for a sound.

SDL's audio thread wakes once per buffer (86 times a second at 512 samples), even in
silence: it mixes a buffer of zeros and hands it to the device. Between parties that thread
is most of the daemon's idle CPU. :class:`OutputRest` holds the device's lock (SDL's
``SDL_LockAudioDevice``, the lock SDL takes around each buffer it mixes) while nothing plays:
the thread then blocks before its next buffer and costs nothing. The output runs dry (the
device stops, as at the end of any sound); releasing the lock lets the thread mix at once,
so a sound started just before is the first thing the emptied device plays, with no buffer
of silence ahead of it.

The lock is SDL's own recursive mutex: the thread that holds it (the one that called
:meth:`OutputRest.hold`) may go on calling the mixer, which takes the same lock inside;
another thread that calls a mixer function which locks would wait until the rest ends. So
the player that rests belongs to one thread (the daemon's loop), and the mixer must be woken
before it is closed (closing waits for the audio thread).
"""

from __future__ import annotations

import ctypes
import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)

# SDL keeps its open devices in 16 slots; SDL_OpenAudioDevice numbers them from 2.
_DEVICE_IDS = range(2, 17)
_SDL_AUDIO_STOPPED = 0


def _sdl_library() -> ctypes.CDLL | None:
    """The SDL 2 library pygame loaded into this process, or ``None`` if none is found."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    paths = {line.split()[-1] for line in maps.splitlines() if "libSDL2-2" in line}
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        if hasattr(library, "SDL_LockAudioDevice"):
            return library
    return None


class OutputRest:
    """Holds and releases the lock of the one audio device open in this process (the mixer's).

    Without a usable SDL library, or with more or fewer than one device open, it does
    nothing, and the audio thread runs as before.
    """

    def __init__(self) -> None:
        self._sdl: ctypes.CDLL | None = None
        self._device = 0
        self._holder: int | None = None

    @property
    def resting(self) -> bool:
        """Whether the audio thread is held now."""
        return self._holder is not None

    def attach(self) -> bool:
        """Find the device the mixer has just opened; returns whether it can rest."""
        self._holder, self._device = None, 0
        self._sdl = self._sdl or _sdl_library()
        if self._sdl is None:
            log.debug("SDL's library not found: the audio thread never rests")
            return False
        status = self._sdl.SDL_GetAudioDeviceStatus
        open_ids = [dev for dev in _DEVICE_IDS if status(dev) != _SDL_AUDIO_STOPPED]
        if len(open_ids) != 1:
            log.debug("%d audio devices open: the audio thread never rests", len(open_ids))
            return False
        self._device = open_ids[0]
        return True

    def hold(self) -> None:
        """Stop the audio thread before its next buffer; nothing may be playing."""
        if self._sdl is None or not self._device or self._holder is not None:
            return
        self._sdl.SDL_LockAudioDevice(self._device)
        self._holder = threading.get_ident()

    def check_thread(self) -> None:
        """Raise :class:`RuntimeError` when another thread holds the audio thread: a mixer call
        from here would wait for that thread to release it."""
        if self._holder is not None and self._holder != threading.get_ident():
            raise RuntimeError("the audio output rests in another thread: use it from there")

    def release(self) -> None:
        """Let the audio thread mix again; a no-op when it is not held."""
        if self._holder is None:
            return
        self.check_thread()
        assert self._sdl is not None
        self._sdl.SDL_UnlockAudioDevice(self._device)
        self._holder = None

    def detach(self) -> None:
        """Release the thread and forget the device: the mixer is about to close."""
        self.release()
        self._device = 0

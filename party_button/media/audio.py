"""Sound output behind a small :class:`Player` interface, implemented with pygame's mixer.

The mixer opens once and stays open. A song is *prepared* (opened and decoded ahead)
before the button is pressed, so :meth:`Player.start` only flips the mixer on. While nothing
plays, the mixer's audio thread rests (:mod:`party_button.media.output_rest`): the player
belongs to the thread that opened it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from party_button.errors import AudioError, SongError
from party_button.media.alsa import silence_library_errors
from party_button.media.output_rest import OutputRest
from party_button.names import printable
from party_button.song_file import (
    SongUnavailable,
    descriptor_path,
    not_the_files_fault,
    open_song,
)


@contextlib.contextmanager
def _numpy_unavailable() -> Iterator[None]:
    """Hide numpy from the imports made inside, unless it is loaded already.

    pygame imports its array modules (``surfarray``, ``sndarray``) at start, and they import
    numpy: some 16 MB of the daemon's memory for modules it never calls. Hidden, pygame leaves
    placeholders for them; numpy stays importable afterwards for whoever needs it.
    """
    if "numpy" in sys.modules:
        yield
        return
    sys.modules["numpy"] = None  # type: ignore[assignment]  # makes ``import numpy`` fail
    try:
        yield
    finally:
        del sys.modules["numpy"]


os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
with _numpy_unavailable():
    import pygame

log = logging.getLogger(__name__)

MIXER_CHANNELS = 2


def mixer_problem() -> str | None:
    """Why pygame's mixer module cannot be used, or ``None`` when it loaded.

    pygame imports the mixer lazily and, when its shared libraries are missing (GLib's
    ``libgthread-2.0.so.0`` on a minimal arm64 Debian), leaves a placeholder that raises
    ``NotImplementedError`` on every use.
    """
    if pygame.mixer:
        return None
    reason = getattr(pygame.mixer, "reason", "the module did not load")
    return f"pygame's mixer cannot be loaded ({reason})"


class Player(Protocol):
    """What the daemon needs from an audio backend."""

    @property
    def is_open(self) -> bool:
        """Whether the output device is open."""

    def open(self) -> str:
        """Open the output device; returns its description. Raises :class:`AudioError`."""

    def prepare(self, song: Path) -> None:
        """Load ``song`` so that :meth:`start` plays it at once. Raises :class:`SongError`."""

    @property
    def prepared(self) -> Path | None:
        """The song that :meth:`start` will play, if any."""

    def start(self) -> None:
        """Start the prepared song from its beginning."""

    def load_effect(self, sound: Path) -> None:
        """Decode a short sound ahead of time. Raises :class:`SongError`."""

    def play_effect(self, sound: Path) -> float:
        """Play a short sound over everything; returns its length in seconds."""

    def effect_playing(self) -> bool:
        """Whether a sound started by :meth:`play_effect` is still playing."""

    def position(self) -> float:
        """Seconds of the current song that have been played."""

    def is_playing(self) -> bool:
        """Whether the song is still playing (a fade-out counts as playing)."""

    def fade_out(self, seconds: float) -> None:
        """Fade the song and effects out over ``seconds``, then stop."""

    def stop(self) -> None:
        """Stop every sound at once."""

    def close(self) -> None:
        """Close the output device; safe to call twice."""


class PygamePlayer:
    """:class:`Player` on pygame's mixer; songs stream through ``pygame.mixer.music``.

    >>> player = PygamePlayer(device=None)    # doctest: +SKIP
    >>> player.open()                         # doctest: +SKIP
    'System audio output device (44100 Hz, 1024-sample buffer)'
    """

    def __init__(
        self,
        device: str | None = None,
        *,
        sample_rate: int = 44100,
        buffer_size: int = 1024,
        volume: float = 0.8,
    ) -> None:
        self.device = device
        self.sample_rate = sample_rate
        self.buffer_size = buffer_size
        self.volume = volume
        self._effects: dict[Path, pygame.mixer.Sound] = {}
        self._effect_channel: pygame.mixer.Channel | None = None
        self._prepared: Path | None = None
        self._anchor: tuple[int, float] = (0, 0.0)
        self._rest = OutputRest()

    @property
    def is_open(self) -> bool:
        """Whether the mixer is open (never, when the mixer module did not load)."""
        return bool(pygame.mixer) and pygame.mixer.get_init() is not None

    def open(self) -> str:
        """Open the mixer on the configured device, or the system default."""
        if self.is_open:
            return self.describe()
        where = f"audio device {self.device!r}" if self.device else "the default audio device"
        problem = mixer_problem()
        if problem is not None:
            raise AudioError(f"cannot open {where}: {problem}")
        silence_library_errors()
        try:
            pygame.mixer.init(
                frequency=self.sample_rate,
                size=-16,
                channels=2,
                buffer=self.buffer_size,
                devicename=self.device,
            )
        except pygame.error as exc:
            raise AudioError(f"cannot open {where}: {exc}") from None
        pygame.mixer.music.set_volume(self.volume)
        # Songs stream as music; effects need one channel. Fewer channels, less mixing.
        pygame.mixer.set_num_channels(MIXER_CHANNELS)
        self._effect_channel = pygame.mixer.Channel(0)
        pygame.mixer.set_reserved(1)
        if self._rest.attach():
            self._rest.hold()  # nothing plays yet
        return self.describe()

    def describe(self) -> str:
        """A line naming the device, the SDL driver and the format actually opened."""
        if not self.is_open:
            return "audio closed"
        frequency, _size, channels = pygame.mixer.get_init()
        driver = os.environ.get("SDL_AUDIODRIVER", "default driver")
        device = self.device
        if device is None:
            names = output_devices()
            device = f"default ({names[0]})" if names else "default"
        return f"{device} via SDL {driver}, {frequency} Hz, {channels} channels"

    def _require_open(self) -> None:
        if not self.is_open:
            raise AudioError("the audio device is not open")
        self._rest.check_thread()

    def prepare(self, song: Path) -> None:
        """Open ``song`` in the music stream; a bad file raises :class:`SongError`.

        The file is opened here (a FIFO or a device with a song's name is refused without
        waiting on it) and the mixer reads that very file, whatever happens to its name.
        """
        self._require_open()
        self._prepared = None
        descriptor = open_song(song)
        try:
            hint = song.suffix.lstrip(".").lower()  # the decoder is chosen by the extension
            pygame.mixer.music.load(str(descriptor_path(descriptor)), hint)
        except pygame.error as exc:
            _descriptors_left(song, descriptor)  # SDL opens the file again: that may have failed
            raise SongError(f"{printable(song)}: cannot be played: {exc}") from None
        finally:
            os.close(descriptor)
        self._prepared = song

    @property
    def prepared(self) -> Path | None:
        """The song that :meth:`start` will play."""
        return self._prepared

    def start(self) -> None:
        """Play the prepared song from the start.

        pygame reports a song its decoder cannot start (a truncated file) and a mixer without
        a device with the same error, so a failure is checked: :class:`AudioError` when the
        mixer is closed or its output device is gone, :class:`SongError` (the song is at
        fault) when the device is still there.
        """
        self._require_open()
        song, self._prepared = self._prepared, None
        if song is None:
            raise SongError("no song is prepared")
        pygame.mixer.music.set_volume(self.volume)
        try:
            pygame.mixer.music.play()
        except pygame.error as exc:
            if not self._device_present():
                raise AudioError(f"the mixer cannot play {printable(song.name)}: {exc}") from None
            raise SongError(f"{printable(song)}: cannot be played: {exc}") from None
        self._rest.release()  # the song is the first buffer the audio thread mixes
        self._anchor = (0, time.monotonic())

    def _device_present(self) -> bool:
        """Whether the mixer is open and SDL still lists its output device."""
        if not self.is_open:
            return False
        names = output_devices()
        if names is None:
            return True  # SDL cannot list devices: nothing says the device is gone
        return self.device in names if self.device else bool(names)

    def _effect(self, sound: Path) -> pygame.mixer.Sound:
        cached = self._effects.get(sound)
        if cached is None:
            try:
                cached = pygame.mixer.Sound(str(sound))
            except (pygame.error, FileNotFoundError) as exc:
                raise SongError(f"{sound}: cannot be played: {exc}") from None
            self._effects[sound] = cached
        return cached

    def load_effect(self, sound: Path) -> None:
        """Decode a short sound into memory now, so that playing it later is instant."""
        self._require_open()
        self._effect(sound)

    def play_effect(self, sound: Path) -> float:
        """Play ``sound`` on the reserved effects channel; returns its length."""
        self._require_open()
        effect = self._effect(sound)
        assert self._effect_channel is not None
        self._effect_channel.set_volume(self.volume)
        self._effect_channel.play(effect)
        self._rest.release()
        return effect.get_length()

    def effect_playing(self) -> bool:
        """Whether the effects channel is busy."""
        if not self.is_open or self._rest.resting or self._effect_channel is None:
            return False
        return bool(self._effect_channel.get_busy())

    def position(self) -> float:
        """Seconds played, smoothed between the mixer's buffer-sized position updates."""
        if not self.is_open or self._rest.resting:
            return 0.0
        now = time.monotonic()
        reported = pygame.mixer.music.get_pos()
        if reported < 0:
            return 0.0
        anchored, since = self._anchor
        if reported != anchored:
            self._anchor = (reported, now)
            return reported / 1000.0
        buffer_s = self.buffer_size / self.sample_rate
        return (reported + 1000.0 * min(now - since, buffer_s)) / 1000.0

    def is_playing(self) -> bool:
        """Whether the music stream is busy (asked of the mixer only while it is awake: the
        question takes the lock that a resting mixer holds)."""
        return self.is_open and not self._rest.resting and bool(pygame.mixer.music.get_busy())

    def fade_out(self, seconds: float) -> None:
        """Fade music and effects out; returns at once."""
        if not self.is_open or self._rest.resting:
            return
        milliseconds = max(1, round(seconds * 1000))
        pygame.mixer.music.fadeout(milliseconds)
        if self._effect_channel is not None:
            self._effect_channel.fadeout(milliseconds)

    def stop(self) -> None:
        """Stop music and effects at once; the audio thread rests until the next sound."""
        if not self.is_open:
            return
        self._rest.check_thread()
        pygame.mixer.music.stop()
        pygame.mixer.stop()
        self._rest.hold()

    def close(self) -> None:
        """Stop everything and close the mixer; safe to call twice."""
        if self.is_open:
            self.stop()
            self._rest.detach()  # closing waits for the audio thread
            pygame.mixer.music.unload()
            self._effects.clear()
            self._effect_channel = None
            pygame.mixer.quit()
        self._prepared = None

    def __enter__(self) -> PygamePlayer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _descriptors_left(song: Path, descriptor: int) -> None:
    """Raise :class:`SongUnavailable` when the process cannot open one more file now."""
    try:
        os.close(os.dup(descriptor))
    except OSError as exc:
        if not_the_files_fault(exc):
            raise SongUnavailable(f"{printable(song)}: {exc.strerror}") from None


def output_devices() -> list[str] | None:
    """The names of the output devices SDL knows now, or None when it cannot list them."""
    try:
        from pygame._sdl2 import audio as sdl_audio

        return list(sdl_audio.get_audio_device_names(False))
    except (ImportError, pygame.error):
        return None

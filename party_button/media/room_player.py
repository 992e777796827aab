"""The :class:`~party_button.media.audio.Player` of a sync room: no sound of its own.

In a room that follows a leader (``sync.role: room``) the music comes out of the room's
snapclient, which plays the leader's stream; the daemon must not play a song of its own on
top. :class:`RoomPlayer` plays every song and sound silently for as long as its header says
it lasts, so the party, its light show and its end run as they would with sound; a song of
the leader's (:meth:`RoomPlayer.play_heard`) plays from when this room hears its first
sample until the leader's party moves on.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

from party_button.errors import SongError
from party_button.media.song_length import song_length
from party_button.song_file import open_song


def _length(path: Path) -> float:
    """Seconds ``path`` says it lasts; a file that cannot tell lasts until stopped."""
    descriptor = open_song(path)
    try:
        length = song_length(descriptor, os.fstat(descriptor).st_size)
    finally:
        os.close(descriptor)
    return math.inf if length is None else length


class RoomPlayer:
    """:class:`~party_button.media.audio.Player` that plays silently, on ``clock``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._open = False
        self._prepared: tuple[Path, float] | None = None
        self._started = 0.0
        self._ends = 0.0  # when the song started last ends (a fade-out brings it closer)
        self._length = 0.0
        self._effect_ends = 0.0

    @property
    def is_open(self) -> bool:
        """Whether :meth:`open` was called (nothing to fail: there is no device)."""
        return self._open

    def open(self) -> str:
        """Nothing to open; says where the sound comes from."""
        self._open = True
        return "no sound of its own: this room's snapclient plays the leader's stream"

    def prepare(self, song: Path) -> None:
        """Read how long ``song`` lasts. Raises :class:`~party_button.errors.SongError`."""
        self._prepared = (song, _length(song))

    @property
    def prepared(self) -> Path | None:
        """The song that :meth:`start` will play."""
        return self._prepared[0] if self._prepared else None

    def start(self) -> None:
        """Play the prepared song, silently, from now."""
        if self._prepared is None:
            raise SongError("no song is prepared")
        _song, self._length = self._prepared
        self._prepared = None
        self._started = self.clock()
        self._ends = self._started + self._length

    def play_heard(self, heard_at: float) -> None:
        """Play the leader's song, whose first sample is heard here at ``heard_at`` (on
        :attr:`clock`; later than now before it is heard), until stopped; called again with
        the same song, it follows a new ``heard_at`` (the stream's timestamps moved)."""
        self._prepared = None
        self._started = heard_at
        self._ends = math.inf
        self._length = math.inf

    def heard_at(self) -> float:
        """When the song started last is heard from (on :attr:`clock`)."""
        return self._started

    def load_effect(self, sound: Path) -> None:
        """Check that ``sound`` can be read."""
        _length(sound)

    def play_effect(self, sound: Path) -> float:
        """Play ``sound`` silently; returns its length."""
        length = _length(sound)
        self._effect_ends = self.clock() + length
        return length

    def effect_playing(self) -> bool:
        """Whether a sound is still playing."""
        return self.clock() < self._effect_ends

    def position(self) -> float:
        """Seconds of the song played."""
        return max(0.0, min(self.clock(), self._ends) - self._started)

    def is_playing(self) -> bool:
        """Whether the song is still playing."""
        return self.clock() < self._ends

    def fade_out(self, seconds: float) -> None:
        """End the song and sounds within ``seconds``."""
        now = self.clock()
        self._ends = min(self._ends, now + seconds)
        self._effect_ends = min(self._effect_ends, now + seconds)

    def stop(self) -> None:
        """End the song and sounds now."""
        self._ends = self._effect_ends = min(self._ends, self.clock())

    def close(self) -> None:
        """Nothing to close; safe to call twice."""
        self.stop()
        self._open = False

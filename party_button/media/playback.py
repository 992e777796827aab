"""Which player plays what: songs through the audio player, clips through mpv.

:class:`MediaPlayer` is the one :class:`~party_button.media.audio.Player` the daemon talks to;
it hands each prepared item to the player for its kind and answers for the one playing, so
the party logic (and the light show reading :meth:`MediaPlayer.position`) need not care
whether a song or a clip is on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from party_button.media.audio import Player
from party_button.media.clips import ClipPlayer


class MediaPlayer:
    """A :class:`Player` that plays songs with ``audio`` and clips with ``clips``.

    ``is_clip`` tells the two apart. Effects (intro, fallback) always go to ``audio``.
    Closing closes both, clips first (they started last).
    """

    def __init__(
        self, audio: Player, clips: ClipPlayer | None, is_clip: Callable[[Path], bool]
    ) -> None:
        self.audio = audio
        self.clips = clips
        self.is_clip = is_clip
        self._clip_prepared = False
        self._clip_playing = False

    @property
    def is_open(self) -> bool:
        """Whether the audio output is open (clips need it too: they end like songs)."""
        return self.audio.is_open

    def open(self) -> str:
        """Open the audio output; mpv starts when the first clip is prepared."""
        return self.audio.open()

    def prepare(self, song: Path) -> None:
        """Prepare a song or a clip; raises :class:`SongError` (a clip also :class:`VideoError`)."""
        if self.clips is not None and self.is_clip(song):
            self.clips.prepare(song)
            self._clip_prepared = True
        else:
            self.audio.prepare(song)
            self._clip_prepared = False

    @property
    def prepared(self) -> Path | None:
        """The song or clip that :meth:`start` will play."""
        if self._clip_prepared and self.clips is not None:
            return self.clips.prepared
        return self.audio.prepared

    def start(self) -> None:
        """Start the prepared song or clip."""
        if self._clip_prepared and self.clips is not None:
            self.clips.start()
            self._clip_playing = True
        else:
            self.audio.start()
            self._clip_playing = False

    def load_effect(self, sound: Path) -> None:
        """Decode a short sound ahead of time."""
        self.audio.load_effect(sound)

    def play_effect(self, sound: Path) -> float:
        """Play a short sound; returns its length in seconds."""
        return self.audio.play_effect(sound)

    def effect_playing(self) -> bool:
        """Whether an effect is still playing."""
        return self.audio.effect_playing()

    def position(self) -> float:
        """Seconds played of the song or clip started last."""
        if self._clip_playing and self.clips is not None:
            return self.clips.position()
        return self.audio.position()

    def is_playing(self) -> bool:
        """Whether the song or clip started last is still playing."""
        if self._clip_playing and self.clips is not None:
            return self.clips.is_playing()
        return self.audio.is_playing()

    def fade_out(self, seconds: float) -> None:
        """Fade out whatever plays."""
        self.audio.fade_out(seconds)
        if self.clips is not None:
            self.clips.fade_out(seconds)

    def stop(self) -> None:
        """Stop songs, effects and clips at once."""
        self.audio.stop()
        if self.clips is not None:
            self.clips.stop()

    def close(self) -> None:
        """Quit mpv, then close the audio output; safe to call twice."""
        try:
            if self.clips is not None:
                self.clips.close()
        finally:
            self.audio.close()

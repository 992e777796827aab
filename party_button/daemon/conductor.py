"""The conductor: prepares the next song or clip, plays it, and knows what is playing.

It owns the player (pygame for songs, mpv for clips) and takes its picks from the songs
library. A file that fails is set aside and the next one plays; a lost audio device is
retried every ``audio.retry_interval`` while the lights go on; with nothing playable the
fallback sound plays, or the party goes on in silence. What is playing, with its beat grid
and length, is :attr:`Conductor.now_playing` and nowhere else.

In a room that follows a leader (``follow`` on the control socket), the song is the leader's:
its name and beat grid come with the order, and it plays (silently: the room's snapclient
plays it) from when this room hears its first sample.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

from party_button.beats.grid import BeatGrid
from party_button.config.schema import Config
from party_button.control.follow import FollowOrder
from party_button.errors import AudioError, SongError, VideoError
from party_button.media.audio import Player, PygamePlayer
from party_button.media.clips import ClipPlayer, clip_player_from
from party_button.media.picker import Pick, SongPicker
from party_button.media.playback import MediaPlayer
from party_button.media.room_player import RoomPlayer
from party_button.media.snapcast import SnapcastPlayer
from party_button.names import printable
from party_button.song_file import SongUnavailable

log = logging.getLogger(__name__)

# Songs tried one after the other when each fails to load or start, before giving up for now.
PREPARE_ATTEMPTS = 8
# A song that stops this much (or 10 % of its length, if more) before the end its header
# gives is damaged after that point.
CUT_SHORT_SECONDS = 1.0
# How long a party lasts when no sound at all can be played.
SILENT_PARTY_SECONDS = 30.0


def audio_player_from(config: Config) -> Player:
    """Songs into the Snapcast stream on the leader of several rooms, no sound of its own in
    a room that follows one (its snapclient plays), else through pygame."""
    if config.sync.enabled and config.sync.role == "leader":
        return SnapcastPlayer(
            config.sync.pipe, buffer=config.sync.buffer_ms / 1000, volume=config.audio.volume
        )
    if config.sync.enabled:
        return RoomPlayer()
    return player_from(config)


def player_from(config: Config) -> PygamePlayer:
    """The pygame player for ``config``'s audio section."""
    return PygamePlayer(
        config.audio.device,
        sample_rate=config.audio.sample_rate,
        buffer_size=config.audio.buffer_size,
        volume=config.audio.volume,
    )


class Conductor:
    """Songs, clips, the intro and the fallback sound, through one player."""

    def __init__(
        self,
        config: Config,
        library: SongPicker,
        clock: Callable[[], float],
        audio: Player | None = None,
    ) -> None:
        self.config = config
        self.library = library
        self.clock = clock
        self.audio_status = "not opened"
        self.now_playing: Pick | None = None
        self.silent_until: float | None = None
        self.audio_retry_at: float | None = None
        self._next: Pick | None = None  # what the player has prepared, with its grid and length
        self._heard = 0.0
        self._prepare_after: int | None = None
        self._song_wanted = False
        self.leader_song: FollowOrder | None = None  # the leader's song, in a following room
        self.build_player(config, audio)

    def configure(self, config: Config, library: SongPicker) -> None:
        """Play from ``library`` by ``config`` from now on (the player stays)."""
        self.config, self.library = config, library

    def build_player(self, config: Config, audio: Player | None = None) -> None:
        """The player for ``config``: songs through ``audio`` (pygame), clips through mpv.

        The conductor's config stays as it is: :meth:`configure` takes the new one, after the
        daemon has compared the two (whether the library must be made anew).
        """
        self.clips: ClipPlayer | None = clip_player_from(config)
        self.player: Player = MediaPlayer(
            audio or audio_player_from(config), self.clips, lambda item: self.library.is_clip(item)
        )

    @property
    def playing(self) -> Path | None:
        """The song, clip or fallback sound playing now."""
        return self.now_playing.path if self.now_playing else None

    @property
    def preparing(self) -> bool:
        """Whether the next pick waits for a pass over the songs folders to be loaded."""
        return self._prepare_after is not None

    # -- the audio device and mpv ----------------------------------------------------------

    def open_audio(self) -> bool:
        """Open the audio device and load the effects; a missing device is retried later."""
        try:
            self.audio_status = self.player.open()
        except AudioError as exc:
            if self.audio_retry_at is None:
                log.error(
                    "%s; lights keep working, audio retried every %gs",
                    exc,
                    self.config.audio.retry_interval,
                )
            else:
                log.debug("audio still missing: %s", exc)
            self.audio_status = f"audio device missing, retrying: {exc}"
            self.audio_retry_at = self.clock() + self.config.audio.retry_interval
            return False
        log.info("audio: %s", self.audio_status)
        self.audio_retry_at = None
        for sound in self.config.effect_sounds:
            try:
                self.player.load_effect(sound)
            except SongError as exc:
                log.warning("%s", exc)
        self._prepare_after = 1  # once the first pass over the folders is over
        self.prepare_when_scanned()
        return True

    def _audio_lost(self, exc: AudioError, now: float) -> None:
        """The device failed mid-run (unplugged): the lights go on, the audio is retried."""
        log.error(
            "%s; the party goes on without sound, audio retried every %gs",
            exc,
            self.config.audio.retry_interval,
        )
        self.player.close()
        self.audio_status = f"audio device missing, retrying: {exc}"
        self.audio_retry_at = now + self.config.audio.retry_interval

    def check_clips(self) -> None:
        """Start mpv when clips are on; without it the library picks songs only."""
        if self.clips is None:
            return
        try:
            log.info("clips are shown by %s", self.clips.check())
        except VideoError as exc:
            self._clips_off(exc)
        else:
            self.library.use_clips(True)

    def _clips_off(self, reason: VideoError) -> None:
        log.error("%s; clips are off, songs only", reason)
        self.library.use_clips(False)

    # -- preparing the next pick ------------------------------------------------------------

    def _prepare(self, pick: Pick) -> bool:
        """Load ``pick`` into its player; a file that fails is set aside."""
        try:
            self.player.prepare(pick.path)
        except VideoError as exc:
            self._clips_off(exc)
            return False
        except SongUnavailable:
            raise
        except SongError as exc:
            kind = "clip" if self.library.is_clip(pick.path) else "song"
            self.library.set_aside(pick.path, f"{kind}: {exc}")
            return False
        self._next = pick
        return True

    def prepare_next(self, *, clips: bool = True) -> None:
        """Load the library's next pick (songs only with ``clips=False``) at once."""
        try:
            if not self.player.is_open:
                return
            for _attempt in range(PREPARE_ATTEMPTS):
                pick = self.library.take(clips=clips)
                if pick is None or self._prepare(pick):
                    return
        except SongUnavailable as exc:  # not the song's fault: it is not set aside
            log.warning("cannot open a song now: %s", exc)
        finally:
            self._prepare_after = None

    def prepare_when_scanned(self) -> None:
        """Load the next pick if one is wanted, the pass over the folders it waits for is over
        and the library has checked the pick (its beat grid comes with it); never while
        something plays (loading stops the music)."""
        wanted = self._prepare_after
        if wanted is None or self.library.passes < wanted:
            return
        if len(self.library) and not self.library.next_checked:
            return  # the library says when it has checked it
        if self.player.prepared is None and not self.player.is_playing():
            self.prepare_next()
        else:
            self._prepare_after = None

    def rescan(self) -> None:
        """Prepare the next pick once the library has looked at the folders again: a song
        copied in during the party can be the next one."""
        self._prepare_after = self.library.rescan()

    def grid_found(self, song: Path, grid: BeatGrid) -> None:
        """A beat grid arrived for ``song``: the prepared or playing pick takes it."""
        if self._next is not None and song == self.player.prepared:
            self._next = dataclasses.replace(self._next, grid=grid)
        if self.now_playing is not None and song == self.now_playing.path:
            self.now_playing = dataclasses.replace(self.now_playing, grid=grid)

    def prepared_grid(self) -> BeatGrid | None:
        """The beat grid of the prepared pick."""
        return self._next.grid if self._next else None

    # -- playing ---------------------------------------------------------------------------

    def play_intro(self) -> None:
        """Play the intro sound, if there is one and the audio works."""
        intro = self.config.party.intro_sound
        if intro is None or not self.player.is_open:
            return
        try:
            self.player.play_effect(intro)
        except SongError as exc:
            log.warning("intro skipped: %s", exc)

    def follow(self, order: FollowOrder) -> bool:
        """Play the leader's song of ``order`` when a song is played next (and, when it is
        the song playing, follow its new heard time); ``False`` where this room's player
        cannot (a leader, or a daemon without sync)."""
        audio = getattr(self.player, "audio", None)
        if not isinstance(audio, RoomPlayer):
            return False
        if order.song is None:
            return True
        same = self.leader_song is not None and self.leader_song.id == order.id
        self.leader_song = order
        if same and self.now_playing is not None:
            audio.play_heard(order.heard_at)
        return True

    def heard_later(self) -> bool:
        """Whether songs are heard later than they start: the leader's stream (one buffer
        later), a room following the leader (when its speaker plays the sample)."""
        audio = getattr(self.player, "audio", None)
        return isinstance(audio, SnapcastPlayer) or (
            isinstance(audio, RoomPlayer) and self.leader_song is not None
        )

    def heard_at(self) -> float | None:
        """When the song playing is first heard here, where the player knows (the leader's
        stream, a room following it); ``None`` for a song heard as it starts."""
        audio = getattr(self.player, "audio", None)
        if self.now_playing is None:
            return None
        if isinstance(audio, RoomPlayer) and self.leader_song is not None:
            return audio.heard_at()
        if isinstance(audio, SnapcastPlayer):
            return audio.song_heard_at()
        return None

    def _play_leader_song(self, order: FollowOrder) -> None:
        audio = self.player.audio if isinstance(self.player, MediaPlayer) else None
        assert isinstance(audio, RoomPlayer) and order.song is not None
        audio.play_heard(order.heard_at)
        grid = order if order.has_grid else None
        self.now_playing = Pick(Path(order.song), checked=True, grid=grid, length=order.length)  # type: ignore[arg-type]
        shown = printable(order.song)
        log.info("following the leader: %s", shown, extra={"SONG": shown})

    def play_song(self, now: float) -> None:
        """Start the prepared pick; else the next that starts; else the fallback or silence."""
        self.silent_until = None
        self._heard = 0.0
        if self.leader_song is not None:
            self._play_leader_song(self.leader_song)
            return
        if self.player.is_open and self.player.prepared is None:
            self.prepare_next()
        for _attempt in range(PREPARE_ATTEMPTS):
            if not self.player.is_open or self.player.prepared is None:
                break
            if self._start_prepared(now):
                return
        self._play_without_song(now)

    def _start_prepared(self, now: float) -> bool:
        """Start what the player has prepared; ``False`` when it failed (and was dealt with)."""
        prepared = self.player.prepared
        assert prepared is not None
        pick = self._next if self._next and self._next.path == prepared else Pick(prepared)
        try:
            self.player.start()
        except SongError as exc:  # the file, not the device: the next song plays
            self.library.set_aside(prepared, f"song: {exc}")
            self.prepare_next()
            return False
        except AudioError as exc:
            self._audio_lost(exc, now)
            return False
        self.now_playing, self._next = pick, None
        self._song_wanted = False
        shown = printable(prepared.name)
        log.info("playing %s", shown, extra={"SONG": shown})
        return True

    def _play_without_song(self, now: float) -> None:
        """No song plays: the fallback sound, or a silent party; a song found later plays."""
        if not self.player.is_open and self.audio_retry_at is None:
            self._audio_lost(AudioError("the audio device is not open"), now)
        self._song_wanted = self.player.is_open  # a song that turns up later plays at once
        fallback = self.config.party.fallback_sound
        if self.player.is_open and fallback is not None:
            try:
                self.player.play_effect(fallback)
                self.now_playing = Pick(fallback)
                log.warning("no playable song in the library: playing the fallback sound")
                return
            except SongError as exc:
                log.warning("fallback sound failed: %s", exc)
        self.now_playing = None
        self.silent_until = now + (self.config.party.max_duration or SILENT_PARTY_SECONDS)
        log.warning("no sound can play: a silent party of %gs", self.silent_until - now)

    def play_when_found(self, now: float) -> None:
        """A party without a song (the fallback sound, or silence) plays one as soon as the
        library has a checked one: a song copied in, a folder mounted again."""
        if self._song_wanted and self.library.next_checked:
            self.player.stop()
            self.play_song(now)

    def next_song(self, now: float) -> None:
        """Skip to the next pick (the leader's next song, in a room following it)."""
        self.player.stop()
        if self.leader_song is None:
            self.prepare_next()
        self.play_song(now)

    def restart_song(self, now: float) -> None:
        """Play the song that plays from its start."""
        self.player.stop()
        again = self.now_playing
        if again is not None and self._prepare(again):
            self.play_song(now)

    def fade_out(self) -> None:
        """Fade the music out over ``audio.fade_out`` seconds."""
        self.player.fade_out(self.config.audio.fade_out)

    def stop(self) -> None:
        """Stop every sound: the party is over."""
        self.player.stop()
        self.now_playing = None
        self.leader_song = None
        self.silent_until = None
        self._song_wanted = False

    # -- noticing the end --------------------------------------------------------------------

    def song_over(self, now: float) -> bool:
        """Whether the party's sound has ended. A clip that failed, or a song that stopped
        early because it is damaged, is followed by the next song instead."""
        return self._sound_finished(now) and not self._cut_short(now)

    def _sound_finished(self, now: float) -> bool:
        if self.silent_until is not None:
            return now >= self.silent_until
        if self._clip_failed(now):
            return False
        if self.player.is_playing():
            self._heard = max(self._heard, self.player.position())
            return False
        return not self.player.effect_playing()

    def _cut_short(self, now: float) -> bool:
        """Whether the song stopped well before the end its header gives (the file is damaged
        after that point): it is set aside, and the party goes on with the next song."""
        playing = self.now_playing
        if playing is None or playing.length is None:
            return False
        length = playing.length
        if self._heard >= length - max(CUT_SHORT_SECONDS, 0.1 * length):
            return False
        self.library.set_aside(
            playing.path,
            f"song: {printable(playing.path)}: stopped at {_clock(self._heard)} of "
            f"{_clock(length)}, it cannot be decoded further",
        )
        self.prepare_next()
        self.play_song(now)
        return True

    def _clip_failed(self, now: float) -> bool:
        """Set aside a clip that mpv could not play; if it was this party's, play a song."""
        failure = self.clips.take_failure() if self.clips is not None else None
        if failure is None:
            return False
        reason = f"clip: {printable(failure.clip)}: {failure.reason}; a song plays instead"
        if failure.clip_at_fault:
            self.library.set_aside(failure.clip, reason)
        else:
            log.warning("skipping %s", reason)
        if failure.clip != self.playing:
            return False
        self.prepare_next(clips=False)
        self.play_song(now)
        return True

    def close(self) -> None:
        """Stop the music and close the player; safe to call twice."""
        self.player.close()


def _clock(seconds: float) -> str:
    """``seconds`` as ``M:SS``."""
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"

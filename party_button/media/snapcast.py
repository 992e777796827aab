"""The leader's :class:`~party_button.media.audio.Player` for the Snapcast pipe stream.

Instead of the local mixer, songs are decoded (by ``sox``, in bounded blocks) and written as
PCM into the FIFO that snapserver reads (``sync.pipe``), which plays them in every room. A
feeder thread keeps a steady backlog of :data:`BACKLOG` seconds in the pipe at all times,
silence between songs, so the server never runs dry and never fills silence of its own
(which would shift the music for good), and it keeps the pipe open (an end of file resets
the stream's timestamps). The FIFO is opened for reading and writing: the feeder can take
back the silence still queued when a song starts, so a press is heard one stream buffer
later, not a backlog later.

:class:`~party_button.media.stream_clock.StreamClock` turns the bytes the server has read
into stream time: :meth:`SnapcastPlayer.song_stream_time` is when the song's first sample
entered the stream, in the server's (this machine's monotonic) time; it is heard in a room
one stream buffer later, less that room's client latency.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import logging
import os
import select
import stat
import subprocess
import sys
import termios
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from party_button.errors import AudioError, SongError
from party_button.media.stream_clock import StreamClock
from party_button.names import printable
from party_button.song_file import open_song

log = logging.getLogger(__name__)

SAMPLE_RATE = 44100  # the stream's format: snapserver.conf says the same (44100:16:2)
FRAME_BYTES = 4  # 16-bit stereo
BYTE_RATE = SAMPLE_RATE * FRAME_BYTES
# snapserver reads the pipe one chunk at a time on its own clock and restarts the stream's
# timestamps whenever a read ends later than the next chunk is due: a longer chunk lets it be
# that much later (a busy machine) without a restart. snapserver.conf says the same.
CHUNK_MS = 50
# Seconds of sound kept queued in the pipe: the feeder may stall this long (a busy machine)
# before the server finds the pipe short. Costs no latency: a start or stop takes it back.
BACKLOG = 0.5
# Seconds left queued when a start takes back the silence: the song's first blocks follow
# at once (under the same lock), so a server read that comes now finds a whole chunk. More
# would delay the press by as much.
KEEP = 0.02
TICK = 0.005  # seconds between two looks at the pipe
BLOCK = 4096  # bytes decoded at a time
MAX_EFFECT_SECONDS = 60.0
STALL = 1.0  # seconds without a read from the server before it counts as gone
_DECODE_START = 10.0  # seconds sox may take to give the first block
_F_SETPIPE_SZ = 1031
_F_GETPIPE_SZ = 1032


def sox_command(song: Path, volume: float) -> list[str]:
    """sox decoding ``song`` (on standard input) to the stream's PCM on standard output."""
    kind = song.suffix.lstrip(".").lower() or "wav"
    return [
        "sox", "-V1", "--no-show-progress", "-v", f"{volume:.4f}", "-t", kind, "-",
        "-t", "raw", "-e", "signed-integer", "-b", "16", "-c", "2", "-r", str(SAMPLE_RATE),
        "-L", "-",
    ]  # fmt: skip


class _Decoder:
    """One song being decoded by sox; :meth:`read` gives its PCM, ``b""`` at the end."""

    def __init__(self, song: Path, volume: float) -> None:
        self.song = song
        descriptor = open_song(song)
        try:
            self.process = subprocess.Popen(
                sox_command(song, volume),
                stdin=descriptor,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise AudioError(f"cannot start sox to decode songs: {exc.strerror}") from None
        finally:
            os.close(descriptor)
        assert self.process.stdout is not None
        self._out = self.process.stdout.fileno()
        self._pending = b""
        ready, _, _ = select.select([self._out], [], [], _DECODE_START)
        first = os.read(self._out, BLOCK) if ready else b""
        if not first:
            reason = self._reason()
            self.close()
            raise SongError(f"{printable(song)}: cannot be played: {reason}")
        self._pending = first

    def _reason(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1.0)
        assert self.process.stderr is not None
        text = self.process.stderr.read(2000).decode(errors="replace").strip()
        return text.splitlines()[-1] if text else "sox gave no sound"

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of PCM (whole frames); ``b""`` when the song has ended."""
        data, self._pending = self._pending, b""
        while len(data) < size:
            more = os.read(self._out, size - len(data))
            if not more:
                break
            data += more
        whole = len(data) - len(data) % FRAME_BYTES
        return data[:whole]

    def close(self) -> None:
        """End sox; safe to call twice."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@dataclass
class _Song:
    """The song in the stream: where it starts and how far it has been written."""

    path: Path
    decoder: _Decoder | None
    start: int  # its first byte's offset in the stream
    written: int = 0  # bytes of it written so far
    fade_from: int | None = None  # the offset where a fade-out began
    fade_bytes: int = 0


def _scaled(block: bytes, first: float, last: float) -> bytes:
    """``block`` with its gain going from ``first`` to ``last`` (a fade)."""
    samples = array.array("h", block)
    if sys.byteorder == "big":
        samples.byteswap()
    count = max(1, len(samples) - 1)
    for index, value in enumerate(samples):
        samples[index] = int(value * (first + (last - first) * index / count))
    return _little(samples)


def _mixed(block: bytes, effect: bytes) -> bytes:
    """``effect`` added to the start of ``block``, clipped."""
    ours, theirs = array.array("h", block), array.array("h", effect)
    if sys.byteorder == "big":
        ours.byteswap()
        theirs.byteswap()
    for index, value in enumerate(theirs[: len(ours)]):
        ours[index] = max(-32768, min(32767, ours[index] + value))
    return _little(ours)


def _little(samples: array.array) -> bytes:
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


class SnapcastPlayer:
    """:class:`~party_button.media.audio.Player` writing into snapserver's pipe stream.

    ``buffer`` is the stream's end-to-end buffer (``sync.buffer_ms``): what is written is heard
    that much after it enters the stream.
    """

    def __init__(self, pipe: Path, *, buffer: float, volume: float = 0.8) -> None:
        self.pipe = pipe
        self.buffer = buffer
        self.volume = volume
        self.clock = StreamClock(BYTE_RATE)
        self._fd: int | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._written = 0  # bytes in the stream so far (taken-back silence not counted)
        self._prepared: _Decoder | None = None
        self._song: _Song | None = None  # the song written now
        self._heard: _Song | None = None  # the song started last (written or not)
        self._song_end: int | None = None  # where the song started last ended in the stream
        self._effects: dict[Path, bytes] = {}
        self._effect = b""  # what is left of the effect being mixed in
        self._effect_end = 0  # where the effect started last ends in the stream
        self._last_read = 0.0
        self._backlog = int(BACKLOG * BYTE_RATE) // FRAME_BYTES * FRAME_BYTES  # bytes
        self.underruns = 0  # times the pipe was found empty: the server filled silence

    # -- the pipe and the feeder -------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Whether the pipe is open and the feeder runs."""
        return self._fd is not None and self._thread is not None and self._thread.is_alive()

    def open(self) -> str:
        """Open snapserver's FIFO and start feeding silence. Raises :class:`AudioError`."""
        if self.is_open:
            return self.describe()
        try:
            kind = os.stat(self.pipe).st_mode
        except OSError as exc:
            raise AudioError(
                f"no Snapcast stream at {self.pipe} ({exc.strerror}): is snapserver running "
                "with party-button's snapserver.conf?"
            ) from None
        if not stat.S_ISFIFO(kind):
            raise AudioError(f"{self.pipe} is not a FIFO: not snapserver's pipe stream")
        try:
            fd = os.open(self.pipe, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise AudioError(
                f"cannot open the Snapcast stream {self.pipe}: {exc.strerror}"
            ) from None
        with contextlib.suppress(OSError):  # room for the backlog; the default is 64 KiB
            fcntl.fcntl(fd, _F_SETPIPE_SZ, 2 * int(BACKLOG * BYTE_RATE))
        room = fcntl.fcntl(fd, _F_GETPIPE_SZ) - BLOCK  # where it could not grow: what fits
        self._backlog = min(int(BACKLOG * BYTE_RATE), room) // FRAME_BYTES * FRAME_BYTES
        self._fd = fd
        self._closing.clear()
        self._last_read = time.monotonic()
        self._thread = threading.Thread(target=self._feed, name="snapcast-feeder", daemon=True)
        self._thread.start()
        return self.describe()

    def describe(self) -> str:
        """A line naming the stream."""
        return f"Snapcast stream {self.pipe} ({SAMPLE_RATE} Hz, 16 bit, 2 channels)"

    def _unread(self) -> int:
        assert self._fd is not None
        answer = fcntl.ioctl(self._fd, termios.FIONREAD, b"\0\0\0\0")
        return int.from_bytes(answer, sys.byteorder)

    def _feed(self) -> None:
        """The feeder thread: watch the server's reads, keep the backlog full."""
        while not self._closing.wait(TICK):
            try:
                with self._lock:
                    self._look(time.monotonic())
                    self._refill()
            except OSError as exc:
                log.error("the Snapcast stream failed: %s", exc)
                return

    def _refill(self) -> None:
        """Write until :data:`BACKLOG` is queued (the lock held)."""
        backlog = self._backlog
        while (unread := self._unread()) < backlog:
            if unread == 0 and self.clock.known:
                self.underruns += 1
            self._write(self._next_block(min(BLOCK, backlog - unread)))

    def _look(self, now: float) -> None:
        """Note a read of the server's, if one happened since the last look."""
        if self.clock.saw(self._written - self._unread(), now):
            self._last_read = now

    def _write(self, block: bytes) -> None:
        assert self._fd is not None
        done = os.write(self._fd, block)
        if done < len(block):  # not expected: the pipe has room for more than the backlog
            raise OSError(f"the pipe took {done} of {len(block)} bytes")
        self._written += done

    def _next_block(self, size: int) -> bytes:
        """The next ``size`` bytes (or fewer) of the stream: the song, or silence."""
        size -= size % FRAME_BYTES
        song = self._song
        block = b""
        if song is not None and song.decoder is not None:
            block = song.decoder.read(size)
            if song.fade_from is not None:
                block = self._faded(song, block)
            if not block:
                self._end_song()
        if not block:
            block = bytes(size)
        else:
            assert song is not None
            song.written += len(block)
        if self._effect:
            block = _mixed(block, self._effect)
            self._effect = self._effect[len(block) :]
        return block

    def _faded(self, song: _Song, block: bytes) -> bytes:
        assert song.fade_from is not None
        done = self._written - song.fade_from
        left = song.fade_bytes - done
        if left <= 0:
            return b""
        block = block[: left - left % FRAME_BYTES]
        first = 1.0 - done / song.fade_bytes
        last = 1.0 - (done + len(block)) / song.fade_bytes
        return _scaled(block, first, last)

    def _end_song(self) -> None:
        song = self._song
        if song is None:
            return
        if song.decoder is not None:
            song.decoder.close()
            song.decoder = None
        self._song_end = song.start + song.written
        self._song = None

    def _take_back(self) -> None:
        """Take back what is queued beyond :data:`KEEP`, so that what comes next is heard
        soon (the server's next reads find what is kept)."""
        assert self._fd is not None
        keep = int(KEEP * BYTE_RATE)
        extra = self._unread() - keep
        extra -= extra % FRAME_BYTES
        if extra > 0:
            with contextlib.suppress(BlockingIOError):
                self._written -= len(os.read(self._fd, extra))
        if self._song is not None:
            self._song.written = max(0, self._written - self._song.start)
        self._effect = b""

    # -- songs -------------------------------------------------------------------------------

    def _require_open(self) -> None:
        if not self.is_open:
            raise AudioError("the Snapcast stream is not open")

    def prepare(self, song: Path) -> None:
        """Start decoding ``song``; one that sox cannot decode raises :class:`SongError`."""
        self._require_open()
        if self._prepared is not None:
            self._prepared.close()
            self._prepared = None
        self._prepared = _Decoder(song, self.volume)

    @property
    def prepared(self) -> Path | None:
        """The song that :meth:`start` will play."""
        return self._prepared.song if self._prepared else None

    def start(self) -> None:
        """Put the prepared song into the stream now, after :data:`KEEP` of what is queued."""
        self._require_open()
        decoder, self._prepared = self._prepared, None
        if decoder is None:
            raise SongError("no song is prepared")
        with self._lock:
            self._take_back()
            self._end_song()
            self._song = _Song(decoder.song, decoder, start=self._written)
            self._heard = self._song
            self._song_end = None
            self._refill()

    def song_stream_time(self, at: float = 0.0) -> float | None:
        """When the sample ``at`` seconds into the song started last entered the stream
        (monotonic seconds of this machine, snapserver's clock); ``None`` before any song."""
        with self._lock:
            if self._heard is None:
                return None
            offset = round(at * SAMPLE_RATE) * FRAME_BYTES
            return self._stream_time(self._heard.start + offset)

    def _song_start_now(self) -> float | None:
        """When the song started last would have entered the stream with the server's
        timestamps as they are now: what its beats follow from here on, even after the
        server restarted its timestamps mid-song."""
        with self._lock:
            if self._heard is None:
                return None
            if not self.clock.known:
                return self._stream_time(self._heard.start)
            return self.clock.origin() + self._heard.start / BYTE_RATE

    def song_heard_at(self) -> float | None:
        """When the song started last is heard in a room without client latency (monotonic
        seconds of this machine), following the server's timestamps; ``None`` before any."""
        start = self._song_start_now()
        return None if start is None else start + self.buffer

    def _song_start_from(self) -> float:
        """Seconds into the song started last from which :meth:`_song_start_now` holds: the
        server restarted its timestamps there (0: before the song began)."""
        with self._lock:
            if self._heard is None:
                return 0.0
            return max(0, self.clock.segment_start() - self._heard.start) / BYTE_RATE

    @property
    def resyncs(self) -> int:
        """Times snapserver restarted its timestamps (it fell behind: starved of CPU)."""
        return self.clock.resyncs

    def _stream_time(self, offset: int) -> float:
        if self.clock.known:
            return self.clock.stream_time(offset)
        # No read seen yet: the server takes what is queued at its pace.
        return time.monotonic() + (offset - self._written + self._unread()) / BYTE_RATE

    def position(self) -> float:
        """Seconds of the current song heard so far (by a room without client latency)."""
        with self._lock:
            song = self._heard
            if song is None:
                return 0.0
            start = self._stream_time(song.start) + self.buffer
            end = song.start + song.written
            length = (end - song.start) / BYTE_RATE
        return min(max(0.0, time.monotonic() - start), length)

    def is_playing(self) -> bool:
        """Whether the song started last is still being written or heard."""
        if not self.is_open:
            return False
        with self._lock:
            if self._song is not None:
                return True
            if self._song_end is None or self._heard is None:
                return False
            return time.monotonic() < self._stream_time(self._song_end) + self.buffer

    def fade_out(self, seconds: float) -> None:
        """Fade the song out over ``seconds`` of stream, then silence."""
        with self._lock:
            if self._song is not None and self._song.fade_from is None:
                self._song.fade_from = self._written
                fade = max(FRAME_BYTES, int(seconds * BYTE_RATE))
                self._song.fade_bytes = fade - fade % FRAME_BYTES
            self._effect = b""

    def stop(self) -> None:
        """Silence from now on (a stream buffer later in the rooms)."""
        if not self.is_open:
            return
        with self._lock:
            self._take_back()
            self._end_song()
            self._heard = None
            self._song_end = None
            self._refill()

    # -- effects -----------------------------------------------------------------------------

    def load_effect(self, sound: Path) -> None:
        """Decode a short sound into memory now. Raises :class:`SongError`."""
        self._require_open()
        if sound in self._effects:
            return
        decoder = _Decoder(sound, self.volume)
        try:
            pcm = decoder.read(int(MAX_EFFECT_SECONDS * BYTE_RATE))
        finally:
            decoder.close()
        self._effects[sound] = pcm

    def play_effect(self, sound: Path) -> float:
        """Mix ``sound`` into the stream from now; returns its length in seconds."""
        self.load_effect(sound)
        pcm = self._effects[sound]
        with self._lock:
            if self._song is None:  # over silence: heard at once; over a song: mixed in
                self._take_back()
            self._effect = pcm
            self._effect_end = self._written + len(pcm)
            self._refill()
        return len(pcm) / BYTE_RATE

    def effect_playing(self) -> bool:
        """Whether an effect is still being written or heard."""
        if not self.is_open:
            return False
        with self._lock:
            if self._effect:
                return True
            return time.monotonic() < self._stream_time(self._effect_end) + self.buffer

    # -- health and closing ------------------------------------------------------------------

    def server_reading(self) -> bool:
        """Whether snapserver has read the stream within :data:`STALL` seconds."""
        return self.is_open and time.monotonic() - self._last_read < STALL

    def stream_status(self) -> dict[str, Any]:
        """The stream for ``status``: when the song's first sample entered it (this machine's
        monotonic seconds, snapserver's clock), its buffer, and its health."""
        return {
            "pipe": str(self.pipe),
            "buffer": self.buffer,
            "song_start": self._song_start_now(),
            "song": self._heard.path.name if self._heard else None,
            "song_offset": self._heard.start if self._heard else None,
            "server_reading": self.server_reading(),
            "song_start_from": self._song_start_from(),
            "underruns": self.underruns,
            "resyncs": self.resyncs,
        }

    def close(self) -> None:
        """Stop the feeder, end the decoders and close the pipe; safe to call twice."""
        self._closing.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            self._end_song()
            if self._prepared is not None:
                self._prepared.close()
                self._prepared = None
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._heard = None

    def __enter__(self) -> SnapcastPlayer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

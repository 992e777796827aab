"""Beat grids of songs: analysis with librosa, and the ``.beats.json`` grid file beside each song.

A grid says when the beats and the bars' downbeats fall, so the light show can follow the music.
Only :func:`analyze_song` needs librosa, and it imports it when called, so the daemon runs
without the ``beats`` extra and simply has no grids.

How a grid is made:

* **beats**: librosa's dynamic-programming beat tracker over the onset-strength envelope.
* **tempo**: 60 divided by the slope of the least-squares line through the beat times against
  their beat numbers (a skipped beat keeps its number), which is finer than the tracker's own
  estimate, quantised to whole analysis frames.
* **downbeats**: assuming ``beats_per_bar`` beats a bar (4/4 unless told otherwise), of the
  ``beats_per_bar`` possible bar phases the one whose beats carry, on average, the strongest
  rise of low-frequency energy (below 150 Hz: kick drum and bass) and the largest change of
  harmony (chroma) from the beat before: bars tend to start heavy and on a new chord. Both cues
  are scaled to a maximum of 1 and added.

A grid file records the song's size and modification time and :data:`ANALYSIS_VERSION`; a grid
whose song or analysis has changed since is stale and is not used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from party_button.atomic import write_json_atomically
from party_button.errors import SongError
from party_button.names import printable
from party_button.small_files import read_small_file
from party_button.song_file import open_song

log = logging.getLogger(__name__)

ANALYSIS_VERSION = 1
"""Raised whenever the analysis changes in a way that makes older grids worth redoing."""

SIDECAR_SUFFIX = ".beats.json"
SIDECAR_FORMAT = "party-button beat grid"
MAX_GRID_BYTES = 4 * 1024**2
"""A grid file is read up to this size (a 20-minute song at 200 BPM needs about 80 KB)."""

_SAMPLE_RATE = 22050
_HOP_LENGTH = 256  # 11.6 ms analysis frames
_LOW_BAND_HZ = 150.0
_MIN_BEATS = 4
MAX_ANALYSIS_SECONDS = 20 * 60
"""Longer songs are not analysed: the analysis holds the whole song in memory several times."""


@dataclass(frozen=True)
class SongStamp:
    """What identifies the version of a song file that a grid was made from.

    The content's hash, not the modification time, so that a grid stays valid when the
    song is copied to the Pi, checked out by git or installed by a package.
    """

    size: int
    sha256: str

    @classmethod
    def of(cls, song: Path) -> SongStamp:
        """The stamp of ``song`` as it is on disk now; raises ``OSError`` if it cannot be read
        (:class:`SongError`, naming why, when it is no song file: a FIFO, an empty file)."""
        with os.fdopen(open_song(song), "rb") as file:
            return cls.of_file(file)

    @classmethod
    def of_file(cls, file: BinaryIO) -> SongStamp:
        """The stamp of the song open as ``file``, read from where it stands to its end."""
        digest = hashlib.sha256()
        size = 0
        while chunk := file.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        return cls(size=size, sha256=digest.hexdigest())


@dataclass(frozen=True)
class BeatGrid:
    """When a song's beats and downbeats fall, in seconds from its start."""

    tempo_bpm: float
    beats: tuple[float, ...]
    downbeats: tuple[float, ...]
    beats_per_bar: int
    stamp: SongStamp
    analyzer: str
    version: int = ANALYSIS_VERSION


def librosa_available() -> bool:
    """Whether librosa (the ``beats`` extra) is installed; does not import it (that is slow)."""
    if "librosa" in sys.modules:
        return sys.modules["librosa"] is not None
    return importlib.util.find_spec("librosa") is not None


def grid_path(song: Path) -> Path:
    """Where the grid of ``song`` is stored: ``song.ogg`` -> ``song.ogg.beats.json``."""
    return song.with_name(song.name + SIDECAR_SUFFIX)


def analyze_song(song: Path, beats_per_bar: int = 4) -> BeatGrid:
    """Compute the beat grid of ``song`` with librosa.

    Raises :class:`SongError` when the file is missing or no song file, cannot be decoded, is
    longer than :data:`MAX_ANALYSIS_SECONDS` or has no steady beat, and ``ImportError`` when
    librosa is not installed.
    """
    import librosa
    import numpy as np

    samples, native_sr, stamp = _decode(song)
    if len(samples) == 0:
        raise SongError(f"{printable(song)}: cannot decode audio (no samples)")
    sr = _SAMPLE_RATE
    y = librosa.resample(samples.mean(axis=1), orig_sr=native_sr, target_sr=sr)

    power = np.abs(librosa.stft(y, hop_length=_HOP_LENGTH)) ** 2
    mel = librosa.feature.melspectrogram(S=power, sr=sr)
    onsets = librosa.onset.onset_strength(S=librosa.power_to_db(mel, ref=np.max), sr=sr)
    _, frames = librosa.beat.beat_track(onset_envelope=onsets, sr=sr, hop_length=_HOP_LENGTH)
    if len(frames) < _MIN_BEATS:
        raise SongError(f"{printable(song)}: no steady beat found")
    times = librosa.frames_to_time(frames, sr=sr, hop_length=_HOP_LENGTH)

    # Number the beats, counting a skipped beat, for the tempo fit and the bar phases.
    intervals = np.diff(times)
    steps = np.maximum(np.rint(intervals / np.median(intervals)), 1)
    numbers = np.concatenate([[0], np.cumsum(steps)]).astype(int)
    seconds_per_beat = np.polyfit(numbers, times, 1)[0]

    # Downbeat cue 1: the rise of low-frequency energy (kick drum, bass) at each beat.
    low = mel[librosa.mel_frequencies(n_mels=mel.shape[0], fmax=sr / 2) < _LOW_BAND_HZ].sum(axis=0)
    low_rise = np.maximum(np.diff(low, prepend=low[0]), 0)
    near = np.clip(frames[:, None] + np.arange(-2, 3), 0, len(low_rise) - 1)
    # Downbeat cue 2: how much the harmony changes from the previous beat to this one.
    chroma = librosa.util.sync(librosa.feature.chroma_stft(S=power, sr=sr), frames)[:, 1:]
    chroma /= np.maximum(np.linalg.norm(chroma, axis=0), 1e-9)
    change = np.concatenate([[0.0], 1 - np.sum(chroma[:, 1:] * chroma[:, :-1], axis=0)])
    phases = numbers % beats_per_bar
    phase = _strongest_phase(phases, beats_per_bar, low_rise[near].max(axis=1), change)

    return BeatGrid(
        tempo_bpm=round(60.0 / seconds_per_beat, 3),
        beats=tuple(round(float(t), 4) for t in times),
        downbeats=tuple(round(float(t), 4) for t in times[phases == phase]),
        beats_per_bar=beats_per_bar,
        stamp=stamp,
        analyzer=f"librosa {librosa.__version__}",
    )


def _decode(song: Path):
    """The samples, sample rate and stamp of ``song``, all read from one open file."""
    import soundfile  # a dependency of librosa; decodes Ogg Vorbis, MP3, WAV and FLAC

    with os.fdopen(open_song(song), "rb") as file:
        try:
            stamp = SongStamp.of_file(file)  # first: a change during analysis makes it stale
            file.seek(0)
            with soundfile.SoundFile(file) as audio:
                if audio.frames > MAX_ANALYSIS_SECONDS * audio.samplerate:
                    minutes = audio.frames / audio.samplerate / 60
                    raise SongError(
                        f"{printable(song)}: {minutes:.0f} minutes long, over the "
                        f"{MAX_ANALYSIS_SECONDS // 60} minutes that are analysed"
                    )
                samples = audio.read(dtype="float32", always_2d=True)
                return samples, audio.samplerate, stamp
        except SongError:
            raise
        except (OSError, RuntimeError, ValueError) as exc:  # LibsndfileError: a RuntimeError
            reason = getattr(exc, "error_string", None) or _reason(exc)
            message = f"{printable(song)}: cannot decode audio ({reason.rstrip('.')})"
            raise SongError(message) from exc
        except MemoryError:
            raise SongError(f"{printable(song)}: too big to decode in memory") from None


def _strongest_phase(phases, beats_per_bar: int, *cues) -> int:
    """The bar phase with the highest sum of per-phase cue means, each cue scaled to max 1."""
    import numpy as np

    total = np.zeros(beats_per_bar)
    for cue in cues:
        means = np.array(
            [cue[phases == p].mean() if np.any(phases == p) else 0.0 for p in range(beats_per_bar)]
        )
        total += means / means.max() if means.max() > 0 else means
    return int(np.argmax(total))


def grid_document(song: Path, grid: BeatGrid) -> dict[str, object]:
    """``grid`` as the JSON document of a grid file."""
    return {
        "format": SIDECAR_FORMAT,
        "version": grid.version,
        "analyzer": grid.analyzer,
        "song": {"name": song.name, "size": grid.stamp.size, "sha256": grid.stamp.sha256},
        "tempo_bpm": grid.tempo_bpm,
        "beats_per_bar": grid.beats_per_bar,
        "beats": list(grid.beats),
        "downbeats": list(grid.downbeats),
    }


def grid_from_document(document: object) -> BeatGrid:
    """A grid from a grid file's decoded JSON; raises ``ValueError`` naming what is wrong."""
    try:
        return _parse_grid(document)
    except KeyError as exc:
        raise ValueError(f"missing key {exc}") from None


def read_grid_file(path: Path) -> BeatGrid:
    """The grid in the grid file ``path``, read as a file others may have put there (a FIFO,
    a link, a huge file: ``OSError``); ``ValueError`` when it is not a grid."""
    return grid_from_document(json.loads(read_small_file(path, MAX_GRID_BYTES).decode("utf-8")))


def save_grid(song: Path, grid: BeatGrid) -> Path:
    """Write ``grid`` to the grid file of ``song`` atomically (temp file, then rename)."""
    return write_json_atomically(grid_path(song), grid_document(song, grid), newline=True)


def load_grid(song: Path) -> BeatGrid | None:
    """The stored grid of ``song``, or None when there is none or it is stale.

    A grid file that cannot be read or parsed is logged as a warning and treated as missing.
    """
    path = grid_path(song)
    try:
        grid = read_grid_file(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("%s: cannot read beat grid, ignoring it: %s", printable(path), _reason(exc))
        return None
    except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        log.warning("%s: corrupt beat grid, ignoring it: %s", printable(path), _reason(exc))
        return None
    if grid.version != ANALYSIS_VERSION:
        return None
    try:
        current = SongStamp.of(song)
    except OSError:
        return None
    return grid if grid.stamp == current else None


def is_up_to_date(song: Path) -> bool:
    """Whether ``song`` has a grid made by this analysis version from its current file."""
    return load_grid(song) is not None


def _parse_grid(document: object) -> BeatGrid:
    """Check a decoded grid file; raises ``ValueError`` naming the first bad key."""
    if not isinstance(document, dict) or document.get("format") != SIDECAR_FORMAT:
        raise ValueError(f"'format' is not {SIDECAR_FORMAT!r}")
    song = document["song"]
    if not isinstance(song, dict):
        raise ValueError("'song' is not an object")
    grid = BeatGrid(
        tempo_bpm=_number(document, "tempo_bpm"),
        beats=_times(document, "beats"),
        downbeats=_times(document, "downbeats"),
        beats_per_bar=_integer(document, "beats_per_bar"),
        stamp=SongStamp(size=_integer(song, "size"), sha256=str(song["sha256"])),
        analyzer=str(document["analyzer"]),
        version=_integer(document, "version"),
    )
    if grid.tempo_bpm <= 0 or grid.beats_per_bar <= 0:
        raise ValueError("'tempo_bpm' and 'beats_per_bar' must be positive")
    if not set(grid.downbeats) <= set(grid.beats):
        raise ValueError("'downbeats' must be a subset of 'beats'")
    return grid


def _number(document: dict, key: str) -> float:
    value = document[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key!r} is not a number: {value!r}")
    return float(value)


def _integer(document: dict, key: str) -> int:
    value = document[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key!r} is not an integer: {value!r}")
    return value


def _times(document: dict, key: str) -> tuple[float, ...]:
    values = document[key]
    if not isinstance(values, list):
        raise ValueError(f"{key!r} is not a list")
    times = tuple(_number({key: v}, key) for v in values)
    if any(t < 0 for t in times) or list(times) != sorted(times):
        raise ValueError(f"{key!r} must be non-negative times in increasing order")
    return times


def _reason(exc: BaseException) -> str:
    """A one-line reason for an error, for messages."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

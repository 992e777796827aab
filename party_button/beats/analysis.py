"""The beat analysis of one song, in memory that does not grow with the song's length.

How a grid is made (the features: :mod:`party_button.beats.features`; tempo and beats:
:mod:`party_button.beats.tracking`):

* **beats**: the dynamic-programming beat tracker over the onset-strength envelope.
* **tempo**: 60 divided by the slope of the least-squares line through the beat times against
  their beat numbers (a skipped beat keeps its number), which is finer than the tracker's own
  estimate, quantised to whole analysis frames.
* **downbeats**: assuming ``beats_per_bar`` beats a bar (4/4 unless told otherwise), of the
  ``beats_per_bar`` possible bar phases the one whose beats carry, on average, the strongest
  rise of low-frequency energy (below 150 Hz: kick drum and bass) and the largest change of
  harmony (chroma) from the beat before: bars tend to start heavy and on a new chord. Both cues
  are scaled to a maximum of 1 and added.

The song is decoded twice, a block at a time, never whole: memory is the libraries (about
40 MB), the blocks (about 30 MB) and some 300 kB per minute of song for the per-frame features.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# One thread for numpy's matrix products: the analysis yields to the party, and OpenBLAS's
# threads spin while they wait for a core (on a busy 2-core machine the analysis of a
# 4-minute song took 94 s with them, 20 s without). Only effective before numpy's import.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import soundfile

from party_button.beats.features import (
    HOP_LENGTH,
    SAMPLE_RATE,
    SongFeatures,
    loudest_mel_power,
    power_blocks,
    song_features,
)
from party_button.beats.grid import BeatGrid, SongStamp
from party_button.beats.tracking import estimate_tempo, track_beats
from party_button.errors import SongError, reason
from party_button.names import printable
from party_button.song_file import open_song

MAX_ANALYSIS_SECONDS = 20 * 60
"""Longer songs are not analysed (they would take minutes on a Pi, and no party needs them)."""
ANALYZER = "party-button beat tracker 2"
"""Recorded in each grid: what made it (1 was librosa's ``beat_track``, which it matches)."""
MIN_BEATS = 4


def analyze_song(song: Path, beats_per_bar: int = 4) -> BeatGrid:
    """Compute the beat grid of ``song``.

    Raises :class:`SongError` when the file is missing or no song file, cannot be decoded, is
    longer than :data:`MAX_ANALYSIS_SECONDS` or has no steady beat.
    """
    with _opened(song) as (stamp, audio):
        features = song_features(power_blocks(audio), loudest_mel_power(power_blocks(audio)))
    if len(features.onsets) == 0:
        raise SongError(f"{printable(song)}: cannot decode audio (no samples)")
    frames = track_beats(features.onsets, estimate_tempo(features.onsets))
    if len(frames) < MIN_BEATS:
        raise SongError(f"{printable(song)}: no steady beat found")
    times = frames * HOP_LENGTH / SAMPLE_RATE

    # Number the beats, counting a skipped beat, for the tempo fit and the bar phases.
    intervals = np.diff(times)
    steps = np.maximum(np.rint(intervals / np.median(intervals)), 1)
    numbers = np.concatenate([[0], np.cumsum(steps)]).astype(int)
    seconds_per_beat = np.polyfit(numbers, times, 1)[0]
    phases = numbers % beats_per_bar
    phase = _strongest_phase(phases, beats_per_bar, *_downbeat_cues(features, frames))

    return BeatGrid(
        tempo_bpm=round(60.0 / seconds_per_beat, 3),
        beats=tuple(round(float(t), 4) for t in times),
        downbeats=tuple(round(float(t), 4) for t in times[phases == phase]),
        beats_per_bar=beats_per_bar,
        stamp=stamp,
        analyzer=ANALYZER,
    )


@contextmanager
def _opened(song: Path) -> Iterator[tuple[SongStamp, soundfile.SoundFile]]:
    """The stamp of ``song`` and the song open for decoding.

    Decoding errors, wherever they happen, become :class:`SongError` naming the song.
    """
    with os.fdopen(open_song(song), "rb") as file:
        stamp = SongStamp.of_file(file)  # first: a change during analysis makes it stale
        file.seek(0)
        try:
            # The descriptor, not the file object: soundfile reads a file object through cffi
            # callbacks, which need memory that is writable and executable, and the beats
            # unit forbids that (MemoryDenyWriteExecute=yes).
            with soundfile.SoundFile(file.fileno(), closefd=False) as audio:
                if audio.frames > MAX_ANALYSIS_SECONDS * audio.samplerate:
                    minutes = audio.frames / audio.samplerate / 60
                    raise SongError(
                        f"{printable(song)}: {minutes:.0f} minutes long, over the "
                        f"{MAX_ANALYSIS_SECONDS // 60} minutes that are analysed"
                    )
                yield stamp, audio
        except SongError:
            raise
        except (OSError, RuntimeError, ValueError) as exc:  # LibsndfileError: a RuntimeError
            text = getattr(exc, "error_string", None) or reason(exc)
            first = (str(text).strip().splitlines() or [type(exc).__name__])[0]
            message = f"{printable(song)}: cannot decode audio ({first.rstrip('.')})"
            raise SongError(message) from exc


def _downbeat_cues(features: SongFeatures, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per beat: the rise of low-frequency energy near it, and how much the harmony changes
    from the previous beat to this one."""
    low = features.low
    low_rise = np.maximum(np.diff(low, prepend=low[0]), 0)
    near = np.clip(frames[:, None] + np.arange(-2, 3), 0, len(low_rise) - 1)
    chroma = _chroma_per_beat(features.chroma, frames)
    chroma /= np.maximum(np.linalg.norm(chroma, axis=0), 1e-9)
    change = np.concatenate([[0.0], 1 - np.sum(chroma[:, 1:] * chroma[:, :-1], axis=0)])
    return low_rise[near].max(axis=1), change


def _chroma_per_beat(chroma: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """The mean chroma from each beat to the next (the last: to the song's end)."""
    bounds = np.unique(np.clip(np.concatenate([[0, chroma.shape[1]], frames]), 0, None))
    sums = np.add.reduceat(chroma, bounds[:-1], axis=1)
    means = sums / np.diff(bounds)
    return means[:, 1:] if bounds[1] == frames[0] else means


def _strongest_phase(phases, beats_per_bar: int, *cues) -> int:
    """The bar phase with the highest sum of per-phase cue means, each cue scaled to max 1."""
    total = np.zeros(beats_per_bar)
    for cue in cues:
        means = np.array(
            [cue[phases == p].mean() if np.any(phases == p) else 0.0 for p in range(beats_per_bar)]
        )
        total += means / means.max() if means.max() > 0 else means
    return int(np.argmax(total))

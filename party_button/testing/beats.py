"""Beat helpers for tests: the demo songs with their known grids, generated songs of known
tempo, how a found grid is scored, and how long to wait."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from party_button.testing import SAMPLE_RATE

# The demo songs of the checkout (songs/) and what their generator wrote down about them.
SONGS_DIR = Path(__file__).resolve().parents[2] / "songs"
TRUTH = json.loads((SONGS_DIR / "demo-songs.json").read_text())["songs"]
SHORTEST = min(TRUTH, key=lambda s: s["duration_s"])["file"]
# A deadline for an analysis that hangs, not a time it should take: the worker's child runs
# at nice 10, and on a busy machine one song can take minutes.
ANALYSIS_TIMEOUT = 600.0

TOLERANCE_S = 0.07


def f_measure(estimated, reference, tolerance: float = TOLERANCE_S) -> float:
    """Beat F-measure: each reference beat matches at most one estimate within ``tolerance``."""
    unused = sorted(estimated)
    hits = 0
    for ref in sorted(reference):
        near = [e for e in unused if abs(e - ref) <= tolerance]
        if near:
            unused.remove(min(near, key=lambda e: abs(e - ref)))
            hits += 1
    if hits == 0:
        return 0.0
    precision, recall = hits / len(estimated), hits / len(reference)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class BeatSong:
    """A generated song's known grid: where :func:`write_beat_song` put its beats."""

    tempo_bpm: float
    beats: tuple[float, ...]
    downbeats: tuple[float, ...]


BEAT_SONG_FIRST_BEAT_S = 0.5
_CHORDS = (
    (220.0, 277.2, 329.6),
    (196.0, 246.9, 293.7),
    (174.6, 220.0, 261.6),
    (164.8, 207.7, 246.9),
)


def write_beat_song(
    path: Path,
    seconds: float,
    tempo_bpm: float,
    channels: int = 2,
    samplerate: int = SAMPLE_RATE,
) -> BeatSong:
    """Write a song of known tempo, a few seconds at a time (format from the suffix).

    A kick drum on every beat (louder on the first of each bar of four), a hi-hat between the
    beats, and a chord that changes with every bar; silence until the first beat at 0.5 s.
    Long songs take little memory to make, so benchmarks can make 20-minute ones.
    """
    import numpy as np
    import soundfile

    period = 60.0 / tempo_bpm
    total = int(seconds * samplerate)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    with soundfile.SoundFile(path, "w", samplerate, channels) as out:
        for start in range(0, total, 1 << 16):
            t = np.arange(start, min(start + (1 << 16), total)) / samplerate
            since = t - BEAT_SONG_FIRST_BEAT_S
            beat = np.floor(since / period)
            phase = since - beat * period
            bar = np.floor(beat / 4).astype(int)
            accent = np.where(beat % 4 == 0, 1.0, 0.55)
            sweep = 2 * np.pi * (50.0 * phase + 1.5 * (1 - np.exp(-phase * 25)))
            noise = rng.standard_normal(len(t))
            kick = accent * (np.exp(-phase * 18) * np.sin(sweep) + np.exp(-phase * 80) * noise)
            off = np.mod(phase - period / 2, period)
            hat = 0.03 * np.exp(-off * 60) * noise
            chord = sum(
                np.sin(2 * np.pi * np.array([c[i] for c in _CHORDS])[bar % 4] * t) for i in range(3)
            )
            bar_phase = since - bar * 4 * period
            pad = 0.08 * chord * (1 - np.exp(-bar_phase * 30)) * np.exp(-bar_phase * 0.4)
            mono = np.where(since >= 0, 0.7 * kick + hat + pad, 0.0).astype(np.float32)
            out.write(np.column_stack([mono] * channels))
    last = (seconds - BEAT_SONG_FIRST_BEAT_S - 0.2) // period
    beats = tuple(BEAT_SONG_FIRST_BEAT_S + k * period for k in range(int(last) + 1))
    return BeatSong(tempo_bpm, beats, beats[::4])

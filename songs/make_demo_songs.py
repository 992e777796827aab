"""Synthesise party-button's demo songs, intro siren and fallback jingle, with their beat grids.

Usage: ``python songs/make_demo_songs.py [--out DIR]`` (default: the folder of this script).

Everything is made from numpy arithmetic and a fixed random seed, so each run writes the same
music, and ``demo-songs.json`` records the grid each song was built on: the tempo, the exact
time of every beat and downbeat (4/4, first beat after a short silent lead-in) and the duration.
The tests re-run this script and compare, so the ground truth is never edited by hand.
(The Ogg container gets a random stream serial number, so the files differ byte for byte
from run to run while decoding to the same audio.)
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 44100
BEATS_PER_BAR = 4
STEPS_PER_BEAT = 4  # drum and note patterns are written in sixteenth notes
FIRST_BEAT_S = 0.5  # silent lead-in before the first (down)beat
RING_OUT_S = 2.5  # the final chord rings this long after the last downbeat
BARS_PER_PHRASE = 4  # a crash cymbal marks the start of every phrase
VORBIS_QUALITY = 0.6  # libsndfile's compression level: 0 best quality, 1 smallest file
GROUND_TRUTH = "demo-songs.json"


@dataclass(frozen=True)
class SongSpec:
    """One demo song: tempo, harmony and sixteenth-note patterns of a bar.

    Drum patterns have one character per sixteenth: ``X`` accented hit, ``x`` hit, ``.`` rest.
    ``bass`` holds (step, semitones above the chord's root, length in steps); ``comping`` holds
    (step, length in steps) of the chord instrument; ``melody`` holds (step within a phrase,
    MIDI note, length in steps) and plays from the second phrase on.
    """

    file: str
    title: str
    tempo_bpm: float
    bars: int
    roots: tuple[int, ...]
    chords: tuple[tuple[int, ...], ...]
    kick: str
    snare: str
    hat: str
    open_hat: str
    bass: tuple[tuple[int, int, int], ...]
    chord_sound: str
    comping: tuple[tuple[int, int], ...]
    melody: tuple[tuple[int, int, int], ...]
    seed: int


# fmt: off
SONGS = (
    SongSpec(
        file="sunny-steps.ogg",
        title="Sunny Steps",
        tempo_bpm=96.0,
        bars=10,
        roots=(36, 43, 45, 41),  # C G Am F
        chords=((60, 64, 67), (59, 62, 67), (60, 64, 69), (60, 65, 69)),
        kick="X.......x.x.....",
        snare="....x.......x...",
        hat="x.x.x.x.x.x.x.x.",
        open_hat="..............x.",
        bass=((0, 0, 6), (6, 0, 2), (8, 7, 4), (12, 12, 4)),
        chord_sound="keys",
        comping=((0, 6), (6, 2), (10, 4)),
        melody=(
            (0, 76, 4), (4, 79, 4), (8, 76, 2), (10, 74, 6),
            (16, 74, 4), (20, 71, 4), (24, 74, 8),
            (32, 72, 4), (36, 76, 4), (40, 81, 4), (44, 79, 4),
            (48, 77, 4), (52, 76, 4), (56, 72, 8),
        ),
        seed=96,
    ),
    SongSpec(
        file="neon-bounce.ogg",
        title="Neon Bounce",
        tempo_bpm=120.0,
        bars=12,
        roots=(45, 41, 36, 43),  # Am F C G
        chords=((57, 60, 64), (57, 60, 65), (55, 60, 64), (55, 59, 62)),
        kick="X.....x.x.......",
        snare="....x.......x...",
        hat="XxXxXxXxXxXxXxXx",
        open_hat="................",
        bass=((0, 0, 2), (2, 12, 2), (4, 0, 2), (6, 12, 2),
              (8, 0, 2), (10, 12, 2), (12, 0, 2), (14, 12, 2)),
        chord_sound="pad",
        comping=((0, 16),),
        melody=(
            (0, 76, 2), (2, 72, 2), (4, 69, 2), (6, 72, 2), (8, 76, 4), (12, 79, 4),
            (16, 77, 2), (18, 72, 2), (20, 69, 2), (22, 72, 2), (24, 77, 8),
            (32, 76, 2), (34, 72, 2), (36, 67, 2), (38, 72, 2), (40, 76, 4), (44, 79, 4),
            (48, 74, 2), (50, 71, 2), (52, 67, 2), (54, 71, 2), (56, 74, 8),
        ),
        seed=120,
    ),
    SongSpec(
        file="lift-off.ogg",
        title="Lift Off",
        tempo_bpm=128.0,
        bars=12,
        roots=(38, 34, 41, 36),  # Dm Bb F C
        chords=((62, 65, 69), (62, 65, 70), (60, 65, 69), (60, 64, 67)),
        kick="X...x...x...x...",
        snare="....x.......x...",
        hat="x...x...x...x...",
        open_hat="..x...x...x...x.",
        bass=((0, 0, 3), (4, 0, 2), (6, 12, 2), (8, 0, 3), (12, 0, 2), (14, 12, 2)),
        chord_sound="stab",
        comping=((0, 2), (3, 2), (8, 2), (11, 2)),
        melody=(
            (0, 74, 3), (3, 77, 3), (6, 81, 2), (8, 79, 8),
            (16, 77, 3), (19, 74, 3), (22, 77, 2), (24, 74, 8),
            (32, 72, 3), (35, 77, 3), (38, 81, 2), (40, 84, 8),
            (48, 79, 3), (51, 76, 3), (54, 72, 2), (56, 76, 8),
        ),
        seed=128,
    ),
)
# fmt: on


def midi_hz(note: float) -> float:
    """Frequency of a MIDI note number (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((note - 69) / 12)


def seconds(duration_s: float) -> np.ndarray:
    """Sample times from 0 for ``duration_s`` seconds."""
    return np.arange(round(duration_s * SAMPLE_RATE)) / SAMPLE_RATE


def envelope(t: np.ndarray, attack_s: float, decay_s: float, hold_s: float | None = None):
    """Linear attack, then exponential decay; with ``hold_s`` a 30 ms release after it."""
    env = np.minimum(t / attack_s, 1.0) * np.exp(-np.maximum(t - attack_s, 0.0) / decay_s)
    if hold_s is not None:
        env *= np.clip((hold_s + 0.03 - t) / 0.03, 0.0, 1.0)
    return env


def band_noise(rng: np.random.Generator, duration_s: float, low_hz: float, high_hz: float):
    """White noise limited to ``low_hz``..``high_hz``, peak 1."""
    n = round(duration_s * SAMPLE_RATE)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum[(freqs < low_hz) | (freqs > high_hz)] = 0
    noise = np.fft.irfft(spectrum, n)
    return noise / np.max(np.abs(noise))


def tone(t: np.ndarray, hz: float, cutoff_hz: float, brightness: float = 1.0) -> np.ndarray:
    """A band-limited sawtooth-like tone: harmonics 1/k, softly rolled off above ``cutoff_hz``."""
    k = np.arange(1, max(2, int(min(cutoff_hz * 3, 16000) // hz)) + 1)
    weights = (1 / k**brightness) / (1 + (k * hz / cutoff_hz) ** 2)
    return np.sin(2 * np.pi * hz * np.outer(t, k)) @ weights


class Kit:
    """The drum and instrument sounds of one song, made once and placed many times."""

    def __init__(self, rng: np.random.Generator) -> None:
        t = seconds(0.45)
        sweep = 2 * np.pi * np.cumsum(48 + 120 * np.exp(-t / 0.025)) / SAMPLE_RATE
        click = band_noise(rng, 0.45, 1500, 6000) * np.exp(-t / 0.004)
        self.kick = np.sin(sweep) * envelope(t, 0.002, 0.16) + 0.15 * click
        t = seconds(0.3)
        self.snare = 0.8 * band_noise(rng, 0.3, 900, 9000) * envelope(t, 0.001, 0.07) + 0.5 * (
            np.sin(2 * np.pi * 185 * t) * envelope(t, 0.001, 0.045)
        )
        t = seconds(0.12)
        self.hat = band_noise(rng, 0.12, 7000, 16000) * envelope(t, 0.001, 0.018)
        t = seconds(0.4)
        self.open_hat = band_noise(rng, 0.4, 6000, 16000) * envelope(t, 0.002, 0.12)
        t = seconds(2.0)
        self.crash = band_noise(rng, 2.0, 3500, 16000) * envelope(t, 0.002, 0.6)


@cache
def bass_note(note: int, length_s: float) -> np.ndarray:
    t = seconds(length_s + 0.03)
    return tone(t, midi_hz(note), 420) * envelope(t, 0.004, 0.35, hold_s=length_s)


@cache
def chord_sound(kind: str, notes: tuple[int, ...], length_s: float) -> np.ndarray:
    """A chord as stereo samples; ``kind`` is "keys", "pad" or "stab"."""
    t = seconds(length_s + 0.03)
    if kind == "keys":  # an electric-piano-like bell: sine, octave and a quick bright attack
        voices = [
            np.sin(2 * np.pi * midi_hz(n) * t)
            + 0.3 * np.sin(4 * np.pi * midi_hz(n) * t) * np.exp(-t / 0.08)
            for n in notes
        ]
        env = envelope(t, 0.003, 0.9, hold_s=length_s)
    elif kind == "pad":  # slightly detuned saws, slow attack
        voices = [
            tone(t, midi_hz(n + 0.06), 1800) + tone(t, midi_hz(n - 0.06), 1800) for n in notes
        ]
        env = np.minimum(t / 0.25, 1.0) * np.clip((length_s + 0.03 - t) / 0.08, 0.0, 1.0)
    elif kind == "stab":  # short bright house stab
        voices = [tone(t, midi_hz(n), 2600) for n in notes]
        env = envelope(t, 0.002, 0.09, hold_s=length_s)
    else:
        raise ValueError(f"unknown chord sound {kind!r}")
    mono = np.sum(voices, axis=0) * env / len(notes)
    return np.stack([mono, np.roll(mono, 220)], axis=1)  # 5 ms apart: a little width


@cache
def lead_note(note: int, length_s: float) -> np.ndarray:
    """A soft flute-like lead with a gentle vibrato."""
    t = seconds(length_s + 0.03)
    vibrato = 1 + 0.004 * np.sin(2 * np.pi * 5.5 * t) * np.minimum(t / 0.3, 1.0)
    phase = 2 * np.pi * np.cumsum(midi_hz(note) * vibrato) / SAMPLE_RATE
    wave = np.sin(phase) + 0.25 * np.sin(2 * phase) + 0.1 * np.sin(3 * phase)
    return wave * envelope(t, 0.02, 1.2, hold_s=length_s)


class Mix:
    """A stereo buffer that sounds are added into at given times."""

    def __init__(self, duration_s: float) -> None:
        self.samples = np.zeros((round(duration_s * SAMPLE_RATE), 2))

    def add(self, sound: np.ndarray, at_s: float, gain: float, pan: float = 0.0) -> None:
        """Add ``sound`` (mono or stereo) starting ``at_s``; ``pan`` from -1 (left) to 1."""
        start = round(at_s * SAMPLE_RATE)
        sound = sound[: len(self.samples) - start]
        if sound.ndim == 1:
            sound = np.outer(sound, [1 - max(pan, 0.0), 1 + min(pan, 0.0)])
        self.samples[start : start + len(sound)] += gain * sound

    def mastered(self, peak: float = 0.89) -> np.ndarray:
        """Gently saturated and scaled to ``peak``, with a 20 ms fade-out."""
        out = np.tanh(self.samples / np.max(np.abs(self.samples)))
        out *= peak / np.max(np.abs(out))
        fade = round(0.02 * SAMPLE_RATE)
        out[-fade:] *= np.linspace(1, 0, fade)[:, None]
        return out.astype(np.float32)


def beat_times(spec: SongSpec) -> list[float]:
    """Every beat of the song: the bars, then the final downbeat that rings out."""
    beat_s = 60.0 / spec.tempo_bpm
    return [FIRST_BEAT_S + i * beat_s for i in range(spec.bars * BEATS_PER_BAR + 1)]


def hits(pattern: str) -> list[tuple[int, float]]:
    """(step, gain) of each hit in a drum pattern."""
    return [(step, 1.0 if c == "X" else 0.7) for step, c in enumerate(pattern) if c != "."]


def render_song(spec: SongSpec) -> tuple[np.ndarray, dict]:
    """The song's samples and its ground truth record."""
    rng = np.random.default_rng(spec.seed)
    kit = Kit(rng)
    beats = beat_times(spec)
    step_s = 60.0 / spec.tempo_bpm / STEPS_PER_BEAT
    bar_steps = BEATS_PER_BAR * STEPS_PER_BEAT
    mix = Mix(beats[-1] + RING_OUT_S)
    for bar in range(spec.bars):
        bar_s = beats[bar * BEATS_PER_BAR]
        root, chord = spec.roots[bar % len(spec.roots)], spec.chords[bar % len(spec.chords)]
        if bar % BARS_PER_PHRASE == 0:
            mix.add(kit.crash, bar_s, 0.22, pan=-0.3)
        for sound, pattern, gain, pan in (
            (kit.kick, spec.kick, 0.9, 0.0),
            (kit.snare, spec.snare, 0.4, 0.1),
            (kit.hat, spec.hat, 0.16, 0.35),
            (kit.open_hat, spec.open_hat, 0.12, 0.35),
        ):
            for step, accent in hits(pattern):
                mix.add(sound, bar_s + step * step_s, gain * accent, pan)
        for step, interval, length in spec.bass:
            mix.add(bass_note(root + interval, length * step_s), bar_s + step * step_s, 0.42)
        for step, length in spec.comping:
            mix.add(
                chord_sound(spec.chord_sound, chord, length * step_s), bar_s + step * step_s, 0.3
            )
        if bar >= BARS_PER_PHRASE:
            phrase_step = (bar % BARS_PER_PHRASE) * bar_steps
            for step, note, length in spec.melody:
                if phrase_step <= step < phrase_step + bar_steps:
                    mix.add(
                        lead_note(note, length * step_s),
                        bar_s + (step - phrase_step) * step_s,
                        0.16,
                        pan=-0.15,
                    )
    end_s = beats[-1]
    mix.add(kit.kick, end_s, 0.9)
    mix.add(kit.crash, end_s, 0.22, pan=-0.3)
    mix.add(bass_note(spec.roots[0], RING_OUT_S - 0.3), end_s, 0.42)
    mix.add(chord_sound("pad", spec.chords[0], RING_OUT_S - 0.3), end_s, 0.3)
    samples = mix.mastered()
    truth = {
        "file": spec.file,
        "title": spec.title,
        "tempo_bpm": spec.tempo_bpm,
        "time_signature": f"{BEATS_PER_BAR}/4",
        "first_beat_s": FIRST_BEAT_S,
        "duration_s": round(len(samples) / SAMPLE_RATE, 6),
        "beats": [round(b, 6) for b in beats],
        "downbeats": [round(b, 6) for b in beats[::BEATS_PER_BAR]],
    }
    return samples, truth


def render_siren() -> np.ndarray:
    """Four seconds of a wailing siren: a tone sweeping 550..1100 Hz and back, twice."""
    t = seconds(4.0)
    hz = 825 - 275 * np.cos(2 * np.pi * t / 2.0)
    phase = 2 * np.pi * np.cumsum(hz) / SAMPLE_RATE
    wave = np.sin(phase) + 0.3 * np.sin(3 * phase) + 0.12 * np.sin(5 * phase)
    fade = np.minimum(np.minimum(t / 0.3, 1.0), np.clip((4.0 - t) / 0.5, 0.0, 1.0))
    mix = Mix(4.0)
    mix.add(wave * fade, 0.0, 0.5)
    return mix.mastered(peak=0.35)  # a pure tone sounds loud: keep it near the songs' level


def render_fallback() -> np.ndarray:
    """A cheerful two-second jingle: a rising C major arpeggio landing on a bright chord."""
    mix = Mix(2.0)
    for i, note in enumerate((72, 76, 79, 84)):
        mix.add(chord_sound("keys", (note,), 0.3), i * 0.12, 0.6, pan=0.2 * i - 0.3)
    mix.add(chord_sound("keys", (72, 76, 79, 84), 1.3), 0.5, 0.7)
    return mix.mastered(peak=0.8)


# libsndfile's Vorbis encoder crashes when handed a long song in one call; feed it in blocks.
WRITE_BLOCK_FRAMES = 1 << 16


def write_ogg(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with sf.SoundFile(
        path,
        "w",
        SAMPLE_RATE,
        channels,
        format="OGG",
        subtype="VORBIS",
        compression_level=VORBIS_QUALITY,
    ) as out:
        for start in range(0, len(samples), WRITE_BLOCK_FRAMES):
            out.write(samples[start : start + WRITE_BLOCK_FRAMES])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).parent,
        help="folder to write into (default: next to this script)",
    )
    out = parser.parse_args(argv).out
    songs = []
    for spec in SONGS:
        samples, truth = render_song(spec)
        write_ogg(out / spec.file, samples)
        songs.append(truth)
        print(f"{spec.file}: {spec.tempo_bpm:g} BPM, {truth['duration_s']:.2f} s")
    sounds = []
    for name, samples in (
        ("intro/siren.ogg", render_siren()),
        ("intro/fallback.ogg", render_fallback()),
    ):
        write_ogg(out / name, samples)
        sounds.append({"file": name, "duration_s": round(len(samples) / SAMPLE_RATE, 6)})
        print(f"{name}: {sounds[-1]['duration_s']:.2f} s")
    ground_truth = {
        "generator": "songs/make_demo_songs.py",
        "sample_rate": SAMPLE_RATE,
        "songs": songs,
        "sounds": sounds,
    }
    (out / GROUND_TRUTH).write_text(json.dumps(ground_truth, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What the beat analysis hears in a song, computed block by block in bounded memory.

A song is decoded, mixed to mono and resampled to :data:`SAMPLE_RATE` in blocks
(:func:`mono_blocks`); :class:`Spectrogram` turns those into blocks of short-time power
spectra (2048-sample Hann frames every :data:`HOP_LENGTH` samples, centred, zero-padded at
both ends). Only numpy, soundfile and soxr are used: no JIT compiler, no whole-song arrays.

The song is heard twice. The first pass finds the loudest mel band of the whole song
(:func:`loudest_mel_power`), which sets the floor of the decibel scale; the second
(:func:`song_features`) keeps, per frame, just what the beat tracker and the bar finder need:
the onset strength, the low-band energy and the 12 chroma values (about 60 bytes a frame,
300 kB a minute). The figures are those of librosa 0.10/0.11 (``onset_strength`` over
``power_to_db(melspectrogram, ref=np.max)``, ``chroma_stft`` at A440), whose whole-song
versions the tests compare them with.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

import numpy as np
import soundfile
import soxr

SAMPLE_RATE = 22050
HOP_LENGTH = 256  # 11.6 ms analysis frames
N_FFT = 2048
N_MELS = 128
LOW_BAND_HZ = 150.0
TOP_DB = 80.0
AMIN = 1e-10
READ_FRAMES = 1 << 16
"""Samples per channel decoded at a time (1.5 s at 44.1 kHz)."""
MP3_REWIND = 4 * 1152
"""Samples (four MP3 frames) decoded again before each MP3 block (see :func:`_read_block`)."""
FRAMES_PER_BLOCK = 256
"""Spectrum frames computed at a time (3 s of song; about 15 MB of temporary arrays)."""
ONSET_DELAY = 3
"""librosa's onset envelope lags the spectrum by its lag (1) plus ``n_fft // (2 * 512)``."""


def mono_blocks(audio: soundfile.SoundFile) -> Iterator[np.ndarray]:
    """The song open as ``audio`` from its start: mono float32 blocks at :data:`SAMPLE_RATE`.

    Channels are averaged before resampling (soxr's high quality), as ``librosa.load`` does.
    """
    resampler = None
    if audio.samplerate != SAMPLE_RATE:
        resampler = soxr.ResampleStream(audio.samplerate, SAMPLE_RATE, 1, "float32", "HQ")
    read = given = 0
    while True:
        block = _read_block(audio, read)
        read += len(block)
        last = len(block) < READ_FRAMES
        mono = np.ascontiguousarray(block.mean(axis=1, dtype=np.float32))
        if resampler is not None:
            mono = resampler.resample_chunk(mono, last=last)
        if last:  # exactly the resampled length, ceil(read * ratio), as librosa.resample
            wanted = max(0, math.ceil(read * SAMPLE_RATE / audio.samplerate) - given)
            missing = np.zeros(max(0, wanted - len(mono)), np.float32)
            mono = np.concatenate([mono[:wanted], missing])
        given += len(mono)
        if len(mono):
            yield mono
        if last:
            return


def _read_block(audio: soundfile.SoundFile, position: int) -> np.ndarray:
    """Up to :data:`READ_FRAMES` frames of ``audio`` from frame ``position`` on, as float32.

    libsndfile's MP3 decoder (1.2) loses up to an MP3 frame of samples, as zeros, at the start
    of a read that continues the one before; a read after a seek is exact. So an MP3 block is
    read after seeking :data:`MP3_REWIND` frames back, and those are dropped; mpg123's messages
    about the bit reservoir that the rewound frames lack are silenced.
    """
    if audio.format != "MP3":
        if position == 0:
            audio.seek(0)
        return audio.read(READ_FRAMES, dtype="float32", always_2d=True)
    start = max(0, position - MP3_REWIND)
    with _stderr_silenced():
        audio.seek(start)
        block = audio.read(READ_FRAMES + position - start, dtype="float32", always_2d=True)
    return block[position - start :]


@contextmanager
def _stderr_silenced() -> Iterator[None]:
    """File descriptor 2 goes to /dev/null meanwhile (what C libraries print there)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class Spectrogram:
    """Blocks of power spectra (``1 + N_FFT // 2`` rows, one column a frame) of a stream of
    samples, as ``abs(librosa.stft(y, n_fft=2048, hop_length=256)) ** 2`` of the whole."""

    def __init__(self) -> None:
        self._pending = np.zeros(N_FFT // 2, dtype=np.float32)  # the centring pad
        self._window = _hann(N_FFT)
        self.frames = 0

    def feed(self, samples: np.ndarray) -> Iterator[np.ndarray]:
        """The spectra of every frame that ``samples`` completes."""
        self._pending = np.concatenate([self._pending, samples])
        yield from self._complete_frames()

    def finish(self) -> Iterator[np.ndarray]:
        """The spectra of the last frames, which reach into the zero padding at the end."""
        self._pending = np.concatenate([self._pending, np.zeros(N_FFT // 2, np.float32)])
        yield from self._complete_frames()

    def _complete_frames(self) -> Iterator[np.ndarray]:
        while (count := (len(self._pending) - N_FFT) // HOP_LENGTH + 1) > 0:
            count = min(count, FRAMES_PER_BLOCK)
            frames = np.lib.stride_tricks.sliding_window_view(self._pending, N_FFT)
            chosen = frames[: count * HOP_LENGTH : HOP_LENGTH]
            spectra = np.fft.rfft(chosen * self._window, axis=1).astype(np.complex64)
            self._pending = self._pending[count * HOP_LENGTH :]
            self.frames += count
            yield np.ascontiguousarray((np.abs(spectra) ** 2).T)


def power_blocks(audio: soundfile.SoundFile) -> Iterator[np.ndarray]:
    """Blocks of power spectra of the whole song open as ``audio``, from its start."""
    spectrogram = Spectrogram()
    for samples in mono_blocks(audio):
        yield from spectrogram.feed(samples)
    yield from spectrogram.finish()


def loudest_mel_power(blocks: Iterator[np.ndarray]) -> np.float32:
    """The first pass: the highest mel-band power of the song (0 for silence)."""
    loudest = np.float32(0.0)
    for power in blocks:
        loudest = max(loudest, (mel_filters() @ power).max(initial=0.0))
    return loudest


@dataclass(frozen=True)
class SongFeatures:
    """Per analysis frame: onset strength, low-band (< 150 Hz) mel power, chroma (12 rows)."""

    onsets: np.ndarray
    low: np.ndarray
    chroma: np.ndarray


def song_features(blocks: Iterator[np.ndarray], loudest: np.float32) -> SongFeatures:
    """The second pass: the features of every frame; ``loudest`` is the first pass's result."""
    reference = 10.0 * np.log10(np.maximum(np.float32(AMIN), loudest))
    floor = np.float32(0.0 - TOP_DB)  # power_to_db(ref=np.max) puts the loudest at 0 dB
    low_rows = mel_frequencies(N_MELS, SAMPLE_RATE / 2) < LOW_BAND_HZ
    onsets: list[np.ndarray] = [np.zeros(ONSET_DELAY, np.float32)]
    lows: list[np.ndarray] = []
    chromas: list[np.ndarray] = []
    previous = None
    for power in blocks:
        mel = mel_filters() @ power
        decibels = 10.0 * np.log10(np.maximum(np.float32(AMIN), mel)) - reference
        decibels = np.maximum(decibels, floor)
        joined = decibels if previous is None else np.column_stack([previous, decibels])
        onsets.append(np.maximum(0.0, np.diff(joined, axis=1)).mean(axis=0))
        previous = decibels[:, -1]
        lows.append(mel[low_rows].sum(axis=0))
        chromas.append(_normalized_columns(chroma_filters() @ power))
    frames = sum(len(low) for low in lows)
    return SongFeatures(
        onsets=np.concatenate(onsets)[:frames],
        low=np.concatenate(lows) if lows else np.zeros(0, np.float32),
        chroma=np.concatenate(chromas, axis=1) if chromas else np.zeros((12, 0), np.float32),
    )


def _normalized_columns(chroma: np.ndarray) -> np.ndarray:
    """Each column divided by its largest value (columns of zeros left as they are)."""
    peaks = chroma.max(axis=0, keepdims=True)
    peaks[peaks < np.finfo(chroma.dtype).tiny] = 1.0
    return chroma / peaks


def _hann(length: int) -> np.ndarray:
    """The periodic Hann window (for spectra: its period is ``length``)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear to 1 kHz, logarithmic above."""
    hz = np.asanyarray(hz, dtype=float)
    linear = hz / (200.0 / 3)
    step = np.log(6.4) / 27.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-12) / 1000.0) / step, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    step = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(step * (mel - 15.0)), mel * (200.0 / 3))


def mel_frequencies(count: int, highest_hz: float) -> np.ndarray:
    """``count`` frequencies from 0 to ``highest_hz``, evenly spaced on the mel scale."""
    return _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(highest_hz), count))


@cache
def mel_filters() -> np.ndarray:
    """The mel filter bank: :data:`N_MELS` triangles of equal area (Slaney), float32."""
    bins = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    edges = mel_frequencies(N_MELS + 2, SAMPLE_RATE / 2)
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    return (weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


@cache
def chroma_filters() -> np.ndarray:
    """The chroma filter bank at A440: 12 rows from C, Gaussian bumps per semitone weighted
    around octave 5 (two octaves wide), each frequency column scaled to unit length."""
    chroma = 12
    frequencies = np.linspace(0, SAMPLE_RATE, N_FFT, endpoint=False)[1:]
    bins = chroma * np.log2(frequencies / (440.0 / 16))
    bins = np.concatenate([[bins[0] - 1.5 * chroma], bins])
    widths = np.concatenate([np.maximum(np.diff(bins), 1.0), [1.0]])
    distance = bins[None, :] - np.arange(chroma, dtype=float)[:, None]
    half = np.round(chroma / 2)
    distance = np.remainder(distance + half + 10 * chroma, chroma) - half
    weights = np.exp(-0.5 * (2 * distance / widths[None, :]) ** 2)
    weights /= np.sqrt(np.sum(weights**2, axis=0, keepdims=True))
    weights *= np.exp(-0.5 * ((bins / chroma - 5.0) / 2.0) ** 2)[None, :]
    weights = np.roll(weights, -3, axis=0)  # start at C, not A
    return np.ascontiguousarray(weights[:, : 1 + N_FFT // 2], dtype=np.float32)

"""Tempo and beats from an onset-strength envelope, in memory proportional to its length only.

The method is Ellis's dynamic-programming beat tracker ("Beat tracking by dynamic
programming", 2007) with the choices of librosa 0.10/0.11, whose ``beat_track`` the tests
compare it with:

* **tempo**: the mean over the song of the local autocorrelation of the envelope (8 s Hann
  windows, each scaled to a peak of 1), weighted by a log-normal prior around 120 BPM (one
  octave wide) and capped at 320 BPM. librosa builds the whole tempogram (689 lags per
  frame: 0.5 GB for 20 minutes); here it is summed a block of frames at a time.
* **beats**: each frame's score is the envelope smoothed around it; a beat's cumulative score
  adds the best previous beat half to two beat periods back, penalised by how far the gap is
  from one period (on a log scale). The frames within half a period of each other depend only
  on earlier ones, so each half period is computed at once with numpy.
"""

from __future__ import annotations

import numpy as np

from party_button.beats.features import HOP_LENGTH, SAMPLE_RATE

FRAME_RATE = SAMPLE_RATE / HOP_LENGTH
START_BPM = 120.0
MAX_BPM = 320.0
TIGHTNESS = 100.0
AUTOCORRELATION_SECONDS = 8.0
COLUMNS_PER_BLOCK = 256
"""Tempogram frames computed at a time (about 10 MB of temporary arrays)."""


def estimate_tempo(onsets: np.ndarray) -> float:
    """The song's tempo in BPM, from its onset envelope (one value per frame)."""
    width = int(AUTOCORRELATION_SECONDS * FRAME_RATE)
    half = width // 2
    padded = np.pad(onsets, (half, half), mode="linear_ramp", end_values=(0, 0))
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)[: len(onsets)]
    taper = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(width) / width)
    size = 1 << int(np.ceil(np.log2(2 * width - 1)))
    total = np.zeros(width)
    for start in range(0, len(onsets), COLUMNS_PER_BLOCK):
        block = windows[start : start + COLUMNS_PER_BLOCK] * taper
        spectrum = np.fft.rfft(block, n=size, axis=1)
        correlation = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=size, axis=1)[:, :width]
        peaks = np.abs(correlation).max(axis=1, keepdims=True)
        peaks[peaks < np.finfo(float).tiny] = 1.0
        total += (correlation / peaks).sum(axis=0)
    mean = total / max(len(onsets), 1)
    lags = np.arange(1, width)
    bpms = 60.0 * FRAME_RATE / lags
    prior = -0.5 * (np.log2(bpms) - np.log2(START_BPM)) ** 2
    prior[bpms >= MAX_BPM] = -np.inf
    return float(bpms[np.argmax(np.log1p(1e6 * mean[1:]) + prior)])


def track_beats(onsets: np.ndarray, bpm: float) -> np.ndarray:
    """The frames of the beats, in order; empty when the envelope is all zero."""
    if not onsets.any():
        return np.zeros(0, dtype=int)
    period = round(FRAME_RATE * 60.0 / bpm)
    local = _local_score(onsets / (onsets.std(ddof=1) + np.finfo(onsets.dtype).tiny), period)
    backlinks, cumulative = _best_paths(local, period)
    beats = np.zeros(len(local), dtype=bool)
    frame = _last_beat(cumulative)
    while frame >= 0:
        beats[frame] = True
        frame = backlinks[frame]
    return np.flatnonzero(_trimmed(local, beats))


def _local_score(onsets: np.ndarray, period: int) -> np.ndarray:
    """The envelope smoothed by a Gaussian 1/32 of a period wide, over +-1 period."""
    offsets = np.arange(-period, period + 1, dtype=onsets.dtype)
    window = np.exp(-0.5 * (offsets * 32.0 / period) ** 2)
    return np.convolve(onsets, window, mode="same").astype(onsets.dtype)


def _best_paths(local: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's best previous beat (-1: none) and the cumulative score of the best path
    of beats ending there."""
    count = len(local)
    nearest = round(period / 2)
    gaps = np.arange(nearest, 2 * period + 1)
    penalty = TIGHTNESS * (np.log(gaps) - np.log(period)) ** 2
    cumulative = np.zeros(count, dtype=local.dtype)
    backlinks = np.full(count, -1, dtype=np.int64)
    step = max(nearest, 1)
    for start in range(0, count, step):
        frames = np.arange(start, min(start + step, count))
        candidates = frames[:, None] - gaps[None, :]
        valid = candidates >= 0
        scores = np.where(valid, cumulative[np.maximum(candidates, 0)] - penalty, -np.inf)
        best = np.argmax(scores, axis=1)  # the nearest of equal scores, as the loop does
        found = valid[np.arange(len(frames)), best]
        best_scores = scores[np.arange(len(frames)), best]
        cumulative[frames] = local[frames] + np.where(found, best_scores, 0.0)
        backlinks[frames] = np.where(found, candidates[np.arange(len(frames)), best], -1)
    # Until the first frame with 1 % of the highest score, no beat links back.
    strong = np.flatnonzero(local >= 0.01 * local.max())
    backlinks[: strong[0] if len(strong) else count] = -1
    return backlinks, cumulative


def _last_beat(cumulative: np.ndarray) -> int:
    """The last local maximum of the cumulative score that reaches half their median."""
    before = np.concatenate([cumulative[:1], cumulative[:-1]])
    after = np.concatenate([cumulative[1:], cumulative[-1:]])
    peaks = (cumulative > before) & (cumulative >= after)
    if not peaks.any():
        return len(cumulative) - 1
    threshold = 0.5 * np.median(cumulative[peaks])
    chosen = np.flatnonzero(peaks & (cumulative >= threshold))
    return int(chosen[-1]) if len(chosen) else len(cumulative) - 1


def _trimmed(local: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """``beats`` without the weak frames at either end of the song: those whose local score
    is at most half the root mean square of the (smoothed) scores at the beats."""
    smooth = np.convolve(local[beats], np.hanning(5))[2:]
    threshold = 0.5 * np.sqrt(np.mean(smooth**2)) if len(smooth) else 0.0
    strong = np.flatnonzero(local > threshold)
    trimmed = beats.copy()
    if len(strong):
        trimmed[: strong[0]] = False
        trimmed[strong[-1] + 1 :] = False
    return trimmed

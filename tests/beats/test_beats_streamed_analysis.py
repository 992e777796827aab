"""The beat analysis streams the song in blocks: grids of generated songs of known tempo in every
supported format, channel count and sample rate; the blockwise figures equal the whole-song ones
of librosa, the reference the analysis was built to match; block boundaries change nothing."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
soundfile = pytest.importorskip("soundfile")
pytest.importorskip("soxr")

from party_button.beats import features  # noqa: E402
from party_button.beats.analysis import analyze_song  # noqa: E402
from party_button.beats.tracking import estimate_tempo, track_beats  # noqa: E402
from party_button.errors import SongError  # noqa: E402
from party_button.testing.beats import (  # noqa: E402
    SONGS_DIR,
    TRUTH,
    BeatSong,
    f_measure,
    write_beat_song,
)

SONGS = [
    # tempo, channels, sample rate, format
    (90.0, 1, 22050, "wav"),
    (128.0, 2, 44100, "ogg"),
    (140.0, 2, 48000, "flac"),
    (100.0, 1, 8000, "wav"),
    (174.0, 2, 96000, "flac"),
    (120.0, 2, 44100, "mp3"),
]
SECONDS = 30.0


@pytest.fixture(scope="module", params=SONGS, ids=lambda s: f"{s[0]:g}bpm-{s[1]}ch-{s[2]}Hz.{s[3]}")
def generated(request, tmp_path_factory) -> tuple[Path, BeatSong]:
    tempo, channels, rate, suffix = request.param
    song = tmp_path_factory.mktemp("songs") / f"song.{suffix}"
    return song, write_beat_song(song, SECONDS, tempo, channels, rate)


def test_a_generated_song_gets_its_known_tempo_beats_and_downbeats(generated):
    song, truth = generated
    grid = analyze_song(song)
    assert grid.tempo_bpm == pytest.approx(truth.tempo_bpm, rel=0.005)
    assert f_measure(grid.beats, truth.beats) >= 0.95
    assert f_measure(grid.downbeats, truth.downbeats) >= 0.9


def test_the_spectra_do_not_depend_on_how_the_samples_arrive():
    rng = np.random.default_rng(3)
    samples = rng.standard_normal(50_000).astype(np.float32)
    whole = features.Spectrogram()
    at_once = np.concatenate([*whole.feed(samples), *whole.finish()], axis=1)
    pieces = features.Spectrogram()
    parts = [b for cut in np.array_split(samples, 37) for b in pieces.feed(cut)]
    in_pieces = np.concatenate([*parts, *pieces.finish()], axis=1)
    assert at_once.shape == (1 + features.N_FFT // 2, 1 + len(samples) // features.HOP_LENGTH)
    np.testing.assert_array_equal(in_pieces, at_once)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 96000])
def test_decoding_gives_the_resampled_length_in_bounded_blocks(tmp_path, rate):
    song = tmp_path / "long.flac"
    frames = 3 * features.READ_FRAMES + 123
    soundfile.write(song, np.zeros((frames, 2), np.float32), rate)
    with soundfile.SoundFile(song) as audio:
        blocks = list(features.mono_blocks(audio))
    assert sum(len(b) for b in blocks) == math.ceil(frames * features.SAMPLE_RATE / rate)
    # Each block is at most what one read gives, resampled (plus the resampler's delay).
    assert max(len(b) for b in blocks) <= features.READ_FRAMES * features.SAMPLE_RATE / rate + 1024


@pytest.mark.parametrize("suffix", ["wav", "flac", "ogg", "mp3"])
def test_decoding_in_blocks_gives_the_samples_of_decoding_whole(tmp_path, suffix):
    # libsndfile's MP3 decoder gave zeros at the start of each block read after another.
    song = tmp_path / f"song.{suffix}"
    write_beat_song(song, 10.0, 120.0, channels=2, samplerate=features.SAMPLE_RATE)
    whole = soundfile.read(song, dtype="float32", always_2d=True)[0].mean(axis=1)
    with soundfile.SoundFile(song) as audio:
        blocks = list(features.mono_blocks(audio))
    assert len(blocks) > 3
    np.testing.assert_allclose(np.concatenate(blocks), whole, rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def librosa():
    return pytest.importorskip("librosa")


@pytest.mark.parametrize("demo", [s["file"] for s in TRUTH])
def test_the_features_and_beats_equal_librosas_whole_song_ones(librosa, demo):
    """What the analysis did with librosa before, on the whole song at once: the same onset
    envelope, tempo and beat frames, and the chroma of ``chroma_stft`` at A440."""
    song = SONGS_DIR / demo
    samples, rate = soundfile.read(song, dtype="float32", always_2d=True)
    y = librosa.resample(samples.mean(axis=1), orig_sr=rate, target_sr=features.SAMPLE_RATE)
    power = np.abs(librosa.stft(y, hop_length=features.HOP_LENGTH)) ** 2
    mel = librosa.feature.melspectrogram(S=power, sr=features.SAMPLE_RATE)
    onsets = librosa.onset.onset_strength(
        S=librosa.power_to_db(mel, ref=np.max), sr=features.SAMPLE_RATE
    )
    tempo, frames = librosa.beat.beat_track(
        onset_envelope=onsets, sr=features.SAMPLE_RATE, hop_length=features.HOP_LENGTH
    )
    chroma = librosa.feature.chroma_stft(S=power, sr=features.SAMPLE_RATE, tuning=0.0)

    with soundfile.SoundFile(song) as audio:
        loudest = features.loudest_mel_power(features.power_blocks(audio))
        streamed = features.song_features(features.power_blocks(audio), loudest)
    np.testing.assert_allclose(streamed.onsets, onsets, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(streamed.chroma, chroma, rtol=1e-4, atol=1e-5)
    low = librosa.mel_frequencies(n_mels=mel.shape[0], fmax=features.SAMPLE_RATE / 2) < 150
    np.testing.assert_allclose(streamed.low, mel[low].sum(axis=0), rtol=1e-4)
    assert estimate_tempo(streamed.onsets) == pytest.approx(float(np.squeeze(tempo)))
    np.testing.assert_array_equal(track_beats(streamed.onsets, float(np.squeeze(tempo))), frames)


SHOW_BLAS_THREADS = """
import ctypes
import party_button.beats.analysis
import numpy
names = [m for m in open("/proc/self/maps").read().split() if "openblas" in m and ".so" in m]
getters = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
           "openblas_get_num_threads")
library = ctypes.CDLL(names[0]) if names else None
found = [getattr(library, g) for g in getters if library is not None and hasattr(library, g)]
print(found[0]() if found else "unknown")
"""


def test_the_analysis_keeps_numpy_to_one_thread():
    # OpenBLAS's threads spin while they wait for a core: on a busy machine a song's analysis
    # took five times as long with them, and the analysis is to yield to the party.
    environment = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    shown = subprocess.run(
        [sys.executable, "-c", SHOW_BLAS_THREADS],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.strip()
    if shown == "unknown":
        pytest.skip("this numpy is not built with OpenBLAS")
    assert shown == "1"


def test_a_song_longer_than_twenty_minutes_is_refused(tmp_path):
    song = tmp_path / "long.wav"
    soundfile.write(song, np.zeros(21 * 60 * 8000, np.int16), 8000)
    with pytest.raises(SongError, match="21 minutes long, over the 20 minutes that are analysed"):
        analyze_song(song)

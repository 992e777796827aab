"""The shipped demo songs and sounds: present, small, playable, and made by their script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")

SONGS_DIR = Path(__file__).resolve().parents[2] / "songs"
GENERATOR = SONGS_DIR / "make_demo_songs.py"
TRUTH = json.loads((SONGS_DIR / "demo-songs.json").read_text())
SHIPPED = [s["file"] for s in TRUTH["songs"]] + [s["file"] for s in TRUTH["sounds"]]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    """A fresh run of the generator in an empty folder."""
    out = tmp_path_factory.mktemp("regenerated")
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(out)], check=True, timeout=300)
    return out


def test_at_least_three_songs_at_different_tempos_plus_siren_and_fallback():
    tempos = {s["tempo_bpm"] for s in TRUTH["songs"]}
    assert len(TRUTH["songs"]) >= 3
    assert len(tempos) == len(TRUTH["songs"])
    assert {s["file"] for s in TRUTH["sounds"]} == {"intro/siren.ogg", "intro/fallback.ogg"}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_file_is_small_ogg_vorbis_of_recorded_duration(name):
    path = SONGS_DIR / name
    assert path.stat().st_size < 1_000_000
    info = sf.info(path)
    assert (info.format, info.subtype) == ("OGG", "VORBIS")
    record = next(r for r in TRUTH["songs"] + TRUTH["sounds"] if r["file"] == name)
    assert info.samplerate == TRUTH["sample_rate"]
    assert info.frames / info.samplerate == pytest.approx(record["duration_s"], abs=1e-3)
    samples, _ = sf.read(path)
    assert np.max(np.abs(samples)) > 0.3, "the file decodes to (near) silence"


@pytest.mark.parametrize("song", TRUTH["songs"], ids=lambda s: s["file"])
def test_ground_truth_is_a_steady_four_four_grid(song):
    beats = np.array(song["beats"])
    assert song["time_signature"] == "4/4"
    assert beats[0] == song["first_beat_s"]
    np.testing.assert_allclose(np.diff(beats), 60 / song["tempo_bpm"], atol=1e-5)
    assert song["downbeats"] == song["beats"][::4]
    assert beats[-1] < song["duration_s"]
    assert 20 <= song["duration_s"] <= 30


def test_generator_reproduces_the_recorded_ground_truth(regenerated):
    assert json.loads((regenerated / "demo-songs.json").read_text()) == TRUTH


@pytest.mark.parametrize("name", SHIPPED)
def test_generator_reproduces_the_shipped_audio(regenerated, name):
    shipped, _ = sf.read(SONGS_DIR / name)
    fresh, _ = sf.read(regenerated / name)
    assert shipped.shape == fresh.shape
    # Lossy encoding may differ slightly between libvorbis builds; the music may not.
    residual = np.sqrt(np.mean((shipped - fresh) ** 2)) / np.sqrt(np.mean(shipped**2))
    assert residual < 0.05

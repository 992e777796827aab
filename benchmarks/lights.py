"""How closely the relays hit the beat, and what the light show costs in CPU.

Run from the repository root: ``python -m benchmarks.lights [--json] [--seconds 60]``.

A demo song of the requested length is rendered with its known beat grid (the same
generator as the shipped songs), played through the real pygame mixer (SDL's dummy
driver unless SDL_AUDIODRIVER is set) by the real daemon on mock pins, with the shipped
``party`` show. Every switch-on of the ``lights`` relay (a flash on each beat) is compared
with the beat's time on the mixer's clock. The show's CPU is the daemon thread's CPU with
the show minus the same song with an empty show.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame
import yaml

from party_button.beats.grid import BeatGrid, SongStamp, save_grid
from party_button.config.location import SHIPPED_CONFIG
from party_button.config.schema import load_config
from party_button.phase import Phase
from party_button.testing import RelayMockFactory, running_daemon, wait_for

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"beat_error_ms p99": 5.0, "cpu_percent": 5.0}


def _generator():
    spec = importlib.util.spec_from_file_location(
        "make_demo_songs", ROOT / "songs/make_demo_songs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_demo_songs"] = module
    spec.loader.exec_module(module)
    return module


def make_song(folder: Path, seconds: float) -> tuple[Path, BeatGrid]:
    """A 120 BPM demo song about ``seconds`` long, with its exact beat grid beside it."""
    generator = _generator()
    base = next(s for s in generator.SONGS if s.tempo_bpm == 120.0)
    bars = max(2, round(seconds * base.tempo_bpm / 60 / generator.BEATS_PER_BAR))
    spec = dataclasses.replace(base, bars=bars, file="bench.ogg")
    samples, truth = generator.render_song(spec)
    song = folder / "songs" / "bench.ogg"
    song.parent.mkdir()
    generator.write_ogg(song, samples)
    grid = BeatGrid(
        tempo_bpm=spec.tempo_bpm,
        beats=tuple(truth["beats"]),
        downbeats=tuple(truth["downbeats"]),
        beats_per_bar=generator.BEATS_PER_BAR,
        stamp=SongStamp.of(song),
        analyzer="known grid of the generated song",
    )
    save_grid(song, grid)
    return song, grid


def make_config(folder: Path, empty_show: bool) -> Path:
    """The shipped config on mock pins, playing ``folder/songs`` with no intro."""
    data = yaml.safe_load(SHIPPED_CONFIG.read_text())
    data["gpio"]["pin_factory"] = "mock"
    data["songs"]["folders"] = [str(folder / "songs")]
    data["party"].update(intro_sound=None, fallback_sound=None, cooldown=0.0)
    if empty_show:
        data["shows"]["party"] = {"steps": []}
    path = folder / ("empty.yaml" if empty_show else "show.yaml")
    path.write_text(yaml.safe_dump(data))
    return path


def thread_cpu_seconds(native_id: int) -> float:
    """User plus system CPU time of one thread of this process."""
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def play(config_path: Path) -> dict:
    """Play the song once; returns the relay's on-times, clock samples and the loop's CPU."""
    config = load_config(config_path)
    factory = RelayMockFactory(tuple(relay.pin for relay in config.relays))
    lights = factory.pin(config.relay("lights").pin)
    samples: list[tuple[float, float]] = []

    def sample(_snapshot: object) -> None:
        # Called by the daemon's own thread after every step: pygame's mixer is only ever
        # touched from that thread (loading the next song while another thread reads the
        # position can crash SDL_mixer).
        position = pygame.mixer.music.get_pos()
        if daemon.machine.phase is Phase.PARTY and position > 0:
            samples.append((time.monotonic(), position / 1000))

    with running_daemon(config, factory) as daemon:
        loop = next(t for t in threading.enumerate() if t.name == "daemon-under-test")
        lights.clear_states()
        base = lights._last_change
        cpu_before = thread_cpu_seconds(loop.native_id)
        started = time.monotonic()
        daemon.board.on_change = sample
        factory.pin(config.button.pin).drive_low()
        wait_for(lambda: daemon.machine.phase is Phase.PARTY)
        factory.pin(config.button.pin).drive_high()
        while daemon.machine.phase is Phase.PARTY:
            time.sleep(0.05)
        song_ended = time.monotonic()
        elapsed = time.monotonic() - started
        cpu = thread_cpu_seconds(loop.native_id) - cpu_before
    changes, at = [], base
    for state in lights.states[1:]:
        at += state.timestamp
        changes.append((at, state.state))
    on_level = 1 if config.relay("lights").active_high else 0
    return {
        "on_times": [t for t, level in changes if level == on_level and t < song_ended],
        "samples": samples,
        "cpu_percent": cpu / elapsed * 100,
        "seconds": elapsed,
    }


def beat_errors(on_times: list[float], samples: list[tuple[float, float]], beats: tuple) -> list:
    """Each switch-on's distance (ms) from its beat, on the mixer's clock at that moment.

    The mixer's clock drifts against the wall clock (the shows follow the mixer, as they
    must), so each switch is placed on the mixer clock read around it (within a second).
    """
    half_beat = (beats[1] - beats[0]) / 2
    errors = []
    for on in on_times:
        near = [wall - position for wall, position in samples if abs(wall - on) < 1.0]
        position = on - statistics.median(near)
        if not beats[0] - half_beat <= position <= beats[-1] + half_beat:
            continue  # the ending show's blinks after the last beat
        nearest = min(beats, key=lambda beat: abs(beat - position))
        errors.append((position - nearest) * 1000)
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=60.0, help="song length (default 60)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        _song, grid = make_song(folder, args.seconds)
        with_show = play(make_config(folder, empty_show=False))
        without = play(make_config(folder, empty_show=True))
    errors = beat_errors(with_show["on_times"], with_show["samples"], grid.beats)
    magnitudes = sorted(abs(e) for e in errors)
    p99 = magnitudes[min(len(magnitudes) - 1, round(0.99 * (len(magnitudes) - 1)))]
    result = {
        "beat_error_ms": {
            "median": statistics.median(magnitudes),
            "p99": p99,
            "signed_median": statistics.median(errors),
            "flashes": len(errors),
            "beats": len(grid.beats),
        },
        "cpu_percent": max(0.0, with_show["cpu_percent"] - without["cpu_percent"]),
        "loop_cpu_percent": with_show["cpu_percent"],
        "loop_cpu_percent_empty_show": without["cpu_percent"],
        "song_seconds": with_show["seconds"],
        "audio_driver": os.environ["SDL_AUDIODRIVER"],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    beat = result["beat_error_ms"]
    rows = [
        ("flashes / beats", f"{beat['flashes']} / {beat['beats']}", ""),
        ("beat error, median (ms)", f"{beat['median']:.2f}", ""),
        ("beat error, p99 (ms)", f"{beat['p99']:.2f}", "< 5"),
        ("beat error, signed median (ms)", f"{beat['signed_median']:+.2f}", ""),
        ("show CPU (% of one core)", f"{result['cpu_percent']:.2f}", "< 5"),
        ("loop CPU with show (%)", f"{result['loop_cpu_percent']:.2f}", ""),
        ("loop CPU, empty show (%)", f"{result['loop_cpu_percent_empty_show']:.2f}", ""),
    ]
    print(f"{'measure':32} {'value':>12} {'target':>7}")
    for name, value, target in rows:
        print(f"{name:32} {value:>12} {target:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

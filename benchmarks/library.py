"""The songs library at scale: start-up, presses, main-loop stalls, picks and memory for
generated libraries of 100, 2,000 and 20,000 songs.

Run from the repository root: ``python -m benchmarks.library [--json]``. Each library is
made of tiny Ogg Vorbis songs (2 s tones, 100 to a folder), each with a beat grid, in a
temporary folder. For each size it measures:

- ``ready_s``: ``party-button run`` started as a process until it tells its notify socket
  ``READY=1``;
- ``rss_mb``: that process's peak resident memory once its scan is over and it has partied;
- ``press_to_playing_ms``: a button press (mock pins) until the new song plays in the mixer,
  for presses when idle and presses during a party (``on_press: next``);
- ``loop_stall_ms``: how late the main loop handled an event put on its queue every 5 ms,
  from start-up (during the scan) through every press: the longest time it was busy;
- ``pick_ms``: how long the library's thread takes to check a pick (open the file, read its
  header, load and hash its beat grid).

It prints a table, or one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame
import yaml

from benchmarks.latency import IDLE_GAP_SECONDS, PRESS_SECONDS, bench_config, percentile, summary
from party_button.beats.grid import BeatGrid, SongStamp, grid_document, grid_path
from party_button.config.schema import load_config
from party_button.control.client import send_command
from party_button.daemon.daemon import Daemon
from party_button.daemon.events import Probe, Request
from party_button.daemon.party import Input
from party_button.media.picker import SongPicker
from party_button.phase import Phase
from party_button.testing import RelayMockFactory, running_daemon, tiny_library, wait_for

SIZES = (100, 2_000, 20_000)
PROBE_SECONDS = 0.005
PARTY_GAP_SECONDS = 0.1  # between presses during a party
TARGETS = {  # at 20,000 songs
    "ready_s": 1.0,
    "press_to_playing_ms p99": 30.0,
    "loop_stall_ms max": 20.0,
    "rss_mb": 120.0,
}
MAX_RATIO = 2.0  # each figure at 20,000 songs against the same at 100


def make_library(folder: Path, size: int) -> Path:
    """``size`` tiny songs with beat grids under ``folder``/songs and a config playing them."""
    songs = folder / "songs"
    tiny_library(songs, size, per_folder=100, seconds=2.0)
    first = next(songs.glob("album0000/*.ogg"))
    grid = BeatGrid(120.0, (0.5, 1.0, 1.5), (0.5,), 4, SongStamp.of(first), analyzer="bench")
    document = json.dumps(grid_document(first, grid))
    for song in songs.glob("album*/*.ogg"):
        grid_path(song).write_text(document)
    config = bench_config(folder)
    data = yaml.safe_load(config.read_text())
    data["songs"]["folders"] = [str(songs)]
    config.write_text(yaml.safe_dump(data))
    return config


@contextmanager
def timed(
    owner: type, name: str, record: Callable[[float, tuple[Any, ...]], None]
) -> Iterator[None]:
    """Wrap ``owner.name`` so that ``record(seconds, args)`` hears how long each call took."""
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            record(time.perf_counter() - started, args)

    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, original)


def measure_loop(config_path: Path, presses: int) -> dict[str, Any]:
    """Presses when idle and during a party, the loop's lateness, and the picks' cost."""
    config = load_config(config_path)
    factory = RelayMockFactory(tuple(relay.pin for relay in config.relays))
    button = factory.pin(config.button.pin)
    stalls: list[float] = []
    picks: list[float] = []
    idle: list[float] = []
    party: list[float] = []
    probing = threading.Event()

    def handled(_seconds: float, args: tuple[Any, ...]) -> None:
        event = args[1]
        if isinstance(event, Probe):
            stalls.append((time.monotonic() - event.sent_at) * 1000)

    def probe(daemon: Daemon) -> None:
        while not probing.wait(PROBE_SECONDS):
            daemon.events.put(Probe(time.monotonic()))

    def press_until_new_song(daemon: Daemon) -> float:
        before = daemon.playing
        pressed = time.monotonic()
        button.drive_low()
        wait_for(lambda: daemon.playing not in (None, before) and pygame.mixer.music.get_pos() > 0)
        took = (time.monotonic() - pressed) * 1000
        time.sleep(PRESS_SECONDS)
        button.drive_high()
        return took

    with (
        timed(Daemon, "handle", handled),
        timed(SongPicker, "_check", lambda seconds, _args: picks.append(seconds * 1000)),
        running_daemon(config, factory, scanned=False) as daemon,
    ):
        prober = threading.Thread(target=probe, args=(daemon,))
        prober.start()
        try:
            wait_for(lambda: daemon.library.complete, timeout=120)
            for _ in range(presses):
                wait_for(lambda: daemon.machine.phase is Phase.IDLE and not daemon.preparing)
                time.sleep(IDLE_GAP_SECONDS)
                idle.append(press_until_new_song(daemon))
                daemon.events.put(Request(Input.STOP))
            wait_for(lambda: daemon.machine.phase is Phase.IDLE and not daemon.preparing)
            time.sleep(IDLE_GAP_SECONDS)
            press_until_new_song(daemon)  # the party starts
            for _ in range(presses):
                time.sleep(PARTY_GAP_SECONDS)
                party.append(press_until_new_song(daemon))
            daemon.events.put(Request(Input.STOP))
        finally:
            probing.set()
            prober.join()
    return {
        "press_to_playing_ms": {"idle": summary(idle), "party": summary(party)},
        "loop_stall_ms": {"p99": percentile(stalls, 0.99), "max": max(stalls)},
        "pick_ms": {"median": statistics.median(picks)},
        "probes": len(stalls),
        "picks": len(picks),
    }


def measure_process(config_path: Path, folder: Path, presses: int = 5) -> dict[str, float]:
    """Start ``party-button run``: seconds to ``READY=1``, then peak memory once it has
    scanned and partied."""
    notify_path, control = folder / "notify", folder / "control.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    ready_at: list[float] = []

    def listen() -> None:  # as systemd does, read every message: a full queue blocks sd_notify
        while True:
            try:
                message = notify.recv(4096).decode()
            except OSError:
                return
            if "READY=1" in message and not ready_at:
                ready_at.append(time.monotonic())

    threading.Thread(target=listen, daemon=True).start()
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "party_button", "run", "--config", str(config_path)]
    started = time.monotonic()
    proc = subprocess.Popen(
        [*command, "--socket", str(control)], stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stderr is not None
    try:
        wait_for(lambda: ready_at, timeout=60)
        ready = ready_at[0] - started
        for line in proc.stderr:
            if " clips in " in line:  # the first pass over the folders is over
                break
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        for _ in range(presses):
            send_command(control, "press")
            time.sleep(0.3)
            send_command(control, "stop")
            time.sleep(0.3)
        status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        peak_kb = int(next(line for line in status if line.startswith("VmHWM")).split()[1])
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        notify.shutdown(socket.SHUT_RDWR)
        notify.close()
    return {"ready_s": ready, "rss_mb": peak_kb / 1024}


def measure(size: int, presses: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="party-button-library-") as name:
        folder = Path(name)
        config_path = make_library(folder, size)
        return {**measure_process(config_path, folder), **measure_loop(config_path, presses)}


def figures(result: dict[str, Any]) -> dict[str, float]:
    """The compared figures of one size, flat."""
    return {
        "ready_s": result["ready_s"],
        "press_to_playing_ms idle median": result["press_to_playing_ms"]["idle"]["median"],
        "press_to_playing_ms idle p99": result["press_to_playing_ms"]["idle"]["p99"],
        "press_to_playing_ms party median": result["press_to_playing_ms"]["party"]["median"],
        "press_to_playing_ms party p99": result["press_to_playing_ms"]["party"]["p99"],
        "loop_stall_ms p99": result["loop_stall_ms"]["p99"],
        "loop_stall_ms max": result["loop_stall_ms"]["max"],
        "pick_ms median": result["pick_ms"]["median"],
        "rss_mb": result["rss_mb"],
    }


def target_of(name: str) -> float | None:
    if name.startswith("press_to_playing_ms") and name.endswith("p99"):
        return TARGETS["press_to_playing_ms p99"]
    return TARGETS.get(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--presses", type=int, default=50, help="presses of each kind per size")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args()
    results = {str(size): measure(size, args.presses) for size in args.sizes}
    smallest, biggest = results[str(min(args.sizes))], results[str(max(args.sizes))]
    ratios = {
        name: value / figures(smallest)[name] if figures(smallest)[name] else float("inf")
        for name, value in figures(biggest).items()
    }
    if args.json:
        output = {"sizes": results, "ratio_biggest_to_smallest": ratios}
        output["audio_driver"] = os.environ["SDL_AUDIODRIVER"]
        print(json.dumps(output, indent=2))
        return 0
    print_table(args.sizes, results, ratios)
    return 0


def print_table(sizes: list[int], results: dict[str, Any], ratios: dict[str, float]) -> None:
    """One row per figure: its value at each size, the ratio, and the targets met."""
    names = list(figures(results[str(sizes[0])]))
    width = max(len(name) for name in names)
    head = "".join(f"{size:>10,}" for size in sizes)
    print(f"{'measure':{width}}{head}  ratio  target (at {max(sizes):,})  ok")
    for name in names:
        values = "".join(f"{figures(results[str(size)])[name]:10.2f}" for size in sizes)
        target = target_of(name)
        biggest = figures(results[str(max(sizes))])[name]
        met = ratios[name] <= MAX_RATIO and (target is None or biggest < target)
        shown = "" if target is None else f"< {target:g}"
        print(f"{name:{width}}{values}  {ratios[name]:5.2f}  {shown:>17}  {'yes' if met else 'NO'}")


if __name__ == "__main__":
    sys.exit(main())

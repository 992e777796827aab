"""Press-to-relay and press-to-sound latency, idle CPU, memory and start-up time.

Run from the repository root: ``python -m benchmarks.latency [--json]``. It uses mock
pins and the real pygame mixer (SDL's dummy driver unless SDL_AUDIODRIVER is set), and
prints a table, or one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame
import yaml

from party_button.config.location import SHIPPED_CONFIG
from party_button.config.schema import load_config
from party_button.daemon.events import Request
from party_button.daemon.party import Input
from party_button.phase import Phase
from party_button.testing import RelayMockFactory, running_daemon, wait_for

PRESS_SECONDS = 0.08  # how long a finger keeps the button down
# Between parties: longer than any relay's minimum switching interval (the shipped cooldown
# is 3 s; the benchmark turns it off), so that the relay guards do not hold a switch back.
IDLE_GAP_SECONDS = 0.3
TARGETS = {
    "press_to_relay_ms p99": 2.0,
    "press_to_playing_ms p99": 30.0,
    "idle_cpu_percent": 0.5,
    "rss_mb": 80.0,
    "ready_s": 1.5,
    "sigterm_to_exit_s": 2.0,
}


def bench_config(folder: Path) -> Path:
    """The shipped config on mock pins, with no intro so a press starts the song."""
    data = yaml.safe_load(SHIPPED_CONFIG.read_text())
    base = SHIPPED_CONFIG.parent
    data["gpio"]["pin_factory"] = "mock"
    data["songs"]["folders"] = [str((base / f).resolve()) for f in data["songs"]["folders"]]
    data["party"]["fallback_sound"] = str((base / data["party"]["fallback_sound"]).resolve())
    data["party"]["intro_sound"] = None
    data["party"]["cooldown"] = 0.0
    data["audio"]["fade_out"] = 0.0
    data["shows"]["ending"] = {"duration": 0, "steps": []}  # the next press comes sooner
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "p99": percentile(values, 0.99)}


def measure_presses(config_path: Path, presses: int) -> tuple[list[float], list[float]]:
    """Press ``presses`` times; returns press-to-relay and press-to-playing in ms.

    Press to relay is the first relay that switches, whichever the show switches first.
    """
    config = load_config(config_path)
    factory = RelayMockFactory(tuple(relay.pin for relay in config.relays))
    relays = [factory.pin(relay.pin) for relay in config.relays]
    button = factory.pin(config.button.pin)
    to_relay, to_playing = [], []

    def first_switch(since: dict) -> float | None:
        changed = [pin._last_change for pin in relays if pin._last_change != since[pin]]
        return min(changed) if changed else None

    with running_daemon(config, factory) as daemon:
        for _ in range(presses):
            wait_for(lambda: daemon.machine.phase is Phase.IDLE and daemon.player.prepared)
            time.sleep(IDLE_GAP_SECONDS)
            before = {pin: pin._last_change for pin in relays}
            pressed = time.monotonic()
            button.drive_low()
            wait_for(lambda before=before: first_switch(before) is not None)
            to_relay.append((first_switch(before) - pressed) * 1000)
            wait_for(lambda: pygame.mixer.music.get_pos() > 0)
            to_playing.append((time.monotonic() - pressed) * 1000)
            time.sleep(PRESS_SECONDS)
            button.drive_high()
            daemon.events.put(Request(Input.STOP))
    return to_relay, to_playing


def measure_process(config_path: Path, idle_seconds: float) -> dict[str, float]:
    """Start ``party-button run``; measure ready time, idle CPU, resident memory, and how long
    it takes to stop on ``SIGTERM``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "party_button", "run", "--config", str(config_path)],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if " songs in " in line:
            break
    ready = time.monotonic() - started
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    time.sleep(1.0)
    cpu = idle_cpu_percent(proc.pid, idle_seconds)
    rss = rss_mb(proc.pid)
    stopping = time.monotonic()
    proc.terminate()
    proc.wait(timeout=10)
    stop = time.monotonic() - stopping
    return {"ready_s": ready, "idle_cpu_percent": cpu, "rss_mb": rss, "sigterm_to_exit_s": stop}


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu_percent(pid: int, seconds: float) -> float:
    """The share of one core process ``pid`` uses over the next ``seconds``."""
    cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - cpu_before) / (time.monotonic() - wall_before) * 100


def rss_mb(pid: int) -> float:
    """The resident memory of process ``pid`` (MB)."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])
    return rss_kb / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config_path = bench_config(Path(folder))
        to_relay, to_playing = measure_presses(config_path, args.presses)
        process = measure_process(config_path, args.idle_seconds)
    result = {
        "press_to_relay_ms": summary(to_relay),
        "press_to_playing_ms": summary(to_playing),
        **process,
        "presses": args.presses,
        "audio_driver": os.environ["SDL_AUDIODRIVER"],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    rows = [
        ("press to relay, median (ms)", result["press_to_relay_ms"]["median"], None),
        (
            "press to relay, p99 (ms)",
            result["press_to_relay_ms"]["p99"],
            TARGETS["press_to_relay_ms p99"],
        ),
        ("press to playing, median (ms)", result["press_to_playing_ms"]["median"], None),
        (
            "press to playing, p99 (ms)",
            result["press_to_playing_ms"]["p99"],
            TARGETS["press_to_playing_ms p99"],
        ),
        ("idle CPU (% of one core)", result["idle_cpu_percent"], TARGETS["idle_cpu_percent"]),
        ("resident memory (MB)", result["rss_mb"], TARGETS["rss_mb"]),
        ("start-up to ready (s)", result["ready_s"], TARGETS["ready_s"]),
        ("SIGTERM to exit (s)", result["sigterm_to_exit_s"], TARGETS["sigterm_to_exit_s"]),
    ]
    print_table(rows)
    return 0


def print_table(rows: list[tuple[str, float, float | None]]) -> None:
    """Print ``(measure, value, target or None)`` rows, saying whether each target is met."""
    width = max(len(name) for name, _value, _target in rows)
    print(f"{'measure':{width}} {'value':>9} {'target':>9}  ok")
    for name, value, target in rows:
        verdict = "" if target is None else ("yes" if value < target else "NO")
        shown = "" if target is None else f"< {target:g}"
        print(f"{name:{width}} {value:9.3f} {shown:>9}  {verdict}")


if __name__ == "__main__":
    sys.exit(main())

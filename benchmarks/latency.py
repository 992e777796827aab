"""Press-to-relay, press-to-playing and press-to-audible latency, idle CPU, memory, start-up.

Run from the repository root: ``python -m benchmarks.latency [--json]``. It uses mock
pins and the real pygame mixer (SDL's dummy driver unless SDL_AUDIODRIVER is set), and
prints a table, or one JSON object with ``--json``.

- ``press_to_playing_ms``: until the mixer has started the song (not yet heard).
- ``press_to_audible_ms``, per ``buffer_size``: until the song's first sound is played by a
  clocked output, a PulseAudio null sink the benchmark starts itself
  (:mod:`party_button.testing.null_sink`), the mixer on SDL's ``pulseaudio`` driver. The sink's
  monitor is recorded and dated with the server's latency figures; the song is a tone that
  sounds from its first frame. ``underruns`` counts the gaps heard while it plays; with
  ``--hogs N``, N busy loops keep the machine busy meanwhile.
- ``rss_mb``: ``party-button run``'s resident memory once its scan is over, with the shipped
  demo songs (3) and with a generated library of 20,000 songs.
- ``idle_cpu_percent``: that process's share of one core, idle; ``idle_cpu_by_thread``: the
  same for each thread of a daemon run in this process.

Everything runs at the daemon unit's priority (its ``Nice=``, :func:`unit_nice`), as the
installed daemon does; ``--nice`` sets another (a priority above the default needs root).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame
import yaml

from party_button.beats.grid import BeatGrid, SongStamp, grid_document, grid_path
from party_button.config.location import SHIPPED_CONFIG
from party_button.config.schema import load_config
from party_button.daemon.events import Request
from party_button.daemon.party import Input
from party_button.phase import Phase
from party_button.testing import RelayMockFactory, running_daemon, wait_for, write_tone
from party_button.testing.null_sink import NullSink

PRESS_SECONDS = 0.08  # how long a finger keeps the button down
# Between parties: longer than any relay's minimum switching interval (the shipped cooldown
# is 3 s; the benchmark turns it off), so that the relay guards do not hold a switch back.
IDLE_GAP_SECONDS = 0.3
BUFFER_SIZES = (1024, 512, 256)
SHIPPED_BUFFER_SIZE = yaml.safe_load(SHIPPED_CONFIG.read_text())["audio"]["buffer_size"]
AUDIBLE_SONG_SECONDS = 30.0  # longer than it is played: the song never ends by itself
LISTEN_SECONDS = 1.0  # how long each press's song is listened to for gaps
LARGE_LIBRARY = 20_000
UNIT = Path(__file__).resolve().parent.parent / "systemd" / "party-button.service"
TARGETS = {
    "press_to_relay_ms p99": 2.0,
    "press_to_playing_ms p99": 30.0,
    "press_to_audible_ms p99": 25.0,  # at the shipped buffer size
    "idle_cpu_percent": 0.2,
    "rss_mb": 50.0,
    f"rss_mb at {LARGE_LIBRARY} songs": 80.0,
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


def unit_nice(unit: Path = UNIT) -> int:
    """The ``Nice=`` the daemon's unit runs it at (0 when it sets none)."""
    for line in unit.read_text().splitlines():
        if line.startswith("Nice="):
            return int(line.removeprefix("Nice="))
    return 0


def run_at_priority(nice: int) -> int:
    """Run this process (and the threads and processes it starts) at ``nice``; returns the
    priority it got: the one it had when it may not raise its own."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except PermissionError:
        print(f"note: not allowed to run at nice {nice}; measured as it is", file=sys.stderr)
    return os.getpriority(os.PRIO_PROCESS, 0)


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


def measure_audible(
    folder: Path, buffer_size: int, presses: int, hogs: int
) -> dict[str, dict[str, float] | int]:
    """Press to the song's first sound at a PulseAudio null sink, and the gaps heard after it."""
    song = write_tone(folder / f"audible-{buffer_size}" / "tone.wav", AUDIBLE_SONG_SECONDS)
    grid = BeatGrid(120.0, (0.5, 1.0), (0.5,), 4, SongStamp.of(song), analyzer="bench")
    grid_path(song).write_text(json.dumps(grid_document(song, grid)))  # no analysis meanwhile
    data = yaml.safe_load(bench_config(folder).read_text())
    data["songs"]["folders"] = [str(song.parent)]
    data["audio"]["buffer_size"] = buffer_size
    path = folder / f"audible-{buffer_size}.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    factory = RelayMockFactory(tuple(relay.pin for relay in config.relays))
    button = factory.pin(config.button.pin)
    to_audible, underruns = [], 0
    with (
        NullSink() as sink,
        sink.record() as recording,
        environment({**sink.environment, "SDL_AUDIODRIVER": "pulseaudio"}),
        busy_loops(hogs),
        running_daemon(config, factory) as daemon,
    ):
        for _ in range(presses):
            wait_for(lambda: daemon.machine.phase is Phase.IDLE and daemon.player.prepared)
            time.sleep(IDLE_GAP_SECONDS)
            pressed = time.monotonic()
            button.drive_low()
            heard = recording.wait_for_sound(pressed)
            to_audible.append((heard - pressed) * 1000)
            time.sleep(PRESS_SECONDS)
            button.drive_high()
            time.sleep(LISTEN_SECONDS)
            underruns += recording.gaps_between(heard, heard + LISTEN_SECONDS)
            daemon.events.put(Request(Input.STOP))
    return {"press_to_audible_ms": summary(to_audible), "underruns": underruns}


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set inside, as it was after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def busy_loops(count: int) -> Iterator[None]:
    """``count`` processes that each keep one core busy, ended on exit."""
    loops = [
        subprocess.Popen(
            ["sh", "-c", "while :; do :; done"],
            preexec_fn=lambda: os.setpriority(os.PRIO_PROCESS, 0, 0),  # as any program runs
        )
        for _ in range(count)
    ]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def measure_threads(config_path: Path, seconds: float) -> dict[str, float]:
    """Each thread's share of one core (%) over ``seconds`` of a daemon idle in this process."""
    config = load_config(config_path)
    factory = RelayMockFactory(tuple(relay.pin for relay in config.relays))
    with running_daemon(config, factory):
        time.sleep(1.0)
        before, started = thread_cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        after, elapsed = thread_cpu_seconds(), time.monotonic() - started
        names = {thread.native_id: thread.name for thread in threading.enumerate()}
    benchmark = threading.main_thread().native_id  # only waits
    return {
        f"{names.get(tid, name)} ({tid})": (used - before.get(tid, (name, 0.0))[1]) / elapsed * 100
        for tid, (name, used) in after.items()
        if tid != benchmark
    }


def thread_cpu_seconds(pid: int | None = None) -> dict[int, tuple[str, float]]:
    """Process ``pid``'s threads (this process's by default): id to (the kernel's name for it,
    CPU seconds used so far, as the scheduler counts them in nanoseconds)."""
    used = {}
    for task in Path(f"/proc/{pid or 'self'}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that has just ended
            name = (task / "comm").read_text().strip()
            nanoseconds = int((task / "schedstat").read_text().split()[0])
            used[int(task.name)] = (name, nanoseconds / 1e9)
    return used


def measure_process(config_path: Path, idle_seconds: float) -> dict[str, float]:
    """Start ``party-button run``; measure ready time, then (once the songs are scanned) idle
    CPU and resident memory, and how long it takes to stop on ``SIGTERM``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "party_button", "run", "--config", str(config_path)],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    ready, scanned = None, False
    for line in proc.stderr:  # the scan (in its thread) may end before the start is logged
        if " songs in " in line:  # looking for songs in ...
            ready = time.monotonic() - started
        scanned |= " clips in " in line  # N songs and M clips in ...
        if ready is not None and scanned:
            break
    assert ready is not None and scanned, "the daemon stopped before it had scanned its songs"
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    time.sleep(1.0)
    cpu = idle_cpu_percent(proc.pid, idle_seconds)
    rss = rss_mb(proc.pid)
    stopping = time.monotonic()
    proc.terminate()
    proc.wait(timeout=10)
    stop = time.monotonic() - stopping
    return {"ready_s": ready, "idle_cpu_percent": cpu, "rss_mb": rss, "sigterm_to_exit_s": stop}


def large_library_rss_mb(folder: Path, idle_seconds: float) -> float:
    """``party-button run``'s resident memory with :data:`LARGE_LIBRARY` songs, scanned."""
    from benchmarks.library import make_library  # it imports this module

    return measure_process(make_library(folder, LARGE_LIBRARY), idle_seconds)["rss_mb"]


def cpu_seconds(pid: int) -> float:
    """CPU time process ``pid``'s threads have used so far."""
    return sum(used for _name, used in thread_cpu_seconds(pid).values())


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
    parser.add_argument("--audible-presses", type=int, default=30)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--hogs", type=int, default=0, help="busy loops while audible is measured")
    parser.add_argument(
        "--sizes",
        type=lambda text: tuple(int(size) for size in text.split(",")),
        default=BUFFER_SIZES,
        help="buffer sizes whose press to audible is measured (default: 1024,512,256)",
    )
    parser.add_argument(
        "--nice", type=int, default=unit_nice(), help="priority (default: the daemon unit's)"
    )
    args = parser.parse_args()
    nice = run_at_priority(args.nice)
    with tempfile.TemporaryDirectory() as folder:
        config_path = bench_config(Path(folder))
        to_relay, to_playing = measure_presses(config_path, args.presses)
        threads = measure_threads(config_path, args.idle_seconds)
        audible = {
            size: measure_audible(Path(folder), size, args.audible_presses, args.hogs)
            for size in args.sizes
        }
        process = measure_process(config_path, args.idle_seconds)
        large_rss = large_library_rss_mb(Path(folder), min(args.idle_seconds, 5.0))
    result = {
        "press_to_relay_ms": summary(to_relay),
        "press_to_playing_ms": summary(to_playing),
        "press_to_audible_ms": {str(n): a["press_to_audible_ms"] for n, a in audible.items()},
        "underruns": {str(n): a["underruns"] for n, a in audible.items()},
        **process,
        "rss_mb": {"3": process["rss_mb"], str(LARGE_LIBRARY): large_rss},
        "idle_cpu_by_thread": threads,
        "presses": args.presses,
        "audible_presses": args.audible_presses,
        "hogs": args.hogs,
        "nice": nice,
        "audio_driver": os.environ["SDL_AUDIODRIVER"],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    shipped = str(SHIPPED_BUFFER_SIZE)
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
    ]
    for size in args.sizes:
        figures = result["press_to_audible_ms"][str(size)]
        target = TARGETS["press_to_audible_ms p99"] if str(size) == shipped else None
        rows += [
            (f"press to audible at {size}, median (ms)", figures["median"], None),
            (f"press to audible at {size}, p99 (ms)", figures["p99"], target),
            (f"underruns at {size} ({args.hogs} busy loops)", result["underruns"][str(size)], None),
        ]
    rows += [
        ("idle CPU (% of one core)", result["idle_cpu_percent"], TARGETS["idle_cpu_percent"]),
        *((f"  thread {name}", share, None) for name, share in threads.items()),
        ("resident memory, 3 songs (MB)", result["rss_mb"]["3"], TARGETS["rss_mb"]),
        (
            f"resident memory, {LARGE_LIBRARY} songs (MB)",
            large_rss,
            TARGETS[f"rss_mb at {LARGE_LIBRARY} songs"],
        ),
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

"""Press-to-clip latency, and the CPU that the waiting mpv uses between parties.

Run from the repository root: ``python -m benchmarks.clip_latency [--json]``. It runs the
real daemon on mock pins with the real mpv (null video and audio outputs unless
``--mpv-option`` says otherwise) on a clip it makes with PyAV, and prints a table, or one
JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml
from gpiozero.pins.mock import MockFactory, MockPWMPin

from benchmarks.latency import print_table, summary
from party_button.config.schema import load_config
from party_button.daemon.events import Request
from party_button.daemon.party import Input
from party_button.phase import Phase
from party_button.testing import MOCK_CONFIG, running_daemon, wait_for, write_clip

TARGETS = {"press_to_clip_ms median": 150.0, "mpv_idle_cpu_percent": 0.5}


def bench_config(folder: Path, options: list[str]) -> Path:
    """Mock pins, one 720p clip in the library, clips always chosen."""
    write_clip(folder / "songs" / "bench.mp4", 2.0, size=(1280, 720), fps=25)
    data = {
        **MOCK_CONFIG,
        "party": {"cooldown": 0.0},
        "audio": {"fade_out": 0.0},
        "clips": {"chance": 1.0, "mpv_options": options},
    }
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def cpu_percent(pid: int, seconds: float) -> float:
    """CPU time used by process ``pid`` over ``seconds``, in % of one core."""
    ticks = os.sysconf("SC_CLK_TCK")

    def used() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    before, started = used(), time.monotonic()
    time.sleep(seconds)
    return (used() - before) / (time.monotonic() - started) * 100


def measure(config_path: Path, presses: int, idle_seconds: float) -> dict[str, object]:
    config = load_config(config_path)
    factory = MockFactory(pin_class=MockPWMPin)
    button = factory.pin(config.button.pin)
    to_clip = []
    with running_daemon(config, factory) as daemon:
        for _ in range(presses):
            wait_for(lambda: daemon.machine.phase is Phase.IDLE and daemon.player.prepared)
            time.sleep(0.05)
            pressed = time.monotonic()
            button.drive_low()
            wait_for(lambda: daemon.player.position() > 0.0)
            to_clip.append((time.monotonic() - pressed) * 1000)
            button.drive_high()
            time.sleep(0.03)
            daemon.events.put(Request(Input.STOP))
        wait_for(lambda: daemon.machine.phase is Phase.IDLE)
        time.sleep(1.0)  # let the last clip's teardown pass
        assert daemon.conductor.clips is not None and daemon.conductor.clips._process is not None
        idle_cpu = cpu_percent(daemon.conductor.clips._process.pid, idle_seconds)
    return {"press_to_clip_ms": summary(to_clip), "mpv_idle_cpu_percent": idle_cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--presses", type=int, default=30)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument(
        "--mpv-option",
        action="append",
        dest="options",
        help="an mpv option (repeatable; default: --vo=null --ao=null)",
    )
    args = parser.parse_args()
    options = args.options or ["--vo=null", "--ao=null"]
    with tempfile.TemporaryDirectory() as folder:
        result = measure(bench_config(Path(folder), options), args.presses, args.idle_seconds)
    result |= {"presses": args.presses, "mpv_options": options}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    latency = result["press_to_clip_ms"]
    idle_cpu = result["mpv_idle_cpu_percent"]
    assert isinstance(latency, dict) and isinstance(idle_cpu, float)
    print_table(
        [
            (
                "press to clip playing, median (ms)",
                latency["median"],
                TARGETS["press_to_clip_ms median"],
            ),
            ("press to clip playing, p99 (ms)", latency["p99"], None),
            ("mpv idle CPU (% of one core)", idle_cpu, TARGETS["mpv_idle_cpu_percent"]),
        ]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

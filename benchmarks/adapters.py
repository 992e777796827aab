"""The adapters' start-up: time to ready and resident memory of ``party-button web`` and ``mqtt``.

Run from the repository root: ``python -m benchmarks.adapters [--runs N] [--tree PATH]
[--json]``. Each run starts ``python -m party_button web`` (then ``mqtt``) as its own process,
the way its unit does, with a real ``AF_UNIX`` datagram socket as ``$NOTIFY_SOCKET``, and
measures:

- ``web_ready_ms`` / ``mqtt_ready_ms``: from starting the process to its ``READY=1``.
- ``web_rss_mb`` / ``mqtt_rss_mb``: its resident memory (``VmRSS``) at that moment.

No daemon runs: both adapters are ready without one (they wait for its socket). The bridge
talks to Debian's mosquitto on a free loopback port. ``--tree`` runs another checkout's
``party_button`` (its ``PYTHONPATH``) with the same config, to compare two versions in one
sitting; the values are medians over ``--runs``.
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
import time
from pathlib import Path

import yaml

from benchmarks.latency import bench_config, print_table
from party_button.testing.mqtt import Broker
from party_button.testing.ports import free_port

READY_TIMEOUT = 60.0


def adapters_config(folder: Path, broker_port: int) -> Path:
    """The benchmark's config with the web page (on a free port) and the bridge on."""
    path = bench_config(folder)
    data = yaml.safe_load(path.read_text())
    data["web"] = {"enabled": True, "listen": f"127.0.0.1:{free_port()}", "pin": "2580"}
    data["mqtt"] = {"enabled": True, "host": "127.0.0.1", "port": broker_port}
    path.write_text(yaml.safe_dump(data))
    path.chmod(0o600)
    return path


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def start_once(command: str, config: Path, folder: Path, tree: Path) -> tuple[float, float]:
    """Start ``party-button COMMAND`` once; returns (ms to READY=1, resident MB then)."""
    notify_path = folder / f"notify-{command}.sock"
    notify_path.unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(notify_path))
        notify.settimeout(READY_TIMEOUT)
        env = {
            **os.environ,
            "NOTIFY_SOCKET": str(notify_path),
            "PYTHONPATH": str(tree),
            "PARTY_BUTTON_SOCKET": str(folder / "absent" / "control.sock"),
        }
        argv = [sys.executable, "-m", "party_button", command, "--config", str(config)]
        started = time.monotonic()
        process = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=folder
        )
        try:
            while b"READY=1" not in notify.recv(4096).split(b"\n"):
                pass
            ready_ms = (time.monotonic() - started) * 1000
            return ready_ms, resident_mb(process.pid)
        except TimeoutError:
            process.kill()
            raise RuntimeError(f"{command} not ready: {process.communicate()[1]!r}") from None
        finally:
            process.terminate()
            process.wait(timeout=30)


def measure(runs: int, tree: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-adapters-") as tmp:
        folder = Path(tmp)
        broker = Broker(folder / "broker").start()
        try:
            config = adapters_config(folder, broker.port)
            samples: dict[str, list[float]] = {}
            for _ in range(runs):
                for command in ("web", "mqtt"):
                    ready_ms, rss_mb = start_once(command, config, folder, tree)
                    samples.setdefault(f"{command}_ready_ms", []).append(ready_ms)
                    samples.setdefault(f"{command}_rss_mb", []).append(rss_mb)
        finally:
            broker.stop()
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="starts of each adapter (median)")
    parser.add_argument("--tree", type=Path, default=Path.cwd(), help="the checkout to run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure(args.runs, args.tree.resolve())
    if args.json:
        print(json.dumps(result))
    else:
        print_table([(name, value, None) for name, value in result.items()])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The MQTT bridge: a press through the broker to a relay, a change to its MQTT state, idle cost.

Run from the repository root: ``python -m benchmarks.mqtt [--json]``. It starts Debian's
mosquitto on a free loopback port, the daemon on mock pins (the shipped config, as
:mod:`benchmarks.latency` runs it) and ``party-button mqtt`` as its own process, and prints
a table, or one JSON object with ``--json``:

- ``mqtt_press_to_relay_ms``: from publishing ``PRESS`` on the Start party command topic
  (QoS 1) to the first relay switching.
- ``change_to_state_ms``: from that relay switching to its ``ON`` state arriving at an MQTT
  subscriber (through the watch stream, the bridge and the broker).
- ``idle_cpu_percent`` and ``rss_mb``: of the bridge process, with the daemon idle.

The broker runs with mosquitto's defaults, under which it holds a small message back until
the previous one is acknowledged (Nagle's algorithm): about 40 ms on the state's way out to a
subscriber. ``--nodelay`` measures with ``set_tcp_nodelay true`` on the broker.
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

from benchmarks.latency import IDLE_GAP_SECONDS, bench_config, print_table, summary
from party_button.config.schema import load_config
from party_button.daemon.events import Request
from party_button.daemon.party import Input
from party_button.mqtt.entities import PRESS, Topics
from party_button.phase import Phase
from party_button.testing import RelayMockFactory, running_daemon, wait_for
from party_button.testing.mqtt import GIVE_UP, BridgeProcess, Broker, Recorder, retained

TARGETS = {
    "mqtt_press_to_relay_ms p99": 20.0,
    "change_to_state_ms p99": 50.0,
    "idle_cpu_percent": 0.3,
    "rss_mb": 50.0,
}


def mqtt_config(folder: Path, port: int) -> Path:
    """The benchmark's config with the bridge on, to the broker at ``port``."""
    path = bench_config(folder)
    data = yaml.safe_load(path.read_text())
    data["mqtt"] = {"enabled": True, "host": "127.0.0.1", "port": port}
    path.write_text(yaml.safe_dump(data))
    return path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return (
        int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])
        / 1024
    )


def measure(folder: Path, presses: int, idle_seconds: float, *, nodelay: bool) -> dict:
    extra = "allow_anonymous true\n" + ("set_tcp_nodelay true\n" if nodelay else "")
    broker = Broker(folder / "broker", extra=extra).start()
    config_path = mqtt_config(folder, broker.port)
    config = load_config(config_path)
    topics = Topics.of(config.mqtt)
    socket_path = folder / "run" / "control.sock"
    factory = RelayMockFactory(tuple(relay.pin for relay in config.relays))
    pins = {relay.name: factory.pin(relay.pin) for relay in config.relays}
    to_relay, to_state = [], []
    try:
        with running_daemon(config, factory, control_path=socket_path) as daemon:
            bridge = BridgeProcess(config_path, socket_path, folder / "bridge.log")
            try:
                wait_for(
                    lambda: retained(broker.port, topics.daemon) == {topics.daemon: "online"},
                    GIVE_UP,
                )
                recorder = Recorder(broker.port, topics.state("relay/+"))
                for _ in range(presses):
                    wait_for(lambda: daemon.machine.phase is Phase.IDLE and daemon.player.prepared)
                    time.sleep(IDLE_GAP_SECONDS)
                    before = {name: pin._last_change for name, pin in pins.items()}
                    pressed = time.monotonic()
                    recorder.client.publish(topics.command("start"), PRESS, qos=1)
                    wait_for(lambda before=before: first_switch(pins, before) is not None)
                    name, switched = first_switch(pins, before) or ("", 0.0)
                    to_relay.append((switched - pressed) * 1000)
                    state = recorder.wait(topics.relay(name), lambda p: p == "ON", after=switched)
                    to_state.append((state.at - switched) * 1000)
                    daemon.events.put(Request(Input.STOP))
                recorder.close()
                wait_for(lambda: daemon.machine.phase is Phase.IDLE)
                time.sleep(1.0)
                cpu_before, wall_before = cpu_seconds(bridge.pid), time.monotonic()
                time.sleep(idle_seconds)
                cpu = (cpu_seconds(bridge.pid) - cpu_before) / (time.monotonic() - wall_before)
                memory = rss_mb(bridge.pid)
            finally:
                bridge.stop()
    finally:
        broker.stop()
    return {
        "mqtt_press_to_relay_ms": summary(to_relay),
        "change_to_state_ms": summary(to_state),
        "idle_cpu_percent": cpu * 100,
        "rss_mb": memory,
        "presses": presses,
        "broker_tcp_nodelay": nodelay,
    }


def first_switch(pins: dict, before: dict) -> tuple[str, float] | None:
    """The relay that switched first since ``before``, and when (monotonic)."""
    changed = [
        (pin._last_change, name) for name, pin in pins.items() if pin._last_change != before[name]
    ]
    return (min(changed)[1], min(changed)[0]) if changed else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--presses", type=int, default=100)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument(
        "--nodelay",
        action="store_true",
        help="run the broker with set_tcp_nodelay true (mosquitto's default is false)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = measure(Path(folder), args.presses, args.idle_seconds, nodelay=args.nodelay)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    press, state = result["mqtt_press_to_relay_ms"], result["change_to_state_ms"]
    print_table(
        [
            ("MQTT press to relay, median (ms)", press["median"], None),
            ("MQTT press to relay, p99 (ms)", press["p99"], TARGETS["mqtt_press_to_relay_ms p99"]),
            ("relay change to MQTT state, median (ms)", state["median"], None),
            (
                "relay change to MQTT state, p99 (ms)",
                state["p99"],
                TARGETS["change_to_state_ms p99"],
            ),
            (
                "bridge idle CPU (% of one core)",
                result["idle_cpu_percent"],
                TARGETS["idle_cpu_percent"],
            ),
            ("bridge resident memory (MB)", result["rss_mb"], TARGETS["rss_mb"]),
        ]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

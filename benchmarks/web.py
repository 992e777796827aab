"""The web service: HTTP press to relay, daemon change to browser event, idle CPU, memory, page.

Run from the repository root: ``python -m benchmarks.web [--json]``. A daemon runs on mock
pins in this process with its control socket; ``party-button web`` runs beside it as its own
process, on loopback, as in the tests. The browser whose presses and events are timed is a
third process (:mod:`benchmarks.web_client`) that reads the clock itself, and this process
looks for results only every :data:`POLL` seconds: a reader thread or a tight poll here would
hold the interpreter lock that the daemon's loop needs, and the benchmark would time itself.
It prints a table, or one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import yaml

from benchmarks.latency import (
    IDLE_GAP_SECONDS,
    bench_config,
    idle_cpu_percent,
    print_table,
    rss_mb,
    summary,
)
from party_button.config.schema import load_config
from party_button.daemon.events import Request
from party_button.daemon.party import Input
from party_button.phase import Phase
from party_button.testing import RelayMockFactory, running_daemon, wait_for
from party_button.testing.web import start_web, stop_web
from party_button.web.static_files import page_bytes

TOKEN = "benchmark-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
POLL = 0.02
"""Seconds between two looks of this process at the daemon, the relays and the client."""
TARGETS = {
    "http_press_to_relay_ms p99": 15.0,
    "change_to_event_ms p99": 50.0,
    "idle_cpu_percent": 0.5,
    "rss_mb": 70.0,
    "page_kb": 150.0,
}


class Stream:
    """A live stream (``GET /api/events``) read in a thread; each message with its arrival.

    For the idle clients, whose timing is not measured.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        self.connection.request("GET", "/api/events", headers=AUTH)
        self.response = self.connection.getresponse()
        self.arrived: list[tuple[float, dict]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self.response:
                if line.startswith(b"data: "):
                    self.arrived.append((time.monotonic(), json.loads(line[6:])))
        except (OSError, ValueError):
            pass

    def first_state(self) -> bool:
        """Whether the daemon's whole state has come."""
        return any(message.get("type") == "state" for _at, message in self.arrived)

    def first(self, wanted, after: int) -> float:
        """When the first message from index ``after`` on that ``wanted`` accepts arrived."""
        found: list[float] = []

        def seen() -> bool:
            found[:] = [at for at, message in self.arrived[after:] if wanted(message)]
            return bool(found)

        wait_for(seen, timeout=10, every=POLL)
        return found[0]


class Browser(Stream):
    """:mod:`benchmarks.web_client` as its own process: its stream, and presses on request,
    each with the moment the client read from the clock."""

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.web_client", url, TOKEN],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.arrived = []
        self.sent: list[float] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            kind, at, *message = line.split(" ", 2)
            if kind == "event":
                self.arrived.append((float(at), json.loads(message[0])))
            elif kind == "sent":
                self.sent.append(float(at))

    def press(self) -> float:
        """Press over HTTP; when the client sent it (it has read the answer by now)."""
        assert self.process.stdin is not None
        count = len(self.sent)
        self.process.stdin.write("press\n")
        self.process.stdin.flush()
        wait_for(lambda: len(self.sent) > count, timeout=10, every=POLL)
        return self.sent[count]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.terminate()
        self.process.wait()


def web_config(folder: Path) -> Path:
    path = bench_config(folder)
    data = yaml.safe_load(path.read_text())
    data["web"] = {"token": TOKEN}
    path.write_text(yaml.safe_dump(data))
    return path


def measure(config_path: Path, presses: int, clients: int, idle_seconds: float) -> dict:
    config = load_config(config_path)
    factory = RelayMockFactory(tuple(relay.pin for relay in config.relays))
    relays = [factory.pin(relay.pin) for relay in config.relays]
    button = factory.pin(config.button.pin)
    socket = config_path.parent / "run" / "control.sock"
    to_relay: list[float] = []
    to_event: list[float] = []

    def first_switch(since: dict) -> float | None:
        changed = [pin._last_change for pin in relays if pin._last_change != since[pin]]
        return min(changed) if changed else None

    with running_daemon(config, factory, control_path=socket) as daemon:
        web = start_web(config_path, socket, config_path.parent / "web.log")
        browser: Browser | None = None
        try:
            browser = Browser(web.url)
            wait_for(browser.first_state, timeout=30, every=POLL)

            def idle_and_ready() -> None:
                wait_for(
                    lambda: daemon.machine.phase is Phase.IDLE and daemon.player.prepared,
                    every=POLL,
                )
                time.sleep(IDLE_GAP_SECONDS)

            for number in range(presses):
                idle_and_ready()
                before = {pin: pin._last_change for pin in relays}
                after = len(browser.arrived)
                if number % 2 == 0:  # a press over HTTP: to the first relay switch
                    pressed = browser.press()
                    wait_for(lambda before=before: first_switch(before) is not None, every=POLL)
                    to_relay.append((first_switch(before) - pressed) * 1000)
                else:  # the button: the daemon's change to the event in the browser's stream
                    pressed = time.monotonic()
                    button.drive_low()
                    arrived = browser.first(lambda m: m.get("event") == "press", after)
                    to_event.append((arrived - pressed) * 1000)
                    button.drive_high()
                daemon.events.put(Request(Input.STOP))
            streams = [browser] + [Stream(web.url) for _ in range(clients - 1)]
            for each in streams:
                wait_for(each.first_state, every=POLL)
            idle_and_ready()
            cpu = idle_cpu_percent(web.process.pid, idle_seconds)
            rss = rss_mb(web.process.pid)
        finally:
            if browser is not None:
                browser.close()
            stop_web(web)
    return {
        "http_press_to_relay_ms": summary(to_relay),
        "change_to_event_ms": summary(to_event),
        "idle_cpu_percent": cpu,
        "rss_mb": rss,
        "page_kb": page_bytes() / 1024,
        "presses": presses,
        "clients": clients,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--presses", type=int, default=200, help="HTTP presses and button presses")
    parser.add_argument("--clients", type=int, default=20, help="live streams while idle")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = measure(web_config(Path(folder)), args.presses, args.clients, args.idle_seconds)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print_table(
        [
            ("HTTP press to relay, median (ms)", result["http_press_to_relay_ms"]["median"], None),
            (
                "HTTP press to relay, p99 (ms)",
                result["http_press_to_relay_ms"]["p99"],
                TARGETS["http_press_to_relay_ms p99"],
            ),
            ("change to browser event, median (ms)", result["change_to_event_ms"]["median"], None),
            (
                "change to browser event, p99 (ms)",
                result["change_to_event_ms"]["p99"],
                TARGETS["change_to_event_ms p99"],
            ),
            (
                f"idle CPU, {args.clients} live clients (% of one core)",
                result["idle_cpu_percent"],
                TARGETS["idle_cpu_percent"],
            ),
            ("resident memory (MB)", result["rss_mb"], TARGETS["rss_mb"]),
            ("page, all files (KB)", result["page_kb"], TARGETS["page_kb"]),
        ]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

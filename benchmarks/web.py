"""The web service: HTTP press to relay, daemon change to browser event, idle CPU, memory, page.

Run from the repository root: ``python -m benchmarks.web [--json]``; ``--attack`` measures
instead a guest's presses while another guest attacks (idle connections, wrong logins: see
:mod:`benchmarks.web_attacker`), and the service's memory during two large uploads. A daemon
runs on mock pins in this process with its control socket; ``party-button web`` runs beside it
as its own process, on loopback, as in the tests. The browser whose presses and events are
timed is a third process (:mod:`benchmarks.web_client`) that reads the clock itself, and this
process looks for results only every :data:`POLL` seconds: a reader thread or a tight poll here
would hold the interpreter lock that the daemon's loop needs, and the benchmark would time
itself. It prints a table, or one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import wave
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
ATTACK_PIN = "918273"
TARGETS = {
    "attack_press_to_relay_ms p99": 100.0,
    "attack_refused_presses": 1.0,  # that is: none
    "upload_peak_mb": 300.0,
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
        self.statuses: list[int] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            kind, at, *message = line.split(" ", 2)
            if kind == "event":
                self.arrived.append((float(at), json.loads(message[0])))
            elif kind == "sent":
                self.statuses.append(int(message[0]))
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


def web_process_tree_mb(pid: int) -> tuple[float, float]:
    """The resident memory of process ``pid`` and of its children together (MB)."""
    own = rss_mb(pid)
    children = 0.0
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                children += rss_mb(int(stat_file.parent.name))
        except (OSError, StopIteration, ValueError):
            continue
    return own, own + children


def peak_mb(pid: int) -> float:
    """The highest resident memory process ``pid`` has had (``VmHWM``, MB)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return (
        int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])
        / 1024
    )


def attack_config(folder: Path, upload_mb: int) -> Path:
    """The benchmark's config with a PIN, and an empty songs folder first (for uploads)."""
    path = web_config(folder)
    data = yaml.safe_load(path.read_text())
    (folder / "uploads").mkdir()
    data["songs"]["folders"] = [str(folder / "uploads"), *data["songs"]["folders"]]
    data["web"] = {"token": TOKEN, "pin": ATTACK_PIN, "max_upload_mb": upload_mb}
    path.write_text(yaml.safe_dump(data))
    return path


def descriptor_budget(count: int) -> None:
    """This process's (and so the web service's) descriptor limit: the unit's ``LimitNOFILE``."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(count, hard), hard))


def measure_attack(config_path: Path, presses: int, idle: int, logins: int) -> dict:
    """Presses over HTTP from a guest while another holds ``idle`` idle connections and
    ``logins`` wrong logins in flight."""
    descriptor_budget(2048)
    config = load_config(config_path)
    factory = RelayMockFactory(tuple(relay.pin for relay in config.relays))
    relays = [factory.pin(relay.pin) for relay in config.relays]
    socket = config_path.parent / "run" / "control.sock"
    to_relay: list[float] = []
    counts: dict[str, int] = {}

    def follow(attacker: subprocess.Popen) -> None:
        assert attacker.stdout is not None
        for line in attacker.stdout:
            words = line.split()
            counts.update(zip(words[::2], (int(word) for word in words[1::2]), strict=True))

    with running_daemon(config, factory, control_path=socket) as daemon:
        web = start_web(config_path, socket, config_path.parent / "web.log")
        attacker = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.web_attacker", web.url, str(idle), str(logins)],
            stdout=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=follow, args=(attacker,), daemon=True).start()
        browser: Browser | None = None
        try:
            wait_for(
                lambda: (
                    counts.get("held", 0) + counts.get("refused", 0) >= idle
                    and counts.get("answered", 0) >= logins
                ),
                timeout=120,
                every=POLL,
            )
            browser = Browser(web.url)
            wait_for(browser.first_state, timeout=30, every=POLL)
            for _ in range(presses):
                wait_for(
                    lambda: daemon.machine.phase is Phase.IDLE and daemon.player.prepared,
                    every=POLL,
                )
                time.sleep(IDLE_GAP_SECONDS)
                before = {pin: pin._last_change for pin in relays}
                pressed = browser.press()
                if browser.statuses[-1] != 200:
                    continue

                def switched(before: dict = before) -> float | None:
                    changed = [
                        pin._last_change for pin in relays if pin._last_change != before[pin]
                    ]
                    return min(changed) if changed else None

                wait_for(lambda: switched() is not None, every=POLL)
                to_relay.append((switched() - pressed) * 1000)
                daemon.events.put(Request(Input.STOP))
            held_at_end = dict(counts)
        finally:
            if browser is not None:
                browser.close()
            attacker.terminate()
            attacker.wait()
            stop_web(web)
    statuses = browser.statuses if browser is not None else []
    return {
        "attack_press_to_relay_ms": summary(to_relay),
        "attack_refused_presses": sum(1 for code in statuses if code != 200),
        "attack_presses": len(statuses),
        "attacker": held_at_end,
    }


def silent_wav(path: Path, megabytes: int) -> Path:
    """A WAV file of silence, about ``megabytes`` MB (44.1 kHz, 16-bit stereo)."""
    frames = megabytes * 1024**2 // 4
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44100)
        block = bytes(4 * 44100)
        for _ in range(frames // 44100):
            out.writeframes(block)
    return path


def post_song(url: str, song: Path, answers: list[int]) -> None:
    """Upload ``song`` as one multipart part, streamed from the file; its status to ``answers``."""
    parts = urlsplit(url)
    head = (
        f'--b\r\nContent-Disposition: form-data; name="file"; filename="{song.name}"\r\n\r\n'
    ).encode()
    tail = b"\r\n--b--\r\n"

    def body():
        yield head
        with song.open("rb") as data:
            while chunk := data.read(1024**2):
                yield chunk
        yield tail

    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    length = len(head) + song.stat().st_size + len(tail)
    headers = {
        **AUTH,
        "Content-Type": "multipart/form-data; boundary=b",
        "Content-Length": str(length),
    }
    connection.request("POST", "/api/songs", body=body(), headers=headers)
    answers.append(connection.getresponse().status)
    connection.close()


def measure_uploads(config_path: Path, megabytes: int) -> dict:
    """The web service's memory while two uploads of ``megabytes`` MB come in together."""
    config = load_config(config_path)
    factory = RelayMockFactory(tuple(relay.pin for relay in config.relays))
    socket = config_path.parent / "run" / "control.sock"
    made = config_path.parent / "made"
    made.mkdir()
    songs = [silent_wav(made / f"long silence {number}.wav", megabytes) for number in range(2)]
    answers: list[int] = []
    peaks = {"web": 0.0, "tree": 0.0}
    with running_daemon(config, factory, control_path=socket):
        web = start_web(config_path, socket, config_path.parent / "web.log")
        try:
            threads = [
                threading.Thread(target=post_song, args=(web.url, song, answers)) for song in songs
            ]
            for thread in threads:
                thread.start()
            while any(thread.is_alive() for thread in threads):
                own, tree = web_process_tree_mb(web.process.pid)
                peaks["web"] = max(peaks["web"], own)
                peaks["tree"] = max(peaks["tree"], tree)
                time.sleep(POLL)
            peaks["web"] = max(peaks["web"], peak_mb(web.process.pid))
        finally:
            stop_web(web)
    return {
        "upload_peak_mb": peaks["web"],
        "upload_peak_with_checks_mb": peaks["tree"],
        "upload_mb": megabytes,
        "upload_statuses": sorted(answers),
    }


def run_attack(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as folder:
        result = measure_attack(
            attack_config(Path(folder), args.upload_mb + 10), args.presses, args.idle, args.logins
        )
    with tempfile.TemporaryDirectory() as folder:
        result |= measure_uploads(attack_config(Path(folder), args.upload_mb + 10), args.upload_mb)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print_table(
        [
            (
                "HTTP press to relay under attack, median (ms)",
                result["attack_press_to_relay_ms"]["median"],
                None,
            ),
            (
                "HTTP press to relay under attack, p99 (ms)",
                result["attack_press_to_relay_ms"]["p99"],
                TARGETS["attack_press_to_relay_ms p99"],
            ),
            (
                f"presses refused under attack (of {result['attack_presses']})",
                result["attack_refused_presses"],
                TARGETS["attack_refused_presses"],
            ),
            (
                f"web service peak, two {args.upload_mb} MB uploads (MB)",
                result["upload_peak_mb"],
                TARGETS["upload_peak_mb"],
            ),
            ("... with the upload check's child (MB)", result["upload_peak_with_checks_mb"], None),
        ]
    )
    print(f"attacker at the end: {result['attacker']}; upload answers: {result['upload_statuses']}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--presses", type=int, default=200, help="HTTP presses and button presses")
    parser.add_argument("--clients", type=int, default=20, help="live streams while idle")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument(
        "--attack",
        action="store_true",
        help="instead: presses while a guest attacks, and memory during two large uploads",
    )
    parser.add_argument("--idle", type=int, default=1200, help="attack: idle connections")
    parser.add_argument("--logins", type=int, default=50, help="attack: wrong logins in flight")
    parser.add_argument("--upload-mb", type=int, default=150, help="attack: each upload's size")
    args = parser.parse_args()
    if args.attack:
        return run_attack(args)
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

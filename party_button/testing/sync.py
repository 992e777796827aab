"""Real snapserver and snapclients for tests and benchmarks, and what each room hears.

A snapclient started with ``--player file:filename=FIFO`` writes what it would play into a
FIFO, 50 ms at a time, each block as its first sample is due 10 ms later (0.26's file
player). :class:`HeardOutput` reads that FIFO in a thread and timestamps each block as it
arrives, so every sample gets the time it would be heard, on this machine's monotonic clock:
the same :class:`~party_button.media.stream_clock.StreamClock` estimate as the feeder's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import yaml

from party_button.config.sync import DEFAULT_PORT, SnapcastPorts, SyncConfig
from party_button.control.client import send_command
from party_button.errors import ControlError
from party_button.media.snapcast import BYTE_RATE, FRAME_BYTES, SAMPLE_RATE
from party_button.media.stream_clock import StreamClock
from party_button.sync.snapserver import SNAPSERVER_NICE, snapserver_conf
from party_button.testing import MOCK_CONFIG

FILE_PLAYER_BLOCK = 0.050  # seconds the file player writes at a time
FILE_PLAYER_LEAD = 0.010  # how long after the write the block's first sample is heard
FILE_PLAYER_JUMP = 0.005  # seconds by which the file player's blocks move when it corrects
LOUD = 3000  # a sample this loud (of 32767) is sound, not silence


def missing_programs() -> str | None:
    """Why the real Snapcast tests cannot run here, or ``None``."""
    for program in ("snapserver", "snapclient", "sox"):
        if shutil.which(program) is None:
            return f"{program} is not installed (apt-get install snapserver snapclient sox)"
    return None


def click_track(path: Path, seconds: float, bpm: float, *, first: float = 0.5) -> list[float]:
    """Write a WAV of silence with a 5 ms click on every beat from ``first``, and its exact
    beat grid beside it (every fourth beat a downbeat); the beats' times."""
    import numpy as np
    import soundfile

    from party_button.beats.grid import BeatGrid, SongStamp, save_grid

    period = 60.0 / bpm
    beats = [first + k * period for k in range(int((seconds - first) / period))]
    samples = np.zeros(int(seconds * SAMPLE_RATE), dtype="float32")
    click = 0.6 * np.sin(2 * np.pi * 1000.0 * np.arange(int(0.005 * SAMPLE_RATE)) / SAMPLE_RATE)
    for beat in beats:
        start = round(beat * SAMPLE_RATE)
        samples[start : start + len(click)] = click[: len(samples) - start]
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.column_stack([samples, samples]), SAMPLE_RATE, subtype="PCM_16")
    grid = BeatGrid(bpm, tuple(beats), tuple(beats[::4]), 4, SongStamp.of(path), "click track")
    save_grid(path, grid)
    return beats


def _stop(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def snapserver(
    folder: Path,
    sync: SyncConfig,
    ports: SnapcastPorts,
    *,
    prefix: Sequence[str] = (),
) -> Iterator[subprocess.Popen[bytes]]:
    """snapserver with party-button's config for ``sync``, run as ``prefix + command``;
    entered once its pipe exists and its JSON-RPC answers."""
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "snapserver.conf"
    conf.write_text(snapserver_conf(sync, ports))
    log = (folder / "snapserver.log").open("wb")
    nice = ["nice", "-n", str(SNAPSERVER_NICE)] if os.geteuid() == 0 else []  # as installed
    process = subprocess.Popen(
        [*prefix, *nice, "snapserver", "-c", str(conf), f"--server.datadir={folder}",
         "--logging.sink=stderr"],
        stdout=log, stderr=log,
    )  # fmt: skip
    try:
        ready = (lambda: sync.pipe.exists()) if prefix else (lambda: rpc_answers(ports))
        _wait(lambda: sync.pipe.exists() and ready(), process, "snapserver")
        yield process
    finally:
        _stop(process)
        log.close()


def rpc(host: str, port: int, method: str, params: dict | None = None) -> dict:
    """One JSON-RPC call to snapserver (TCP, newline-delimited); its ``result``."""
    request = {"id": 1, "jsonrpc": "2.0", "method": method, "params": params or {}}
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(json.dumps(request).encode() + b"\r\n")
        with sock.makefile("rb") as lines:
            for line in lines:
                answer = json.loads(line)
                if answer.get("id") == 1:
                    return answer["result"]
    raise ConnectionError("snapserver hung up")


def rpc_answers(ports: SnapcastPorts, host: str = "127.0.0.1") -> bool:
    """Whether snapserver's JSON-RPC answers."""
    try:
        rpc(host, ports.control, "Server.GetRPCVersion")
    except OSError:
        return False
    return True


def _wait(condition: object, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60.0
    while not condition():  # type: ignore[operator]
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not come up within 60 s")
        time.sleep(0.02)


class HeardOutput:
    """What one snapclient plays, each sample with the time it is heard."""

    def __init__(self, fifo: Path) -> None:
        self.fifo = fifo
        os.mkfifo(fifo)
        # the file player's timing moves by a few milliseconds when the client corrects
        self.clock = StreamClock(BYTE_RATE, jump=FILE_PLAYER_JUMP)
        self.data = bytearray()
        self._fd = os.open(fifo, os.O_RDWR | os.O_CLOEXEC)  # never an end of file
        self._closed = False
        self._thread = threading.Thread(target=self._read, name="heard-output", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                block = os.read(self._fd, 1 << 16)
            except OSError:
                return
            now = time.monotonic()
            if self._closed or not block:
                return
            self.data += block
            self.clock.saw(len(self.data), now)

    def heard_at(self, offset: int) -> float:
        """When the byte at ``offset`` of the output is heard (monotonic seconds)."""
        return self.clock.stream_time(offset) + FILE_PLAYER_BLOCK + FILE_PLAYER_LEAD

    def seconds(self) -> float:
        """Seconds of output so far."""
        return len(self.data) / BYTE_RATE

    def sounds(self, after: int = 0) -> list[float]:
        """When each sound (a sample at least :data:`LOUD`, 20 ms after the last) after
        byte ``after`` is heard."""
        import numpy as np

        start = after - after % FRAME_BYTES
        end = len(self.data) - len(self.data) % FRAME_BYTES
        samples = np.frombuffer(bytes(self.data[start:end]), dtype="<i2")[0::2]
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= LOUD)
        times: list[float] = []
        last = -(10**9)
        for index in loud:
            if index - last > 0.020 * SAMPLE_RATE:
                times.append(self.heard_at(start + int(index) * FRAME_BYTES))
            last = int(index)
        return times

    def heard_until(self) -> float:
        """When the last sample written so far is heard."""
        return self.heard_at(len(self.data)) if self.clock.known else 0.0

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):  # wakes the reader
            fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.write(fd, b"\0")
            os.close(fd)
        self._thread.join(timeout=5)
        os.close(self._fd)


@contextlib.contextmanager
def snapclient(
    folder: Path,
    host: str,
    ports: SnapcastPorts,
    name: str,
    *,
    prefix: Sequence[str] = (),
) -> Iterator[tuple[subprocess.Popen[bytes], HeardOutput]]:
    """A snapclient called ``name`` playing into a :class:`HeardOutput`; entered once it
    plays (its output grows)."""
    folder.mkdir(parents=True, exist_ok=True)
    heard = HeardOutput(folder / f"{name}.pcm")
    log = (folder / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [*prefix, "snapclient", "-h", host, "-p", str(ports.stream), "--hostID", name,
         "--player", f"file:filename={heard.fifo}", "--logsink", "stderr"],
        stdout=log, stderr=log,
    )  # fmt: skip
    try:
        _wait(lambda: heard.seconds() > 0.5, process, f"snapclient {name}")
        yield process, heard
    finally:
        _stop(process)
        heard.close()
        log.close()


def errors_ms(heard: Sequence[float], expected: Sequence[float]) -> list[float]:
    """Each sound heard less the expected time nearest to it, in milliseconds."""
    if not expected:
        return []
    return [1000 * (h - min(expected, key=lambda e: abs(h - e))) for h in heard]


def missing_namespaces() -> str | None:
    """Why rooms cannot run in network namespaces here, or ``None``."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs the tests as root)"
    if shutil.which("ip") is None:
        return "the ip program (iproute2) is not installed"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@dataclass(frozen=True)
class Host:
    """One machine of a :class:`Lan`: a network namespace with one address."""

    namespace: str
    address: str

    @property
    def prefix(self) -> list[str]:
        """What runs a command on this host."""
        return ["ip", "netns", "exec", self.namespace]


class Lan:
    """Hosts in network namespaces of their own on one bridge (itself in a namespace of its
    own, so nothing of this machine's network changes): ``10.231.0.N/24``, as separate
    Pis on one network would be. Every namespace is deleted on exit, processes first."""

    SUBNET = "10.231.0"

    def __init__(self, tag: str | None = None) -> None:
        self.tag = tag or f"pb{os.getpid() % 100000}"
        self.bridge = f"{self.tag}-lan"
        self.hosts: list[Host] = []

    def __enter__(self) -> Lan:
        _ip("netns", "add", self.bridge)
        try:
            _ip("-n", self.bridge, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.bridge, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise
        return self

    def host(self, name: str) -> Host:
        """A new host called ``name``."""
        number = len(self.hosts) + 2
        host = Host(f"{self.tag}-{name}", f"{self.SUBNET}.{number}")
        _ip("netns", "add", host.namespace)
        self.hosts.append(host)
        outside, inside = f"v{number}b", f"v{number}h"
        _ip("link", "add", outside, "netns", self.bridge, "type", "veth",
            "peer", "name", inside, "netns", host.namespace)  # fmt: skip
        _ip("-n", self.bridge, "link", "set", outside, "master", "br0", "up")
        _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", inside)
        _ip("-n", host.namespace, "link", "set", inside, "up")
        _ip("-n", host.namespace, "link", "set", "lo", "up")
        return host

    def close(self) -> None:
        """Delete every namespace (their links go with them)."""
        for namespace in [host.namespace for host in self.hosts] + [self.bridge]:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)
        self.hosts.clear()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextlib.contextmanager
def background(
    command: Sequence[str], log: Path, *, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running with its output in ``log``; ended (TERM, then KILL) on exit."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            list(command), stdout=output, stderr=output, env={**os.environ, **(env or {})}
        )
        try:
            yield process
        finally:
            _stop(process)


def party_button(*args: str) -> list[str]:
    """The command line of ``party-button ARGS`` with this Python."""
    return [sys.executable, "-m", "party_button", *args]


_ASK = (
    "import json, sys; from party_button.sync.messages import ask_status; "
    "print(json.dumps(ask_status(sys.argv[1], int(sys.argv[2]))))"
)


_FEED = (
    "import json, sys, time; from party_button.sync.messages import ask_status\n"
    "while True:\n"
    "    print(json.dumps(ask_status(sys.argv[1], int(sys.argv[2]))), flush=True)\n"
    "    time.sleep(float(sys.argv[3]))\n"
)


@contextlib.contextmanager
def status_feed(host: Host, port: int, every: float) -> Iterator[list[tuple[float, dict]]]:
    """The status of the sync service of ``host`` every ``every`` seconds, each with when it
    arrived (monotonic), asked by one process inside its namespace."""
    process = subprocess.Popen(
        [*host.prefix, sys.executable, "-c", _FEED, host.address, str(port), str(every)],
        stdout=subprocess.PIPE,
    )
    feed: list[tuple[float, dict]] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            feed.append((time.monotonic(), json.loads(line)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield feed
    finally:
        _stop(process)
        reader.join(timeout=5)


def sync_status(host: Host, port: int) -> dict:
    """The status of the sync service of ``host``, asked from inside its namespace."""
    result = subprocess.run(
        [*host.prefix, sys.executable, "-c", _ASK, host.address, str(port)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return json.loads(result.stdout) if result.returncode == 0 else {"error": result.stderr}


@dataclass
class Room:
    """One room of a :func:`running_house`."""

    name: str
    host: Host
    socket: Path
    heard: HeardOutput
    offset: float
    client: subprocess.Popen[bytes]  # its snapclient
    service: subprocess.Popen[bytes]  # its sync service
    daemon: subprocess.Popen[bytes]
    restart: Callable[[], subprocess.Popen[bytes]]  # ends its daemon and starts it again

    def restart_daemon(self) -> None:
        """Kill this room's daemon (as a crash would) and start it again."""
        self.daemon.kill()
        self.daemon.wait()
        self.daemon = self.restart()
        _wait(lambda: _daemon_up(self.socket), self.daemon, f"the daemon of {self.name}")

    def status(self) -> dict:
        """Its daemon's status."""
        return send_command(self.socket, "status")

    def sync(self) -> dict:
        """Its sync service's status."""
        return sync_status(self.host, DEFAULT_PORT)


@dataclass
class House:
    """A :func:`running_house`: the leader and its rooms."""

    leader: Host
    leader_socket: Path
    rooms: list[Room]
    beats: list[float]
    leader_sync: subprocess.Popen[bytes]  # the leader's sync service
    leader_daemon: subprocess.Popen[bytes]


# The party's show of every daemon of a house: the lights flash on each beat (0.2 s at 120
# BPM, well within their relay's min_interval, so no flash waits for the one before), the
# beacon is on throughout.
BEAT_SHOW = {
    "relays": [
        {"name": "lights", "pin": "GPIO5", "min_interval": 0.1},
        {"name": "beacon", "pin": "GPIO6", "active_high": True},
    ],
    "shows": {
        "party": {
            "steps": [
                {"relays": ["lights"], "pattern": "beat", "every": 1, "length": 0.4},
                {"relays": ["beacon"], "pattern": "steady"},
            ]
        }
    },
    "show_for": {"song": "party"},
}


def _config(folder: Path, sync: dict, songs: Path) -> Path:
    """A daemon's config on mock pins with the ``sync`` section ``sync``."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {**MOCK_CONFIG, "songs": {"folders": [str(songs)], "extensions": ["wav", "ogg"]}}
    config |= BEAT_SHOW
    config["party"] = {"cooldown": 0.3}
    config["sync"] = {"enabled": True, **sync}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _daemon_up(socket: Path) -> bool:
    try:
        return bool(send_command(socket, "status").get("phase"))
    except ControlError:
        return False


@contextlib.contextmanager
def running_house(
    folder: Path,
    offsets: dict[str, float],
    leader_songs: Path,
    room_songs: Path,
    buffer_ms: int,
) -> Iterator[House]:
    """A leader (snapserver, daemon on mock pins, sync service) and a room for each of
    ``offsets`` (snapclient, daemon, sync service whose clock is that many seconds off the
    leader's), each in a network namespace of its own on one :class:`Lan`; all ended on exit."""
    with Lan() as lan, ExitStack() as stack:
        leader = lan.host("leader")
        leader_folder = folder / "leader"
        pipe = leader_folder / "stream"
        sync = SyncConfig(enabled=True, buffer_ms=buffer_ms, pipe=pipe)
        settings = {"role": "leader", "pipe": str(pipe), "buffer_ms": buffer_ms}
        config = _config(leader_folder, settings, leader_songs)
        socket = leader_folder / "control.sock"
        env = {"PARTY_BUTTON_SOCKET": str(socket), "SDL_AUDIODRIVER": "dummy"}
        stack.enter_context(snapserver(leader_folder, sync, SnapcastPorts(), prefix=leader.prefix))
        run = [*leader.prefix, *party_button("run", "--config", str(config))]
        daemon = stack.enter_context(background(run, leader_folder / "daemon.log", env=env))
        _wait(lambda: _daemon_up(socket), daemon, "the leader's daemon")
        serve = ["sync", "--config", str(config), "--listen", leader.address]
        leader_sync = stack.enter_context(
            background([*leader.prefix, *party_button(*serve)], leader_folder / "sync.log", env=env)
        )
        rooms = [
            _room(stack, lan, folder, leader, room_songs, name, offset, buffer_ms)
            for name, offset in offsets.items()
        ]
        yield House(leader, socket, rooms, [], leader_sync, daemon)


def _room(
    stack: ExitStack,
    lan: Lan,
    folder: Path,
    leader: Host,
    songs: Path,
    name: str,
    offset: float,
    buffer_ms: int,
) -> Room:
    """A room's snapclient, daemon and sync service, ended with ``stack``."""
    host = lan.host(name)
    folder = folder / name
    settings = {"role": "room", "leader": leader.address, "room": name, "buffer_ms": buffer_ms}
    config = _config(folder, settings, songs)
    socket = folder / "control.sock"
    env = {"PARTY_BUTTON_SOCKET": str(socket), "SDL_AUDIODRIVER": "dummy"}
    client, heard = stack.enter_context(
        snapclient(folder, leader.address, SnapcastPorts(), name, prefix=host.prefix)
    )
    run = [*host.prefix, *party_button("run", "--config", str(config))]
    starts = iter(range(1, 1000))

    def start() -> subprocess.Popen[bytes]:
        log = folder / f"daemon-{next(starts)}.log"
        return stack.enter_context(background(run, log, env=env))

    daemon = start()
    _wait(lambda: _daemon_up(socket), daemon, f"the daemon of {name}")
    serve = ["sync", "--config", str(config), "--listen", host.address]
    serve += ["--clock-offset", str(offset)]
    service = stack.enter_context(
        background([*host.prefix, *party_button(*serve)], folder / "sync.log", env=env)
    )
    return Room(name, host, socket, heard, offset, client, service, daemon, start)


@contextlib.contextmanager
def relay_switches(socket: Path) -> Iterator[list[tuple[float, dict[str, bool]]]]:
    """Every change of the relays of the daemon at ``socket``, each with when it was made
    (this machine's monotonic seconds, from the watch line's wall-clock time)."""
    from party_button.control.client import WatchConnection

    switches: list[tuple[float, dict[str, bool]]] = []
    watching = WatchConnection(socket)

    def read() -> None:
        with contextlib.suppress(ControlError, OSError):
            for message in watching:
                if "relays" in message.get("changed", ()):
                    wall_to_monotonic = time.time() - time.monotonic()
                    switches.append((message["time"] - wall_to_monotonic, message["relays"]))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield switches
    finally:
        watching.close()
        reader.join(timeout=5)


def switched_on(switches: Sequence[tuple[float, dict[str, bool]]], relay: str) -> list[float]:
    """When ``relay`` switched on, of :func:`relay_switches`."""
    times, was = [], False
    for at, relays in switches:
        now = bool(relays.get(relay))
        if now and not was:
            times.append(at)
        was = now
    return times

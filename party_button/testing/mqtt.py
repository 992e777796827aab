"""A real mosquitto on a free loopback port, an MQTT recorder, and the bridge as a process.

For the MQTT tests and benchmark. The broker keeps nothing on disk: once stopped, its
retained messages are gone, as after a broker's crash.
"""

from __future__ import annotations

import getpass
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from party_button.mqtt.bridge import stop_client
from party_button.testing import wait_for
from party_button.testing.ports import free_port

REPO = Path(__file__).resolve().parent.parent
GIVE_UP = 20.0


class Broker:
    """Debian's mosquitto, listening on 127.0.0.1:``port`` only; :meth:`stop` and start again."""

    def __init__(self, folder: Path, extra: str = "allow_anonymous true\n") -> None:
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.conf = folder / "mosquitto.conf"
        self.log = folder / "mosquitto.log"
        self.conf.write_text(
            # Run as root, mosquitto would switch to its own user, which cannot read the
            # test's private folder; as anyone else, "user" is ignored.
            f"user {getpass.getuser()}\n"
            f"listener {self.port} 127.0.0.1\n{extra}persistence false\n"
            f"log_dest file {self.log}\nlog_type all\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> Broker:
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._listening, GIVE_UP)
        return self

    def _listening(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"mosquitto exited: {self.log.read_text()}")
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@dataclass(frozen=True)
class Message:
    topic: str
    payload: str
    retain: bool
    at: float  # time.monotonic() when it arrived


class Recorder:
    """An MQTT client that records every message of ``topics`` as it arrives."""

    def __init__(self, port: int, *topics: str) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"rec-{uuid.uuid4()}")
        self.client.on_message = self._message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe([(topic, 1) for topic in topics])
        assert self._subscribed.wait(GIVE_UP), "the broker did not confirm the subscription"

    def _message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        item = Message(message.topic, message.payload.decode(), message.retain, time.monotonic())
        with self._lock:
            self.messages.append(item)

    def on(self, topic: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def last(self, topic: str) -> str | None:
        found = self.on(topic)
        return found[-1].payload if found else None

    def wait(self, topic: str, wanted: Callable[[str], bool], after: float = 0.0) -> Message:
        """The first message on ``topic`` since ``after`` whose payload ``wanted`` accepts."""
        found: list[Message] = []

        def seen() -> bool:
            found[:] = [m for m in self.on(topic) if m.at >= after and wanted(m.payload)]
            return bool(found)

        wait_for(seen, GIVE_UP)
        return found[0]

    def publish(self, topic: str, payload: str, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(GIVE_UP)

    def close(self) -> None:
        stop_client(self.client)


def retained(port: int, topic_filter: str) -> dict[str, str]:
    """What the broker retains under ``topic_filter`` now, by topic.

    A fresh client subscribes, then publishes a marker to itself: the broker sends the
    retained messages before the marker.
    """
    marker = f"test-marker/{uuid.uuid4()}"
    recorder = Recorder(port, topic_filter, marker)
    try:
        recorder.publish(marker, "end")
        wait_for(lambda: recorder.on(marker), GIVE_UP)
        return {m.topic: m.payload for m in recorder.messages if m.retain}
    finally:
        recorder.close()


def discovery(port: int, prefix: str = "homeassistant") -> dict[str, dict]:
    """Every retained discovery config under ``prefix``, decoded."""
    return {
        topic: json.loads(payload)
        for topic, payload in retained(port, f"{prefix}/+/+/+/config").items()
    }


class BridgeProcess:
    """``party-button mqtt`` in a subprocess, its log in ``log``."""

    def __init__(self, config: Path, socket_path: Path, log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "party_button", "-v", "mqtt"),
                    *("--config", str(config), "--socket", str(socket_path)),
                ],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"},
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.alive():
            self.process.send_signal(signum)
        return self.process.wait(timeout=GIVE_UP)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

"""A paho client stops cleanly: the broker drops its last will, and no network thread is left,
whether the thread is still running or has ended by itself since ``disconnect()``."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from party_button.mqtt.bridge import stop_client
from party_button.testing import wait_for
from party_button.testing.mqtt import GIVE_UP, Broker, retained

WILL = "test/will"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path / "broker").start()
    yield broker
    broker.stop()


def _connected(port: int, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.will_set(WILL, "gone without a word", qos=1, retain=True)
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert connected.wait(GIVE_UP), "the broker did not accept the connection"
    return client


def _network_threads(client_id: str) -> list[threading.Thread]:
    """The network threads of the client ``client_id`` (paho names them after it)."""
    return [thread for thread in threading.enumerate() if thread.name.endswith(client_id)]


@pytest.mark.parametrize("thread", ["running", "ended by itself"])
def test_a_stopped_client_leaves_no_thread_and_no_last_will(broker: Broker, thread: str) -> None:
    client_id = f"stop-{uuid.uuid4()}"
    client = _connected(broker.port, client_id)
    assert _network_threads(client_id)
    if thread == "ended by itself":
        client.disconnect()
        wait_for(lambda: not _network_threads(client_id), GIVE_UP)
    stop_client(client)
    assert _network_threads(client_id) == []
    assert WILL not in retained(broker.port, WILL)

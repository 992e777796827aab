"""A broker the bridge cannot reach leaves its reason in the journal and the status."""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from party_button.config.mqtt import MqttConfig
from party_button.mqtt import bridge as bridge_module
from party_button.mqtt.bridge import Bridge
from party_button.testing import wait_for
from party_button.testing.ports import free_port

WARNING = re.compile(
    r"cannot reach the broker (?P<broker>\S+): (?P<reason>.+) "
    r"\((?P<count>\d+) attempt\(s\) since the last message\); retrying"
)


@pytest.fixture
def run_bridge(tmp_path: Path) -> Iterator:
    """Start a bridge to ``host:port`` (no daemon there either); stopped at the end."""
    started: list[tuple[Bridge, threading.Thread]] = []

    def start(host: str, port: int, statuses: list[str]) -> Bridge:
        config = dataclasses.replace(MqttConfig(), enabled=True, host=host, port=port)
        bridge = Bridge(config, tmp_path / "none.sock", on_status=statuses.append)
        thread = threading.Thread(target=bridge.run)
        thread.start()
        started.append((bridge, thread))
        return bridge

    yield start
    for bridge, thread in started:
        bridge.stop()
        thread.join(30)


def warnings(caplog: pytest.LogCaptureFixture) -> list[re.Match[str]]:
    return [m for r in caplog.records if (m := WARNING.fullmatch(r.getMessage()))]


def test_a_refused_connection_is_logged_with_the_sockets_error(run_bridge, caplog):
    port = free_port()  # nothing listens there
    statuses: list[str] = []
    with caplog.at_level(logging.WARNING):
        run_bridge("127.0.0.1", port, statuses)
        wait_for(lambda: warnings(caplog), 30)
    [first, *_] = warnings(caplog)
    assert first["broker"] == f"127.0.0.1:{port}"
    assert first["reason"] == "Connection refused"
    assert first["count"] == "1"
    wait_for(
        lambda: f"broker 127.0.0.1:{port} not connected (Connection refused)" in statuses[-1], 30
    )


def test_a_name_that_does_not_resolve_is_logged_with_the_resolvers_error(run_bridge, caplog):
    with caplog.at_level(logging.WARNING):
        run_bridge("no-such-broker.invalid", 1883, [])
        wait_for(lambda: warnings(caplog), 30)
    reason = warnings(caplog)[0]["reason"]
    assert any(
        words in reason
        for words in ("Name or service not known", "Temporary failure", "No address")
    ), reason


def test_the_warning_comes_once_a_while_with_the_count_of_attempts(run_bridge, caplog, monkeypatch):
    # paho tries again after 3, 4, 8 ... s; at most one warning each 5 s counts them.
    monkeypatch.setattr(bridge_module, "WARN_EVERY", 5.0)
    with caplog.at_level(logging.WARNING):
        run_bridge("127.0.0.1", free_port(), [])
        wait_for(lambda: any(int(m["count"]) >= 2 for m in warnings(caplog)), 40)

"""The MQTT bridge against a hostile or careless client of the broker, on loopback.

A real mosquitto, a daemon on mock pins and ``party-button mqtt`` as its own process; each
attack bounded in count and time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from party_button.control.client import send_command
from party_button.mqtt.bridge import CommandRunner
from party_button.mqtt.entities import Topics
from party_button.testing import running_daemon, wait_for
from party_button.testing.mqtt import GIVE_UP, BridgeProcess, Broker, Recorder, retained


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path / "broker").start()
    yield broker
    broker.stop()


@pytest.fixture
def rig(tmp_path, broker, make_config, mock_factory) -> Iterator:
    """Start a daemon and the bridge (after ``before_bridge`` ran, if given); their topics."""
    socket_path = tmp_path / "run" / "control.sock"
    config = make_config({"mqtt": {"enabled": True, "host": "127.0.0.1", "port": broker.port}})
    topics = Topics.of(config.mqtt)
    opened: list = []

    def start(before_bridge=lambda topics: None):
        context = running_daemon(config, mock_factory, control_path=socket_path)
        daemon = context.__enter__()
        opened.append(context)
        before_bridge(topics)
        bridge = BridgeProcess(config.path, socket_path, tmp_path / "bridge.log")
        opened.append(bridge)

        def online() -> bool:
            held = retained(broker.port, f"{topics.base}/+")
            return held.get(topics.availability) == "online" and held.get(topics.daemon) == "online"

        wait_for(online, GIVE_UP)
        return daemon, bridge, topics

    yield start
    for thing in reversed(opened):
        if isinstance(thing, BridgeProcess):
            assert thing.stop() == 0, thing.output()
        else:
            thing.__exit__(None, None, None)


def test_a_retained_press_never_starts_a_party_and_is_cleared(rig, broker):
    def leave_retained_commands(topics: Topics) -> None:
        recorder = Recorder(broker.port, "unused/topic")
        recorder.publish(topics.command("start"), "PRESS", retain=True)
        recorder.publish(topics.command("stop"), "PRESS", retain=True)
        recorder.close()

    daemon, bridge, topics = rig(leave_retained_commands)
    commands = f"{topics.base}/command/+"
    wait_for(lambda: retained(broker.port, commands) == {}, GIVE_UP)
    # The bridge read both before it cleared them, and ran neither.
    assert bridge.output().count("ignored and cleared a retained command") == 2
    assert send_command(daemon.control.path, "status")["phase"] == "idle"


def test_a_storm_of_home_assistant_births_is_not_answered_each_time(rig, broker):
    _daemon, _bridge, topics = rig()
    config_topic = topics.discovery("button", "start")
    partying = topics.state("partying")
    recorder = Recorder(broker.port, config_topic, partying)
    try:
        wait_for(lambda: recorder.on(config_topic), GIVE_UP)  # the retained one
        for _ in range(50):
            recorder.publish(topics.birth, "online")
        # A press sent behind the storm: its state goes out after the bridge handled every
        # birth, and the broker keeps the bridge's order.
        recorder.publish(topics.command("start"), "PRESS")
        recorder.wait(partying, lambda payload: payload == "ON")
        # The retained config, at most one announcement at once and one at the end of
        # ANNOUNCE_EVERY seconds: never one for each birth.
        assert len(recorder.on(config_topic)) <= 3
    finally:
        recorder.close()


def test_refused_commands_are_logged_once_a_minute_with_a_count(tmp_path, caplog):
    runner = CommandRunner(tmp_path / "no-daemon.sock")  # every command fails to arrive
    runner.start()
    try:
        with caplog.at_level(logging.DEBUG, logger="party_button.mqtt.bridge"):
            for number in range(1, 31):
                runner.submit("press")
                wait_for(lambda number=number: len(caplog.records) >= number, GIVE_UP)
    finally:
        runner.close()
    logged = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert len(caplog.records) == 30
    assert len(logged) == 1, [r.getMessage() for r in logged]
    assert "MQTT press command not delivered" in logged[0].getMessage()

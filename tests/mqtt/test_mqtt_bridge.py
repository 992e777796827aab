"""The MQTT bridge between a daemon on mock pins and a real mosquitto, as Home Assistant sees it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from party_button.config.schema import Config
from party_button.control.client import send_command
from party_button.daemon.daemon import Daemon
from party_button.mqtt.entities import DEVICE_NAME, Topics
from party_button.testing import press, running_daemon, wait_for, write_tone
from party_button.testing.mqtt import GIVE_UP, BridgeProcess, Broker, Recorder, discovery, retained
from party_button.testing.ports import free_port
from party_button.testing.rooms import LEADER_ADDRESS, ROOM_ADDRESS, sync_section, sync_service

pytestmark = pytest.mark.usefixtures("long_songs")

# What Home Assistant's MQTT integration requires of each platform's discovery config.
REQUIRED = {
    "button": {"command_topic"},
    "binary_sensor": {"state_topic"},
    "sensor": {"state_topic"},
    "event": {"state_topic", "event_types"},
}


@pytest.fixture
def long_songs(song_folder: Path) -> None:
    """Songs long enough that a party lasts until the test ends it."""
    for song in song_folder.glob("*.ogg"):
        write_tone(song, 20.0)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path / "broker").start()
    yield broker
    broker.stop()


class Rig:
    """A broker, a daemon on mock pins with its control socket, and the bridge process."""

    def __init__(self, tmp_path: Path, broker: Broker, make_config, mock_factory) -> None:
        self.tmp_path = tmp_path
        self.broker = broker
        self.make_config = make_config
        self.factory = mock_factory
        self.socket_path = tmp_path / "run" / "control.sock"
        self.daemons: list = []
        self.bridge: BridgeProcess | None = None
        self.recorders: list[Recorder] = []
        self.config = self.write_config()
        self.topics = Topics.of(self.config.mqtt)

    def write_config(self, changes: dict | None = None, **mqtt_settings: object) -> Config:
        mqtt = {"enabled": True, "host": "127.0.0.1", "port": self.broker.port, **mqtt_settings}
        return self.make_config({"mqtt": mqtt, **(changes or {})})

    def start_daemon(self) -> Daemon:
        context = running_daemon(self.config, self.factory, control_path=self.socket_path)
        daemon = context.__enter__()
        self.daemons.append(context)
        return daemon

    def stop_daemon(self) -> None:
        self.daemons.pop().__exit__(None, None, None)
        self.factory.reset()

    def start_bridge(self, config: Path | None = None) -> BridgeProcess:
        """The bridge on the daemon's config, or on ``config``."""
        self.bridge = BridgeProcess(
            config or self.config.path, self.socket_path, self.tmp_path / "bridge.log"
        )
        return self.bridge

    def recorder(self, *topics: str) -> Recorder:
        recorder = Recorder(self.broker.port, *(topics or (f"{self.topics.base}/#",)))
        self.recorders.append(recorder)
        return recorder

    def wait_online(self) -> None:
        """Until both availability topics say online (retained, as Home Assistant reads them)."""

        def online() -> bool:
            held = retained(self.broker.port, f"{self.topics.base}/+")
            return (
                held.get(self.topics.availability) == "online"
                and held.get(self.topics.daemon) == "online"
            )

        wait_for(online, GIVE_UP)

    def close(self) -> None:
        for recorder in self.recorders:
            recorder.close()
        if self.bridge is not None:
            assert self.bridge.stop() == 0, self.bridge.output()
        while self.daemons:
            self.stop_daemon()


@pytest.fixture
def rig(tmp_path, broker, make_config, mock_factory) -> Iterator[Rig]:
    rig = Rig(tmp_path, broker, make_config, mock_factory)
    yield rig
    rig.close()


@pytest.fixture
def running(rig: Rig) -> Rig:
    """The rig with the daemon and the bridge started and online."""
    rig.start_daemon()
    rig.start_bridge()
    rig.wait_online()
    return rig


def configs_by_object(port: int) -> dict[str, dict]:
    return {topic.split("/")[-2]: config for topic, config in discovery(port).items()}


def test_discovery_configs_are_retained_with_every_required_key(running: Rig):
    topics = running.topics
    found = discovery(running.broker.port)
    objects = {topic.split("/")[1] + "/" + topic.split("/")[-2] for topic in found}
    assert objects == {
        "button/start",
        "button/stop",
        "binary_sensor/partying",
        "sensor/now_playing",
        "sensor/phase",
        "event/button",
        "binary_sensor/relay_lights",
        "binary_sensor/relay_beacon",
    }
    unique_ids = [config["unique_id"] for config in found.values()]
    assert len(set(unique_ids)) == len(unique_ids)
    for topic, config in found.items():
        platform = topic.split("/")[1]
        assert REQUIRED[platform] <= set(config), (topic, config)
        assert config["device"]["identifiers"] == [topics.node_id]
        assert config["device"]["name"] == DEVICE_NAME
        assert {"model", "sw_version"} <= set(config["device"])
        assert not config["name"].lower().startswith(DEVICE_NAME.lower())
        assert config["availability_mode"] == "all"
        assert config["availability"] == [
            {"topic": topics.availability},
            {"topic": topics.daemon},
        ]
        assert "availability_topic" not in config
        for key in ("command_topic", "state_topic", "json_attributes_topic"):
            if key in config:
                assert config[key].startswith(f"{topics.base}/")
    held = retained(running.broker.port, "#")
    assert all(len(payload) < 1024 for payload in held.values()), max(map(len, held.values()))
    # Each state topic but the event's holds its state, and no command topic holds anything.
    for config in found.values():
        if "state_topic" in config and "event_types" not in config:
            assert config["state_topic"] in held, config["state_topic"]
        if "json_attributes_topic" in config:
            assert json.loads(held[config["json_attributes_topic"]]) == {
                "position": 0,
                "phase": "idle",
            }
        if "command_topic" in config:
            assert config["command_topic"] not in held
    assert held[topics.state("phase")] == "idle"
    assert held[topics.state("partying")] == "OFF"
    assert held[topics.relay("lights")] == "OFF"


def test_the_start_and_stop_buttons_run_a_party_and_every_state_topic_follows(running: Rig):
    found = configs_by_object(running.broker.port)
    state_topics = {
        name: config["state_topic"] for name, config in found.items() if "state_topic" in config
    }
    recorder = running.recorder(
        *state_topics.values(), found["now_playing"]["json_attributes_topic"]
    )
    start, stop = found["start"], found["stop"]
    recorder.publish(start["command_topic"], start["payload_press"])
    on = found["relay_lights"]["payload_on"]
    recorder.wait(state_topics["relay_lights"], lambda p: p == on)
    recorder.wait(state_topics["relay_beacon"], lambda p: p == on)
    assert running.factory.pin(5).state == 0  # active low: on
    assert running.factory.pin(6).state == 1
    recorder.wait(state_topics["partying"], lambda p: p == found["partying"]["payload_on"])
    recorder.wait(state_topics["phase"], lambda p: p == "party")
    recorder.wait(state_topics["now_playing"], lambda p: p.startswith("song"))
    attributes = recorder.wait(
        found["now_playing"]["json_attributes_topic"], lambda p: json.loads(p)["position"] >= 1
    )
    assert json.loads(attributes.payload)["phase"] == "party"

    stopped_at = time.monotonic()
    recorder.publish(stop["command_topic"], stop["payload_press"])
    off = found["relay_lights"]["payload_off"]
    recorder.wait(state_topics["relay_lights"], lambda p: p == off, after=stopped_at)
    assert running.factory.pin(5).state == 1
    recorder.wait(state_topics["relay_beacon"], lambda p: p == off, after=stopped_at)
    off = found["partying"]["payload_off"]
    recorder.wait(state_topics["partying"], lambda p: p == off, after=stopped_at)
    recorder.wait(state_topics["now_playing"], lambda p: p == "None", after=stopped_at)


def test_the_physical_button_is_an_event_not_retained(running: Rig):
    event_topic = configs_by_object(running.broker.port)["button"]["state_topic"]
    recorder = running.recorder(event_topic)
    press(running.factory)
    message = recorder.wait(event_topic, lambda p: json.loads(p)["event_type"] == "press")
    assert json.loads(message.payload) == {"event_type": "press", "source": "button"}
    assert not message.retain
    running.factory.pin(17).drive_low()  # held past hold_time (1 s): the panic stop
    try:
        recorder.wait(event_topic, lambda p: json.loads(p)["event_type"] == "hold")
    finally:
        running.factory.pin(17).drive_high()
    assert event_topic not in retained(running.broker.port, event_topic)


def test_a_command_from_a_shell_is_an_event_with_its_source(running: Rig):
    event_topic = running.topics.button_event
    recorder = running.recorder(event_topic)
    send_command(running.socket_path, "press")
    message = recorder.wait(event_topic, lambda p: json.loads(p)["event_type"] == "press")
    assert json.loads(message.payload)["source"] == "control"
    assert "uid" in json.loads(message.payload)


def test_a_broker_restart_ends_with_everything_published_again(running: Rig):
    before = retained(running.broker.port, "#")
    assert before
    running.broker.stop()
    send_command(running.socket_path, "press")  # the daemon goes on without the broker
    wait_for(lambda: running.factory.pin(5).state == 0)
    running.broker.start()  # empty: nothing retained survives
    expected = {
        **before,
        running.topics.state("phase"): "party",
        running.topics.state("partying"): "ON",
        running.topics.relay("lights"): "ON",
        running.topics.relay("beacon"): "ON",
    }
    # The position moves on every second; everything else must be back as it was.
    moving = running.topics.state("playing/attributes")

    def republished() -> bool:
        now = retained(running.broker.port, "#")
        return {
            k: v for k, v in now.items() if k not in (moving, running.topics.state("playing"))
        } == {
            k: v for k, v in expected.items() if k not in (moving, running.topics.state("playing"))
        }

    wait_for(republished, GIVE_UP)
    assert running.bridge is not None and running.bridge.alive()


def test_a_broker_that_is_down_at_start_is_waited_for(rig: Rig):
    rig.broker.stop()
    rig.start_daemon()
    rig.start_bridge()
    press(rig.factory)  # the daemon does not wait for the bridge nor the broker
    wait_for(lambda: rig.factory.pin(5).state == 0)
    rig.broker.start()
    rig.wait_online()
    wait_for(lambda: retained(rig.broker.port, rig.topics.relay("lights")) != {}, GIVE_UP)
    assert len(discovery(rig.broker.port)) == 8


def test_the_daemon_stopped_turns_availability_offline_and_back(running: Rig):
    recorder = running.recorder(running.topics.daemon)
    running.stop_daemon()
    recorder.wait(running.topics.daemon, lambda p: p == "offline")
    assert retained(running.broker.port, running.topics.daemon) == {
        running.topics.daemon: "offline"
    }
    running.start_daemon()
    running.wait_online()


def test_the_bridge_stopped_or_killed_is_offline(running: Rig):
    assert running.bridge is not None
    assert running.bridge.stop() == 0
    held = retained(running.broker.port, running.topics.availability)
    assert held == {running.topics.availability: "offline"}
    running.start_bridge()
    running.wait_online()
    running.bridge.stop(signal.SIGKILL)  # the broker sends the last will
    wait_for(
        lambda: (
            retained(running.broker.port, running.topics.availability)
            == {running.topics.availability: "offline"}
        ),
        GIVE_UP,
    )
    running.bridge = None


def test_home_assistant_coming_back_gets_everything_again(running: Rig):
    recorder = running.recorder(f"{running.topics.discovery_prefix}/#")
    config_topic = running.topics.discovery("button", "start")
    recorder.publish(config_topic, "", retain=True)  # as if Home Assistant's broker lost it
    assert config_topic not in retained(running.broker.port, config_topic)
    born_at = time.monotonic()
    recorder.publish(running.topics.birth, "online")
    recorder.wait(config_topic, lambda p: p != "", after=born_at)
    assert json.loads(retained(running.broker.port, config_topic)[config_topic])["name"] == (
        "Start party"
    )


def test_a_relay_removed_by_reload_loses_its_entity(running: Rig):
    beacon = running.topics.discovery("binary_sensor", "relay_beacon")
    assert beacon in discovery(running.broker.port)
    running.write_config({"relays": [{"name": "lights", "pin": "GPIO5"}]})
    assert send_command(running.socket_path, "reload")["ok"]
    wait_for(lambda: beacon not in discovery(running.broker.port), GIVE_UP)
    assert running.topics.discovery("binary_sensor", "relay_lights") in discovery(
        running.broker.port
    )
    assert running.topics.relay("beacon") not in retained(running.broker.port, "#")


def test_a_stale_relay_found_on_the_broker_at_start_is_cleared(rig: Rig):
    ghost = rig.topics.discovery("binary_sensor", "relay_ghost")
    recorder = rig.recorder()
    recorder.publish(ghost, json.dumps({"name": "Relay ghost", "state_topic": "x"}), retain=True)
    rig.start_daemon()
    rig.start_bridge()
    rig.wait_online()
    wait_for(lambda: ghost not in discovery(rig.broker.port), GIVE_UP)
    assert len(discovery(rig.broker.port)) == 8


def test_a_flood_of_commands_is_bounded_by_the_daemons_rules(running: Rig):
    event_topic = running.topics.button_event
    recorder = running.recorder(event_topic)
    start = running.topics.command("start")
    for _ in range(200):
        recorder.client.publish(start, "PRESS", qos=0)
    # A stop right behind the flood is never dropped: the presses still waiting give way.
    recorder.publish(running.topics.command("stop"), "PRESS")
    recorder.wait(event_topic, lambda p: json.loads(p)["event_type"] == "press")
    wait_for(lambda: running.factory.pin(5).state == 1, GIVE_UP)
    assert running.bridge is not None and running.bridge.alive()
    presses = [
        m for m in recorder.on(event_topic) if json.loads(m.payload)["event_type"] == "press"
    ]
    assert len(presses) <= 5  # the backlog of 4 and the one being sent
    # Garbage on the command topics is ignored, and the bridge still obeys afterwards.
    wait_for(lambda: send_command(running.socket_path, "status")["phase"] == "idle", GIVE_UP)
    recorder.publish(running.topics.command("start"), "x" * 10000)
    recorder.publish(running.topics.command("nonsense"), "PRESS")
    recorder.publish(running.topics.command("start"), "PRESS")
    wait_for(lambda: running.factory.pin(5).state == 0, GIVE_UP)
    assert "ignored b'xxxxxxxx" in running.bridge.output()


def test_mqtt_5_works_as_well(rig: Rig):
    rig.config = rig.write_config(protocol=5)
    rig.start_daemon()
    rig.start_bridge()
    rig.wait_online()
    recorder = rig.recorder(rig.topics.relay("lights"))
    recorder.publish(rig.topics.command("start"), "PRESS")
    recorder.wait(rig.topics.relay("lights"), lambda p: p == "ON")
    assert "MQTT 5" in rig.bridge.output()


@pytest.mark.parametrize("password", ["right", "wrong"])
def test_a_broker_with_a_password(tmp_path, make_config, mock_factory, password):
    broker = Broker(
        tmp_path / "broker", extra=f"allow_anonymous false\npassword_file {tmp_path / 'users'}\n"
    )
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(tmp_path / "users"), "pb", "right"], check=True
    )
    broker.start()
    secret = tmp_path / "secret"
    secret.write_text(f"{password}\n")
    secret.chmod(0o600)
    rig = Rig(tmp_path, broker, make_config, mock_factory)
    try:
        rig.config = rig.write_config(username="pb", password_file=str(secret))
        rig.start_daemon()
        rig.start_bridge()
        assert rig.bridge is not None
        if password == "right":
            wait_for(lambda: "connected to the broker" in rig.bridge.output(), GIVE_UP)
        else:
            wait_for(lambda: "the broker refused the connection" in rig.bridge.output(), GIVE_UP)
            assert rig.bridge.alive()
            assert "right" not in rig.bridge.output() and "wrong" not in rig.bridge.output()
    finally:
        rig.close()
        broker.stop()


def documented_attributes() -> dict[str, dict]:
    """The attributes the Home Assistant page shows for the rooms and the sync role."""
    text = (Path(__file__).resolve().parents[2] / "docs/howto/home-assistant.md").read_text()
    found = {}
    for example in re.findall(r"`(\{\"rooms?\": .*?\})`", text):
        found["rooms" if example.startswith('{"rooms"') else "sync_role"] = json.loads(example)
    return found


def test_the_sync_role_and_the_rooms_in_the_party_follow_the_sync_service(rig: Rig):
    """With sync on, the device has the sync role and the rooms in the party (every room's
    state as attributes), from this Pi's own sync service; the daemon's config has no sync
    section (no Snapcast here), the bridge's has. Turned off, both entities go."""
    port = free_port()
    leader = sync_section(port, role="leader", room="living-room")
    mqtt = {"enabled": True, "host": "127.0.0.1", "port": rig.broker.port}
    bridge_config = rig.make_config({"mqtt": mqtt, "sync": leader}, "bridge.yaml")
    topics = rig.topics
    rig.start_daemon()
    rig.start_bridge(bridge_config.path)
    rig.wait_online()
    found = configs_by_object(rig.broker.port)
    role, rooms = found["sync_role"], found["rooms"]
    for config in (role, rooms):
        assert REQUIRED["sensor"] <= set(config)
        assert config["availability"] == [{"topic": topics.availability}]
        assert config["device"]["identifiers"] == [topics.node_id]
    assert (role["name"], rooms["name"]) == ("Sync role", "Rooms in the party")
    assert role["options"] == ["leader", "room"]

    def held(topic: str) -> str | None:
        return retained(rig.broker.port, topic).get(topic)

    def attributes() -> dict:
        return json.loads(held(rooms["json_attributes_topic"]) or "{}")

    # the four states go out in one go, the rooms' attributes last
    wait_for(lambda: held(rooms["json_attributes_topic"]) is not None, GIVE_UP)
    assert held(role["state_topic"]) == "leader"
    assert held(rooms["state_topic"]) == "None"  # unknown: no sync service answers yet
    error = json.loads(held(role["json_attributes_topic"]))["error"]
    assert error.startswith(f"no answer from the sync service on 127.0.0.1:{port}")
    recorder = rig.recorder(rooms["state_topic"], rooms["json_attributes_topic"])
    with sync_service(rig.tmp_path / "leader", leader, rig.socket_path, LEADER_ADDRESS):
        recorder.wait(rooms["state_topic"], lambda p: p == "0")
        assert json.loads(held(role["json_attributes_topic"])) == {
            "room": "living-room",
            "leader": None,
            "error": None,
        }
        kitchen = sync_section(port, role="room", room="kitchen", leader=LEADER_ADDRESS)
        with sync_service(rig.tmp_path / "kitchen", kitchen, rig.tmp_path / "k.sock", ROOM_ADDRESS):
            wait_for(lambda: attributes().get("rooms", {}).get("kitchen") == "no-speaker", GIVE_UP)
            assert attributes()["rooms"]["living-room"] == "ready"
            recorder.publish(topics.command("start"), "PRESS")
            recorder.wait(rooms["state_topic"], lambda p: p == "1")
            wait_for(lambda: attributes()["rooms"]["living-room"] == "party", GIVE_UP)
            stopped_at = time.monotonic()
            recorder.publish(topics.command("stop"), "PRESS")
            recorder.wait(rooms["state_topic"], lambda p: p == "0", after=stopped_at)
            # the Home Assistant page's examples have the real attributes
            shown = documented_attributes()
            assert set(shown["rooms"]) == set(attributes())
            assert set(shown["sync_role"]) == set(json.loads(held(role["json_attributes_topic"])))
        wait_for(lambda: attributes()["rooms"].get("kitchen") == "gone", GIVE_UP)
        assert attributes()["why"]["kitchen"].startswith("its sync service hung up")
    assert rig.bridge is not None and rig.bridge.stop() == 0
    rig.start_bridge()  # sync off: the rooms' entities and states are cleared
    for entity in (rooms, role):
        wait_for(lambda e=entity: held(e["json_attributes_topic"]) is None, GIVE_UP)
        assert held(entity["state_topic"]) is None
    assert len(discovery(rig.broker.port)) == 8

"""The mqtt: section (FILE:LINE problems, defaults, the password file) and the pure payloads."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from party_button.config.mqtt import MqttConfig, load_mqtt_config, node_name, read_password
from party_button.config.schema import load_config
from party_button.errors import ConfigError
from party_button.mqtt.entities import (
    DEVICE_NAME,
    Topics,
    discovery_configs,
    event_payload,
    relay_slug,
    state_payloads,
)
from party_button.testing.config import GOOD, problems_of

REPO = Path(__file__).resolve().parents[2]


def with_mqtt(section: str) -> str:
    return GOOD + "mqtt:\n" + "".join(f"  {line}\n" for line in section.splitlines())


def test_defaults(tmp_path: Path, song_folder: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD)
    config = load_config(path).mqtt
    assert config == MqttConfig()
    assert (config.enabled, config.host, config.broker_port) == (False, "localhost", 1883)
    assert config.topic_base() == f"party-button/{node_name()}"
    assert config.client() == f"party-button-{node_name()}"
    assert re.fullmatch(r"[a-z0-9_-]{1,32}", node_name())
    assert MqttConfig(tls=True).broker_port == 8883


def test_a_full_section_is_read(tmp_path: Path, song_folder: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("hunter2\n")
    secret.chmod(0o640)
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    path = tmp_path / "config.yaml"
    path.write_text(
        with_mqtt(
            "enabled: true\nhost: broker.lan\nport: 8884\nprotocol: 5\nusername: pb\n"
            "password_file: secret\ntls: true\nca_file: ca.pem\nclient_id: pb-1\n"
            "base_topic: house/party\ndiscovery_prefix: ha\nkeepalive: 20"
        )
    )
    config = load_config(path).mqtt
    assert config == MqttConfig(
        enabled=True,
        host="broker.lan",
        port=8884,
        protocol="5",
        username="pb",
        password_file=secret,
        tls=True,
        ca_file=ca,
        client_id="pb-1",
        base_topic="house/party",
        discovery_prefix="ha",
        keepalive=20,
    )
    assert load_mqtt_config(path) == config
    assert read_password(secret) == "hunter2"


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("hostt: x", "10: mqtt.hostt: unknown key (did you mean 'host'?)"),
        ("host: mqtt://broker", "10: mqtt.host: expected a host name or address, not a URL"),
        ("host: 'a b'", "10: mqtt.host: expected a host name or address"),
        ("port: 0", "10: mqtt.port: must be at least 1, got 0"),
        ("port: 70000", "10: mqtt.port: must be at most 65535, got 70000"),
        ("protocol: 4", "10: mqtt.protocol: expected one of 3.1.1, 5, got '4'"),
        ("enabled: yes please", "10: mqtt.enabled: expected true or false"),
        ("username: u\npassword_file: nowhere", "11: mqtt.password_file: file"),
        ("tls: true\nca_file: nowhere", "11: mqtt.ca_file: file"),
        ("client_id: 'has space'", "10: mqtt.client_id: expected 1 to 64 of the characters"),
        ("base_topic: a/+/b", "10: mqtt.base_topic: must not hold the wildcards + or #"),
        ("base_topic: a/#", "10: mqtt.base_topic: must not hold the wildcards + or #"),
        ("base_topic: /a", "10: mqtt.base_topic: must not start or end with /"),
        ("base_topic: a//b", "10: mqtt.base_topic: must not start or end with /"),
        ("base_topic: $SYS/x", "10: mqtt.base_topic: must not start with $"),
        ('base_topic: "a\\x01b"', "10: mqtt.base_topic: must hold only printable characters"),
        (f"discovery_prefix: {'x' * 129}", "10: mqtt.discovery_prefix: is longer than 128"),
        ("keepalive: 1", "10: mqtt.keepalive: must be at least 5, got 1"),
        ("username: [a]", "10: mqtt.username: expected a string, got a list"),
    ],
)
def test_each_mistake_is_reported_at_its_line(
    tmp_path: Path, song_folder: Path, section: str, problem: str
) -> None:
    found = problems_of(tmp_path, with_mqtt(section))
    assert len(found) == 1 and found[0].startswith(problem), found


def test_every_mistake_at_once_and_in_check_config(tmp_path: Path, song_folder: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(with_mqtt("port: -1\nca_file: nowhere.pem\nbase_topic: a/#"))
    result = subprocess.run(
        [sys.executable, "-m", "party_button", "check-config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert [line.split(": ")[1] for line in lines] == [
        "mqtt.port",
        "mqtt.ca_file",
        "mqtt.ca_file",
        "mqtt.base_topic",
    ]
    assert all(line.startswith(f"{path}:") for line in lines)
    assert "Traceback" not in result.stderr


def test_a_password_file_that_everyone_may_read_is_refused(tmp_path: Path, song_folder: Path):
    secret = tmp_path / "secret"
    secret.write_text("hunter2\n")
    secret.chmod(0o644)
    found = problems_of(tmp_path, with_mqtt("username: pb\npassword_file: secret"))
    assert found == [
        f"11: mqtt.password_file: {str(secret)!r} may be read by everyone (mode 0644): chmod o-r it"
    ]
    secret.chmod(0o600)
    found = problems_of(tmp_path, with_mqtt("password_file: secret"))
    assert found == ["10: mqtt.password_file: needs mqtt.username"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"\n", "holds no password"), (b"x" * 2000, "longer than 1024"), (b"\xff\n", "not UTF-8")],
)
def test_a_bad_password_file_is_a_clear_error(tmp_path: Path, content: bytes, problem: str):
    secret = tmp_path / "secret"
    secret.write_bytes(content)
    secret.chmod(0o600)
    with pytest.raises(ConfigError, match=problem):
        read_password(secret)


def test_the_bridge_refuses_to_run_when_not_enabled(tmp_path: Path, song_folder: Path):
    path = tmp_path / "config.yaml"
    path.write_text(GOOD)
    result = subprocess.run(
        [sys.executable, "-m", "party_button", "mqtt", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == f"{path}: mqtt.enabled is not true: nothing to bridge\n"


def test_relay_slugs_are_topic_safe_and_never_collide() -> None:
    names = ["lights", "Lights", "fog machine", "fog_machine", "a/b", "+#", "x" * 500, "ü"]
    slugs = [relay_slug(name) for name in names]
    assert slugs[0] == "lights"
    assert len(set(slugs)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9_]{1,40}", slug) for slug in slugs), slugs


def test_discovery_payloads_stay_small_and_names_do_not_repeat_the_device() -> None:
    topics = Topics.of(MqttConfig(base_topic="party-button/pi"))
    configs = discovery_configs(topics, ["x" * 500, "lights"])
    assert len(configs) == 8
    for config in configs.values():
        assert len(json.dumps(config)) < 1024
        assert not config["name"].startswith(DEVICE_NAME)
    states = state_payloads(
        topics, {"phase": "ending", "relays": {"lights": True}, "playing": None}
    )
    assert states[topics.state("partying")] == "ON"
    assert states[topics.state("playing")] == "None"
    assert states[topics.relay("lights")] == "ON"
    assert event_payload({"event": "next", "source": "control"}) is None
    assert json.loads(event_payload({"event": "hold", "source": "button"}) or "") == {
        "event_type": "hold",
        "source": "button",
    }


def docs_automations() -> list[dict]:
    """The Home Assistant automations of the Home Assistant how-to, parsed."""
    text = (REPO / "docs" / "howto" / "home-assistant.md").read_text()
    section = text.split("## Home Assistant automations", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert blocks, "no YAML in the how-to's automations section"
    return [item for block in blocks for item in yaml.safe_load(block)]


def entity_ids(relays: list[str]) -> set[str]:
    """The entity ids Home Assistant gives the discovered entities: the device's name and
    the entity's, lower case, anything else an underscore (the rooms' too: sync on)."""
    topics = Topics.of(MqttConfig())
    found = set()
    for topic, config in discovery_configs(topics, relays, sync=True).items():
        name = re.sub(r"[^a-z0-9]+", "_", f"{DEVICE_NAME} {config['name']}".lower()).strip("_")
        found.add(f"{topic.split('/')[1]}.{name}")
    return found


def test_the_documented_automations_use_entities_that_exist() -> None:
    automations = docs_automations()
    assert len(automations) >= 2
    text = json.dumps(automations)
    used = set(
        re.findall(r"\b(?:button|binary_sensor|sensor|event)\.party_button_[a-z0-9_]+", text)
    )
    assert used, text
    assert used <= entity_ids(["lights", "beacon", "fog", "strobe"]), used
    for automation in automations:
        assert {"alias", "triggers", "actions"} <= set(automation), automation

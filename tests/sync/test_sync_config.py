"""The sync: section: defaults, a full section, and FILE:LINE problems from check-config."""

from __future__ import annotations

from pathlib import Path

import pytest

from party_button.config.location import SHIPPED_CONFIG
from party_button.config.mqtt import node_name
from party_button.config.schema import load_config
from party_button.config.sync import DEFAULT_BUFFER_MS, SyncConfig, load_sync_config
from party_button.testing.config import GOOD, problems_of, run_cli


def with_sync(section: str) -> str:
    return GOOD + "sync:\n" + "".join(f"  {line}\n" for line in section.splitlines())


def test_sync_is_off_by_default(tmp_path: Path, song_folder: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD)
    config = load_config(path).sync
    assert config == SyncConfig()
    assert (config.enabled, config.role, config.buffer_ms) == (False, "leader", DEFAULT_BUFFER_MS)
    assert config.room_name() == node_name()
    assert config.leader_host() == "127.0.0.1"


def test_a_room_is_read(tmp_path: Path, song_folder: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        with_sync(
            "enabled: true\nrole: room\nleader: 10.0.0.2\nroom: kitchen\nbuffer_ms: 400\n"
            "port: 1800\npipe: fifo"
        )
    )
    config = load_config(path).sync
    assert config == SyncConfig(
        enabled=True,
        role="room",
        leader="10.0.0.2",
        room="kitchen",
        buffer_ms=400,
        port=1800,
        pipe=tmp_path / "fifo",
    )
    assert (config.room_name(), config.leader_host()) == ("kitchen", "10.0.0.2")
    assert load_sync_config(path) == config


def test_the_shipped_section_is_read() -> None:
    assert load_sync_config(SHIPPED_CONFIG) == SyncConfig()


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("rolle: room", "10: sync.rolle: unknown key (did you mean 'role'?)"),
        ("role: follower", "10: sync.role: expected one of leader, room, got 'follower'"),
        ("enabled: true\nrole: room", "10: sync.leader: is required of a room"),
        ("role: leader\nleader: pi", "11: sync.leader: only a room names its leader"),
        ("role: room\nleader: 'http://pi/'", "11: sync.leader: expected a host name or address"),
        ("room: 'a/b'", "10: sync.room: expected 1 to 40 of the characters"),
        ("buffer_ms: 20", "10: sync.buffer_ms: must be at least 100, got 20"),
        ("buffer_ms: 1.5", "10: sync.buffer_ms: expected an integer, got float 1.5"),
        ("port: 0", "10: sync.port: must be at least 1, got 0"),
        ("enabled: sure", "10: sync.enabled: expected true or false"),
    ],
)
def test_bad_sync_settings_name_file_and_line(
    tmp_path: Path, song_folder: Path, section: str, problem: str
) -> None:
    problems = problems_of(tmp_path, with_sync(section))
    assert [line for line in problems if line.startswith(problem)], problems


def test_check_config_refuses_a_bad_sync_section(tmp_path: Path, song_folder: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(with_sync("enabled: true\nrole: room\nbuffer_ms: 5"))
    result = run_cli("check-config", str(bad))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{bad}:10: sync.leader: is required of a room (the leader's host name or address)",
        f"{bad}:12: sync.buffer_ms: must be at least 100, got 5",
    ]

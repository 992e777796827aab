"""Each room's state, as ``party-button status --sync`` shows it, on loopback: the leader
lists every room with the state the room reports (and the rooms that left as gone); a room
says whether it follows, has lost its leader, or parties alone."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from party_button.sync_status import GONE_KEPT, ROOM_STATES, ask
from party_button.testing import running_daemon, wait_for
from party_button.testing.ports import free_port
from party_button.testing.rooms import (
    LEADER_ADDRESS,
    ROOM_ADDRESS,
    Stranger,
    sync_section,
    sync_service,
)
from party_button.testing.sync import party_button

WAIT = 20.0
ROOMS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "howto" / "rooms.md"


def documented_status() -> dict:
    """The leader's ``status --sync`` example of the rooms page."""
    (block,) = re.findall(r"```json\n(.*?)```", ROOMS_PAGE.read_text(), re.DOTALL)
    return json.loads(block)


def status_sync(socket: Path, address: str, port: int) -> dict:
    """``party-button status --sync ADDRESS:PORT``, as an admin runs it."""
    command = party_button("status", "--socket", str(socket), "--sync", f"{address}:{port}")
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["sync"]


def test_the_leaders_status_lists_every_room_with_its_state(make_config, mock_factory, tmp_path):
    port = free_port()
    config = make_config()
    socket = tmp_path / "run" / "control.sock"
    leader = sync_section(port, role="leader", room="living-room")
    kitchen = sync_section(port, role="room", room="kitchen", leader=LEADER_ADDRESS)
    with (
        running_daemon(config, mock_factory, control_path=socket),
        sync_service(tmp_path / "leader", leader, socket, LEADER_ADDRESS),
    ):
        with sync_service(tmp_path / "kitchen", kitchen, tmp_path / "k.sock", ROOM_ADDRESS):
            wait_for(
                lambda: (
                    ask(LEADER_ADDRESS, port)["rooms"].get("kitchen", {}).get("state")
                    == "no-speaker"
                ),
                WAIT,
            )
            sync = status_sync(socket, LEADER_ADDRESS, port)
            assert (sync["role"], sync["room"], sync["phase"]) == ("leader", "living-room", "idle")
            assert sync["rooms"]["kitchen"] == {
                "address": "127.0.0.1",  # where the room's connection comes from
                "state": "no-speaker",
                "why": None,
            }
            shown = documented_status()  # the page's example: real keys, real states
            assert set(shown) <= set(sync)
            for example in shown["rooms"].values():
                assert set(example) == set(sync["rooms"]["kitchen"])
                assert example["state"] in ROOM_STATES
            room = status_sync(socket, ROOM_ADDRESS, port)
            assert (room["role"], room["room"], room["state"]) == ("room", "kitchen", "no-speaker")
            assert room["connected"] is True
        wait_for(lambda: ask(LEADER_ADDRESS, port)["rooms"]["kitchen"]["state"] == "gone", WAIT)
        # A room back on a new connection is not gone when its old one ends; one that goes
        # silent (no ping for 3 s) is gone while its connection lasts.
        first = Stranger(port, "twin", "party", None)
        second = Stranger(port, "twin", "ready", None)
        wait_for(lambda: ask(LEADER_ADDRESS, port)["rooms"]["twin"]["state"] == "ready", WAIT)
        first.close()
        marker = Stranger(port, "marker", "ready", None)  # its end comes after the first's
        marker.close()
        wait_for(lambda: ask(LEADER_ADDRESS, port)["rooms"]["marker"]["state"] == "gone", WAIT)
        assert ask(LEADER_ADDRESS, port)["rooms"]["twin"]["state"] == "ready"
        wait_for(lambda: ask(LEADER_ADDRESS, port)["rooms"]["twin"]["state"] == "gone", WAIT)
        assert ask(LEADER_ADDRESS, port)["rooms"]["twin"]["why"] == "no word for 3 s"
        second.close()
        # Rooms that leave are remembered as gone, the latest GONE_KEPT of them only.
        for number in range(GONE_KEPT + 3):
            stranger = Stranger(port, f"guest {number}", "ready", None)
            wait_for(lambda n=number: f"guest {n}" in ask(LEADER_ADDRESS, port)["rooms"], WAIT)
            stranger.close()
        wait_for(lambda: ask(LEADER_ADDRESS, port)["rooms"][f"guest {GONE_KEPT + 2}"]["state"]
                 == "gone", WAIT)  # fmt: skip
        rooms = status_sync(socket, LEADER_ADDRESS, port)["rooms"]
        assert len(rooms) == GONE_KEPT
        assert all(room["state"] == "gone" for room in rooms.values())
        assert "kitchen" not in rooms and "guest 0" not in rooms


def test_a_room_without_its_leader_says_so_and_parties_alone(make_config, mock_factory, tmp_path):
    port = free_port()
    config = make_config()
    socket = tmp_path / "run" / "control.sock"
    room = sync_section(port, role="room", room="kitchen", leader=LEADER_ADDRESS)
    with (
        running_daemon(config, mock_factory, control_path=socket),
        sync_service(tmp_path / "kitchen", room, socket, ROOM_ADDRESS),
    ):
        wait_for(lambda: ask(ROOM_ADDRESS, port)["why"] is not None, WAIT)
        sync = status_sync(socket, ROOM_ADDRESS, port)
        assert sync["state"] == "no-leader"
        assert sync["why"].startswith(f"lost the leader {LEADER_ADDRESS}")
        assert (
            subprocess.run(party_button("press", "--socket", str(socket)), timeout=60).returncode
            == 0
        )
        wait_for(lambda: ask(ROOM_ADDRESS, port)["state"] == "alone", WAIT)
        assert (
            subprocess.run(party_button("stop", "--socket", str(socket)), timeout=60).returncode
            == 0
        )
        wait_for(lambda: ask(ROOM_ADDRESS, port)["state"] == "no-leader", WAIT)

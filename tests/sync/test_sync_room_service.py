"""A room's sync service against a leader that speaks badly: it says why, and goes on."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from party_button.config.sync import SnapcastPorts, SyncConfig
from party_button.sync.messages import encode, read_message
from party_button.sync.service import RoomService
from party_button.testing.ports import free_port


def test_a_message_the_room_cannot_read_drops_the_leader_not_the_service(tmp_path: Path) -> None:
    port = free_port()
    sync = SyncConfig(enabled=True, role="room", leader="127.0.0.1", room="kitchen", port=port)
    service = RoomService(
        sync, tmp_path / "no-daemon.sock", ports=SnapcastPorts(control=free_port()),
        listen="127.0.0.2",
    )  # fmt: skip
    hellos: list[dict] = []

    async def leader(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hello = await read_message(reader)
        assert hello is not None
        hellos.append(hello)
        writer.write(encode("party", phase="party", song_offset=0, song_start="soon", buffer=1))
        await writer.drain()
        await reader.read()  # until the room hangs up

    async def scenario() -> None:
        server = await asyncio.start_server(leader, "127.0.0.1", port)
        stop = asyncio.Event()
        async with server:
            running = asyncio.create_task(service.run(stop))
            for _ in range(500):  # 10 s at most
                if len(hellos) >= 2:  # it came back after the bad message
                    break
                await asyncio.sleep(0.02)
            stop.set()
            await asyncio.wait_for(running, 10)

    asyncio.run(scenario())
    assert [hello["room"] for hello in hellos[:2]] == ["kitchen", "kitchen"]
    assert "a party message the room cannot read" in str(service.why)


def test_the_shared_time_is_the_first_sample_plus_the_buffer_less_latency_and_offset(
    tmp_path: Path,
) -> None:
    sync = SyncConfig(enabled=True, role="room", leader="10.0.0.2", room="kitchen")
    service = RoomService(sync, tmp_path / "no-daemon.sock")
    service.leader_party = {"phase": "party", "song_start": 100.0, "buffer": 1.0}
    assert service.shared_start() is None  # no estimate of the leader's clock yet
    service.estimator.add(sent=50.0, leader=57.5, received=50.0)  # the leader is 7.5 s ahead
    service.latency = 0.15
    assert service.shared_start() == 100.0 + 1.0 - 0.15 - 7.5


def test_a_restart_of_the_streams_timestamps_holds_from_when_it_is_heard(tmp_path: Path) -> None:
    """snapserver restarting its timestamps mid-song moves the song's start (later); what
    is heard before that point of the song keeps the old start, so no cue comes early."""
    now = [1000.0]
    sync = SyncConfig(enabled=True, role="room", leader="10.0.0.2", room="kitchen")
    service = RoomService(sync, tmp_path / "no-daemon.sock", clock=lambda: now[0])
    service.estimator.add(sent=1000.0, leader=1000.0, received=1000.0)
    service.speaker = True
    service.leader_party = {
        "phase": "party",
        "song": "a.ogg",
        "song_offset": 0,
        "song_start": 990.0,
        "buffer": 1.0,
    }

    async def scenario() -> list[float | None]:
        seen = [service.order().heard_at + (now[0] - time.monotonic())]  # 991 in room time
        # a restart 30 s into the song: the rest of the song is 70 ms later
        service.leader_party |= {"song_start": 990.07, "song_start_from": 30.0}
        now[0] = 1010.0  # 19 s into the song as heard: the restart is not heard yet
        seen.append(service.order().heard_at + (now[0] - time.monotonic()))
        assert service._switch is not None  # the new start is sent again when it holds
        service._switch.cancel()
        now[0] = 1021.5  # 30.5 s in: heard from now on
        seen.append(service.order().heard_at + (now[0] - time.monotonic()))
        return seen

    seen = asyncio.run(scenario())
    assert [round(at, 3) for at in seen] == [991.0, 991.0, 991.07]

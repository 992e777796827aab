"""A room's daemon follows the leader's party through ``follow`` on its control socket: the
leader's song (not in the room's library) with its beat grid, its show from when its first
sample is heard here, at the right place when that is past; presses go to the leader while
linked."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from party_button.config.schema import Config
from party_button.config.sync import SyncConfig
from party_button.control.client import send_command, send_follow
from party_button.control.follow import MAX_BEATS, FollowOrder, encode_follow
from party_button.daemon.daemon import Daemon
from party_button.sync.service import RoomService
from party_button.testing import LIGHTS, history, press, running_daemon, wait_for
from party_button.testing.sync import BEAT_SHOW

BEAT = 0.5  # seconds between two beats of the leader's song
SHOW = BEAT_SHOW
ROOM = {"sync": {"enabled": True, "role": "room", "leader": "10.0.0.2"}, **SHOW}


def _order(heard_at: float, *, song: str | None = "leaders-song.ogg", id: int = 7) -> FollowOrder:
    beats = tuple(0.25 + BEAT * k for k in range(400))
    return FollowOrder(
        song, id, heard_at, lease=10.0, length=200.0, tempo_bpm=120.0,
        beats=beats, downbeats=beats[::4], beats_per_bar=4,
    )  # fmt: skip


def _follow(path: Path | None, order: FollowOrder) -> dict:
    """The daemon's answer to ``order``, sent again while refused by the command rate limit."""
    assert path is not None
    answer: dict = {}

    def answered() -> bool:
        nonlocal answer
        answer = send_follow(path, order)
        return "too many follow" not in str(answer.get("error"))

    wait_for(answered, timeout=5, every=0.02)
    return answer


@pytest.fixture
def room(
    make_config: Callable[..., Config], mock_factory: MockFactory, tmp_path: Path
) -> Iterator[Daemon]:
    with running_daemon(
        make_config(ROOM), mock_factory, control_path=tmp_path / "control.sock"
    ) as daemon:
        yield daemon


def _lights_on_times(factory: MockFactory, since: float) -> list[float]:
    """When the active-low lights relay switched on, from ``since`` (its states cleared then)."""
    times, at = [], since
    for state in factory.pin(LIGHTS).states[1:]:
        at += state.timestamp
        if not state.state:
            times.append(at)
    return times


def test_a_room_plays_the_leaders_song_on_its_grid_from_when_it_is_heard(
    room: Daemon, mock_factory: MockFactory
) -> None:
    mock_factory.pin(LIGHTS).clear_states()
    since = time.monotonic()
    heard_at = since + 0.6
    answer = _follow(room.control_path, _order(heard_at))
    assert answer["ok"] and answer["phase"] == "party", answer
    assert answer["playing"] == "leaders-song.ogg"  # not a song of this room's library
    assert not any(answer["relays"].values())  # nothing before its first sample is heard
    wait_for(lambda: len(_lights_on_times(mock_factory, since)) >= 4, timeout=10)
    for index, on in enumerate(_lights_on_times(mock_factory, since)[:4]):
        beat = heard_at + 0.25 + BEAT * index
        assert beat - 0.002 <= on < beat + 0.1, (index, on - beat)
    # the leader's party ends: so does the room's
    over = _follow(room.control_path, _order(0.0, song=None))
    assert over["ok"] and over["phase"] == "ending", over
    history(room).wait(lambda s: s.phase in ("cooldown", "idle") and not any(s.relays.values()))


def test_a_room_that_joins_mid_song_starts_its_show_at_the_current_beat(
    room: Daemon, mock_factory: MockFactory
) -> None:
    heard_at = time.monotonic() - 60.3  # a minute in: 0.05 s into the flash of a beat
    mock_factory.pin(LIGHTS).clear_states()
    since = time.monotonic()
    answer = _follow(room.control_path, _order(heard_at))
    assert answer["ok"] and answer["phase"] == "party", answer
    assert answer["position"] > 60.0
    wait_for(lambda: len(_lights_on_times(mock_factory, since)) >= 4, timeout=10)
    ons = _lights_on_times(mock_factory, since)
    # at once (in a flash), then on the song's beats, not the room's own start
    assert ons[0] - since < 0.1
    for on in ons[1:4]:
        beats_in = (on - heard_at - 0.25) / BEAT
        assert abs(beats_in - round(beats_in)) * BEAT < 0.1, beats_in


def test_a_new_heard_time_moves_the_show_and_a_new_song_replaces_the_old(
    room: Daemon, mock_factory: MockFactory
) -> None:
    now = time.monotonic()
    _follow(room.control_path, _order(now - 10.0))
    moved = _follow(room.control_path, _order(now - 20.0))  # the stream's timestamps moved
    assert moved["position"] > 19.0, moved
    other = _follow(room.control_path, _order(now - 1.0, song="next.ogg", id=9))
    assert (other["playing"], other["phase"]) == ("next.ogg", "party")
    assert 0.9 < other["position"] < 5.0


def test_while_linked_a_press_goes_to_the_leader_and_starts_nothing_here(
    room: Daemon, mock_factory: MockFactory
) -> None:
    _follow(room.control_path, FollowOrder(None, 0, 0.0, lease=1.0))
    linked_until = time.monotonic() + 1.0
    press(mock_factory)  # its edge is queued before the status request below
    assert send_command(room.control_path, "status")["phase"] == "idle"
    wait_for(lambda: time.monotonic() > linked_until + 0.05, timeout=5)
    press(mock_factory)  # the leader is gone: the lease ran out, the room plays alone
    history(room).wait(lambda s: s.phase == "party" and any(s.relays.values()))


def test_a_room_that_ended_the_leaders_song_here_does_not_start_it_again(
    room: Daemon, mock_factory: MockFactory
) -> None:
    _follow(room.control_path, _order(time.monotonic() - 1.0))
    assert send_command(room.control_path, "stop")["phase"] == "ending"
    wait_for(lambda: send_command(room.control_path, "status")["phase"] == "idle", timeout=10)
    again = _follow(room.control_path, _order(time.monotonic() - 2.0))
    assert (again["ok"], again["followed"], again["phase"]) == (True, False, "idle")


def test_a_daemon_that_is_no_room_refuses_to_follow(
    make_config: Callable[..., Config], mock_factory: MockFactory, tmp_path: Path
) -> None:
    with running_daemon(
        make_config(SHOW), mock_factory, control_path=tmp_path / "control.sock"
    ) as daemon:
        answer = _follow(daemon.control_path, _order(time.monotonic()))
        assert answer["ok"] is False
        assert "no sync room" in answer["error"]
        assert answer["phase"] == "idle"


def test_a_followed_party_ends_when_no_order_renews_it(
    room: Daemon, mock_factory: MockFactory
) -> None:
    order = _order(time.monotonic() - 1.0)
    sent = time.monotonic()
    answer = _follow(room.control_path, FollowOrder(**{**order.__dict__, "lease": 0.5}))
    assert answer["phase"] == "party"
    mark = history(room).mark()
    history(room).wait(lambda s: s.phase == "ending", after=mark, timeout=10)
    assert time.monotonic() - sent >= 0.5  # not before the lease ran out
    history(room).wait(lambda s: s.phase == "idle" and not any(s.relays.values()), timeout=10)


def _room_service(control_path: Path, beats: list[float]) -> RoomService:
    """A room's sync service that has heard the leader play its song 5 (started a second
    ago, on this clock) with ``beats``; nothing sent to the daemon yet."""
    sync = SyncConfig(enabled=True, role="room", leader="10.0.0.2", room="kitchen")
    service = RoomService(sync, control_path)
    now = time.monotonic()
    service.estimator.add(sent=now, leader=now, received=now)  # the leader's clock is ours
    service.speaker, service.latency = True, 0.0
    service.leader_party = {
        "phase": "party", "song": "leaders-song.ogg", "song_offset": 5,
        "song_start": now - 1.0, "buffer": 0.0, "length": 200.0,
    }  # fmt: skip
    service.leader_grid = {
        "id": 5, "grid": {"tempo_bpm": 120.0, "beats": beats, "downbeats": beats[::4]}
    }  # fmt: skip
    return service


def test_a_grid_the_daemon_refuses_is_left_out_and_the_song_followed_without_it(
    room: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    assert room.control_path is not None
    # one beat more than a grid may hold
    service = _room_service(room.control_path, [0.25 + BEAT * k for k in range(MAX_BEATS + 1)])
    with caplog.at_level(logging.WARNING, logger="party_button.sync.service"):
        asyncio.run(service._follow_party())
    assert "the leader's grid was refused" in caplog.text
    assert f"at most {MAX_BEATS}" in caplog.text
    assert "refused to follow" not in caplog.text
    status = send_command(room.control_path, "status")
    assert (status["phase"], status["playing"]) == ("party", "leaders-song.ogg")
    # the grid stays refused for this play: later orders keep the daemon's gridless play
    later = service.order()
    assert later.same_grid and not later.has_grid
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="party_button.sync.service"):
        asyncio.run(service._follow_party())
    assert caplog.text == ""


def test_an_order_that_keeps_the_grid_moves_the_show_on_the_grid_given_before(
    room: Daemon, mock_factory: MockFactory
) -> None:
    now = time.monotonic()
    _follow(room.control_path, _order(now - 10.0))
    keep = FollowOrder("leaders-song.ogg", 7, now - 20.3, lease=10.0, same_grid=True)
    mock_factory.pin(LIGHTS).clear_states()
    since = time.monotonic()
    moved = _follow(room.control_path, keep)
    assert (moved["ok"], moved["phase"]) == (True, "party"), moved
    assert moved["position"] > 20.0, moved
    assert send_command(room.control_path, "grid")["grid"]["beats"][:2] == [0.25, 0.75]
    wait_for(lambda: len(_lights_on_times(mock_factory, since)) >= 3, timeout=10)
    for on in _lights_on_times(mock_factory, since)[1:3]:  # on the beats, 20.3 s before
        beats_in = (on - (now - 20.3) - 0.25) / BEAT
        assert abs(beats_in - round(beats_in)) * BEAT < 0.1, beats_in


def test_an_order_that_keeps_the_grid_of_a_play_not_followed_here_is_refused(
    room: Daemon, mock_factory: MockFactory
) -> None:
    keep = FollowOrder("leaders-song.ogg", 7, time.monotonic() - 1.0, lease=10.0, same_grid=True)
    answer = _follow(room.control_path, keep)
    assert (answer["ok"], answer["send_grid"], answer["phase"]) == (False, True, "idle"), answer
    assert "play 7 is not followed here" in answer["error"]
    _follow(room.control_path, _order(time.monotonic() - 1.0, id=6))
    other = _follow(room.control_path, keep)  # another play of the leader's
    assert (other["ok"], other["send_grid"], other["playing"]) == (False, True, "leaders-song.ogg")


def test_the_grid_goes_once_a_play_and_again_to_a_daemon_that_restarted(
    make_config: Callable[..., Config], mock_factory: MockFactory, tmp_path: Path
) -> None:
    path = tmp_path / "control.sock"
    beats = [0.25 + BEAT * k for k in range(400)]
    service = _room_service(path, beats)
    assert service.order().has_grid
    for _run in range(2):  # the second daemon is the first one restarted
        with running_daemon(make_config(ROOM), mock_factory, control_path=path):
            for _order_sent in range(2):
                asyncio.run(service._follow_party())
                order = service.order()
                assert order.same_grid and not order.has_grid, order  # the daemon holds it
                assert len(encode_follow(order)) < 200
                status = send_command(path, "status")
                assert (status["phase"], status["playing"]) == ("party", "leaders-song.ogg")
                assert send_command(path, "grid")["grid"]["beats"] == beats

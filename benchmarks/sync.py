"""Several rooms as one party: how close the rooms play, and how well each knows when.

Run as root from the repository root: ``python -m benchmarks.sync [--json] [--rooms 3]``.
It builds the house of the tests (:func:`party_button.testing.sync.running_house`): the
leader (snapserver, its daemon on mock pins feeding the stream, its sync service) and each
room (a snapclient writing what it plays, a daemon, a sync service whose clock is seconds
off the leader's) in network namespaces of their own, plays ``--seconds`` of a click on
every beat, and prints a table, or one JSON object with ``--json``:

- ``room_to_room_ms``: each click as heard in the first room less the same click heard in
  each other room, after ``--settle`` seconds (median, p95, max of the absolute values).
- ``cue_to_heard_ms``: each switch-on of a room's lights (its daemon's show flashes them on
  every beat of the leader's song, whose grid the leader sent: the rooms' libraries hold
  another song) less the nearest click as heard in that room, after ``--settle`` seconds.
- ``shared_time_to_heard_ms``: each click as heard in a room less the time that room's sync
  service says it is heard (its shared time: the leader's first-sample time + the buffer -
  the client's latency - the room's clock offset, turned back into this machine's clock).
- ``relays_on_spread_ms``: the relays switching on for the party in every room and the
  leader's own, latest less earliest (each when its song's first sample is heard, not at
  the press); ``relays_on_vs_heard_ms``: each room's relays on less its first sample heard.
- ``press_to_first_sound_ms``: the press at the leader to the first sample heard in each
  room, less the configured buffer.
- ``offset_error_ms``: each room's estimate of the leader's clock less the true offset.
- ``underruns``, ``resyncs``: the feeder found the pipe empty; snapserver restarted its
  timestamps (its log says so), from the press on (``--seconds 300``: the five-minute run);
  ``resyncs_seen_by_feeder``: the restarts the feeder's stream clock noticed.
- ``load_average``: the machine's, at the end (1, 5, 15 minutes).
- ``feeder_cpu_percent``: the leader's daemon (which runs the feeder) during the music;
  ``room_sync_cpu_percent``: one room's sync service.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from benchmarks.latency import print_table
from benchmarks.mqtt import cpu_seconds
from party_button.config.sync import DEFAULT_PORT
from party_button.control.client import send_command
from party_button.testing import wait_for, write_tone
from party_button.testing.sync import (
    House,
    Room,
    click_track,
    errors_ms,
    missing_namespaces,
    missing_programs,
    relay_switches,
    running_house,
    status_feed,
    switched_on,
)

OFFSETS = (2.5, -4.0, 7.25)  # each room's clock against the leader's (s)
TARGETS = {
    "room_to_room_ms p95": 1.0,
    "room_to_room_ms max": 5.0,
    "cue_to_heard_ms p95": 2.0,
    "cue_to_heard_ms max": 10.0,
    "relays_on_spread_ms": 10.0,
    "press_to_first_sound_ms": 25.0,
    "offset_error_ms": 0.5,
}


def spread(values: list[float]) -> dict[str, float]:
    """Median, p95 and max of the absolute values."""
    ordered = sorted(abs(value) for value in values)
    if not ordered:
        return {"median": float("nan"), "p95": float("nan"), "max": float("nan")}
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median": statistics.median(ordered), "p95": p95, "max": ordered[-1]}


def measure(folder: Path, rooms: int, seconds: float, settle: float, buffer_ms: int) -> dict:
    beats = click_track(folder / "leader-songs" / "clicks.wav", seconds, 120)
    write_tone(
        folder / "room-songs" / "long.wav", seconds + 10
    )  # libsndfile crashes writing a long Ogg
    offsets = {f"room{index + 1}": OFFSETS[index % len(OFFSETS)] for index in range(rooms)}
    with running_house(
        folder, offsets, folder / "leader-songs", folder / "room-songs", buffer_ms
    ) as house:
        return _play(house, folder, beats, seconds, settle, buffer_ms)


def _play(
    house: House, folder: Path, beats: list[float], seconds: float, settle: float, buffer_ms: int
) -> dict:
    statuses = {}
    for room in house.rooms:

        def following(room: Room = room) -> bool:
            status = room.sync()
            statuses[room.name] = status
            return bool(status.get("connected") and status.get("speaker")) and (
                status.get("offset") is not None
            )

        wait_for(following, timeout=120, every=0.5)
    time.sleep(5.0)  # the rooms' clock estimates settle on their fastest requests
    offset_errors = [
        1000 * (room.sync()["offset"] + room.offset) for room in house.rooms
    ]  # leader minus room is minus the room's offset
    before = {room.name: len(room.heard.data) for room in house.rooms}
    with ExitStack() as stack:
        feeds = {
            room.name: stack.enter_context(status_feed(room.host, DEFAULT_PORT, 0.25))
            for room in house.rooms
        }
        switches = {
            room.name: stack.enter_context(relay_switches(room.socket)) for room in house.rooms
        }
        switches["leader"] = stack.enter_context(relay_switches(house.leader_socket))
        server_log = folder / "leader" / "snapserver.log"
        resyncs_before = _resyncs(server_log)
        feeder_cpu = cpu_seconds(house.leader_daemon.pid)
        sync_cpu = cpu_seconds(house.rooms[0].service.pid)
        started = time.monotonic()
        pressed = time.monotonic()
        send_command(house.leader_socket, "press")
        end = pressed + buffer_ms / 1000 + seconds
        for room in house.rooms:
            wait_for(lambda room=room: room.heard.heard_until() > end + 0.5, timeout=seconds + 60)
        elapsed = time.monotonic() - started
    seen = {name: switched_on(feed, "beacon")[0] for name, feed in switches.items()}
    feeder_cpu = (cpu_seconds(house.leader_daemon.pid) - feeder_cpu) / elapsed
    sync_cpu = (cpu_seconds(house.rooms[0].service.pid) - sync_cpu) / elapsed
    stream = send_command(house.leader_socket, "status").get("stream") or {}
    heard = {room.name: room.heard.sounds(before[room.name]) for room in house.rooms}
    cue, said_cue, first_sound, relays_vs_heard = [], [], [], []
    for room in house.rooms:
        last = heard[room.name][-1] + 0.25  # after the song, the ending's show is no cue
        flashes = [
            on for on in switched_on(switches[room.name], "lights") if pressed + settle < on < last
        ]
        cue += errors_ms(flashes, heard[room.name])
        # each click against the shared time the room's service said last before it
        said = [
            (at, s["heard_start"] - room.offset)
            for at, s in feeds[room.name]
            if s.get("heard_start")
        ]
        for click in heard[room.name]:
            starts = [start for at, start in said if at < click]
            if starts and click > starts[-1] + settle:
                said_cue += errors_ms([click], [starts[-1] + beat for beat in beats])
        first = heard[room.name][0] - beats[0]  # the first click is beats[0] into the song
        first_sound.append(1000 * (first - pressed) - buffer_ms)
        relays_vs_heard.append(1000 * (seen[room.name] - first))
    first_room, *others = house.rooms
    room_to_room: list[float] = []
    reference = [t for t in heard[first_room.name] if t > pressed + settle]
    for other in others:
        room_to_room += errors_ms(reference, heard[other.name])
    resyncs = _resyncs(server_log) - resyncs_before
    return {
        "rooms": len(house.rooms),
        "seconds": seconds,
        "buffer_ms": buffer_ms,
        "room_to_room_ms": spread(room_to_room),
        "cue_to_heard_ms": spread(cue),
        "shared_time_to_heard_ms": spread(said_cue),
        "relays_on_spread_ms": 1000 * (max(seen.values()) - min(seen.values())),
        "relays_on_after_press_ms": {name: 1000 * (at - pressed) for name, at in seen.items()},
        "relays_on_vs_heard_ms": spread(relays_vs_heard),
        "press_to_first_sound_ms": spread(first_sound),
        "offset_error_ms": spread(offset_errors),
        "underruns": stream.get("underruns"),
        "resyncs": resyncs,
        "resyncs_seen_by_feeder": stream.get("resyncs"),
        "load_average": os.getloadavg(),
        "feeder_cpu_percent": 100 * feeder_cpu,
        "room_sync_cpu_percent": 100 * sync_cpu,
        "clicks_heard": {name: len(times) for name, times in heard.items()},
        "clicks_played": len(beats),
        "cpus": os.cpu_count(),
    }


def _resyncs(server_log: Path) -> int:
    """Times snapserver restarted its stream's timestamps, by its log."""
    text = server_log.read_text(errors="replace")
    return text.count("resetting stream time") + text.count("onResync")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rooms", type=int, default=2)
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="of music (300: the five-minute run)"
    )
    parser.add_argument("--settle", type=float, default=10.0, help="seconds not counted")
    parser.add_argument("--buffer-ms", type=int, default=1000)
    args = parser.parse_args()
    reason = missing_programs() or missing_namespaces()
    if reason is not None:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as folder:
        result = measure(Path(folder), args.rooms, args.seconds, args.settle, args.buffer_ms)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    rows = []
    for name in ("room_to_room_ms", "cue_to_heard_ms", "shared_time_to_heard_ms"):
        for stat in ("median", "p95", "max"):
            rows.append((f"{name} {stat}", result[name][stat], TARGETS.get(f"{name} {stat}")))
    rows += [
        ("relays_on_spread_ms", result["relays_on_spread_ms"], TARGETS["relays_on_spread_ms"]),
        ("relays_on_vs_heard_ms max", result["relays_on_vs_heard_ms"]["max"], None),
        (
            "press_to_first_sound_ms - buffer, max",
            result["press_to_first_sound_ms"]["max"],
            TARGETS["press_to_first_sound_ms"],
        ),
        ("offset_error_ms max", result["offset_error_ms"]["max"], TARGETS["offset_error_ms"]),
        ("underruns", float(result["underruns"] or 0), None),
        ("resyncs", float(result["resyncs"]), None),
        ("feeder_cpu_percent", result["feeder_cpu_percent"], None),
        ("room_sync_cpu_percent", result["room_sync_cpu_percent"], None),
    ]
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

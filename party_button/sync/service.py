"""``party-button sync``: one party in every room, as a service of its own.

The daemon keeps its sandbox (no network): this service talks to it only through the control
socket, and to the other rooms over TCP (:mod:`party_button.sync.messages`).

The **leader**'s service reads its daemon's status (the phase, the song, and when the song's
first sample entered the Snapcast stream, in the leader's clock), sends it to every room, and
hands the rooms' commands to its daemon. A **room**'s service learns the leader's clock
(:mod:`party_button.sync.offset`) and its own snapclient's latency (snapserver's JSON-RPC),
hands its daemon's presses, stops, skips and panic stops to the leader, and tells its daemon
(``follow`` on the control socket) the leader's song, its beat grid (sent by the leader: the
room need not have the song) and when its first sample is heard in this room::

    heard = song_start + buffer - latency - offset     (this room's clock)

The daemon starts its party's show at that moment, or at once at the right place in the
song when it is past (a room that joins, a daemon that restarted). Each order links the
daemon to the leader for :data:`LEASE` seconds (its presses go to the leader, not to a party
of its own); the orders come with every party message. It ends its daemon's party when the
leader's ends, and at once, saying why, when the leader has not been heard for
:data:`~party_button.sync.messages.LEADER_TIMEOUT` seconds (its presses then start a party
here).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from party_button.config.sync import SnapcastPorts, SyncConfig
from party_button.control.client import WatchConnection, send_command, send_follow
from party_button.control.follow import FOLLOW_INTERVAL, FollowOrder
from party_button.errors import ControlError
from party_button.sync.messages import (
    COMMANDS,
    HEARTBEAT,
    LEADER_TIMEOUT,
    MAX_LINE,
    MessageError,
    encode,
    read_message,
)
from party_button.sync.offset import OffsetEstimator
from party_button.sync.snapserver import room_client
from party_button.sync_status import GONE_KEPT, PARTY_PHASES, room_report

log = logging.getLogger(__name__)

Clock = Callable[[], float]
POLL = 0.1  # seconds between two looks at the local daemon's status
PING = 0.5  # seconds between two time requests of a room
FIRST_PINGS = 20  # quick requests after connecting, 50 ms apart
LATENCY_EVERY = 2.0  # seconds between two looks at this room's client latency
RETRY = 1.0  # seconds between two attempts to reach the leader
LEASE = 2.0  # seconds a follow links the daemon: its presses go to the leader meanwhile
RESTARTED = 0.005  # seconds a new heard start differs by when the server restarted
UNLINKED = 0.001  # the lease of the last order when the leader is gone: presses stay here
SOURCES = ("button", "control")  # whose commands go to the leader (not the leader's own)
DEFAULT_PORTS = SnapcastPorts()


class _Daemon:
    """The local daemon, through its control socket (blocking calls run in threads)."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path

    async def command(self, command: str) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(send_command, self.socket_path, command)
        except ControlError as exc:
            return {"ok": False, "error": str(exc)}

    async def follow(self, order: FollowOrder) -> dict[str, Any]:
        for _attempt in range(3):  # the daemon takes one follow each FOLLOW_INTERVAL
            try:
                answer = await asyncio.to_thread(send_follow, self.socket_path, order)
            except ControlError as exc:
                return {"ok": False, "error": str(exc)}
            if "too many follow" not in str(answer.get("error")):
                break
            await asyncio.sleep(FOLLOW_INTERVAL)
        return answer


class LeaderService:
    """The leader's side: its daemon's party to every room, the rooms' commands to it."""

    def __init__(
        self, sync: SyncConfig, socket_path: Path, *, clock: Clock = time.monotonic, host: str = ""
    ) -> None:
        self.sync = sync
        self.daemon = _Daemon(socket_path)
        self.clock = clock
        self.host = host
        self.party: dict[str, Any] = {"phase": None}
        self.grid: dict[str, Any] = {"id": None, "grid": None}  # the song's, by its id
        self.rooms: dict[str, dict[str, Any]] = {}
        self._writers: set[asyncio.StreamWriter] = set()
        self._links: dict[str, asyncio.StreamWriter] = {}  # each room's latest connection
        self._heard: dict[str, float] = {}  # when each room last said something (monotonic)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set."""
        server = await asyncio.start_server(
            self._serve, self.host or None, self.sync.port, limit=MAX_LINE
        )
        log.info("sync leader: rooms connect on port %d", self.sync.port)
        async with server:
            watcher = asyncio.create_task(self._follow_daemon(stop))
            await stop.wait()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            for writer in list(self._writers):
                writer.close()

    async def _follow_daemon(self, stop: asyncio.Event) -> None:
        sent_at = 0.0
        while not stop.is_set():
            status = await self.daemon.command("status")
            party = _party_of(status)
            if party.get("song_offset") not in (None, self.grid.get("id")):
                await self._new_grid(party["song_offset"])
            if party != self.party or time.monotonic() - sent_at >= HEARTBEAT:
                self.party = party
                self._broadcast(encode("party", **party))
                sent_at = time.monotonic()
            await asyncio.sleep(POLL)

    async def _new_grid(self, song: int) -> None:
        """Send the rooms the beat grid of the song that starts at ``song`` in the stream,
        before the party message that names it (rooms need not have the song)."""
        answer = await self.daemon.command("grid")
        stream = answer.get("stream") or {}
        if answer.get("ok") and stream.get("song_offset") == song:
            self.grid = {"id": song, "grid": answer.get("grid")}
            self._broadcast(encode("grid", **self.grid))

    def _broadcast(self, line: bytes) -> None:
        for writer in list(self._writers):
            if writer.transport.get_write_buffer_size() > MAX_LINE:
                writer.close()  # a room that does not read: it reconnects
                continue
            writer.write(line)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        name: str | None = None
        try:
            while (message := await read_message(reader)) is not None:
                kind = message["type"]
                if name is not None and self._links.get(name) is writer:
                    self._heard[name] = time.monotonic()
                if kind == "time":
                    writer.write(encode("time", sent=message.get("sent"), leader=self.clock()))
                elif kind == "hello":
                    name = str(message.get("room"))[:40]
                    address = writer.get_extra_info("peername")[0]
                    self.rooms.pop(name, None)
                    self.rooms[name] = {"address": address, "state": None, "why": None}
                    self._links[name] = writer
                    self._heard[name] = time.monotonic()
                    self._writers.add(writer)
                    writer.write(encode("grid", **self.grid))
                    writer.write(encode("party", **self.party))
                    log.info("sync leader: room %s joined", name)
                elif kind == "command" and message.get("command") in COMMANDS:
                    log.info("sync leader: %s from room %s", message["command"], name)
                    answer = await self.daemon.command(message["command"])
                    writer.write(encode("answer", **answer))
                elif kind == "status":
                    writer.write(encode("status", **self.status()))
                elif kind == "room":
                    if name is not None and self._links.get(name) is writer:
                        self.rooms[name].update(room_report(message))
                else:
                    writer.write(encode("error", error=f"unknown message {kind!r}"))
                await writer.drain()
        except (MessageError, ConnectionError) as exc:
            log.warning("sync leader: room %s dropped: %s", name, exc)
        finally:
            self._writers.discard(writer)
            if name is not None and self._links.get(name) is writer:  # not a room back since
                del self._links[name], self._heard[name]
                self._room_gone(name)
                log.info("sync leader: room %s left", name)
            writer.close()

    def _room_gone(self, name: str) -> None:
        """Keep a room that left as ``gone`` (the :data:`GONE_KEPT` latest of them)."""
        self.rooms[name].update(state="gone", why="its sync service hung up or went silent")
        gone = [room for room, known in self.rooms.items() if known["state"] == "gone"]
        for room in gone[:-GONE_KEPT]:
            del self.rooms[room]

    def status(self) -> dict[str, Any]:
        """The role, the rooms and the party, for ``party-button status``; a room silent for
        :data:`~party_button.sync.messages.LEADER_TIMEOUT` seconds (it pings twice a second)
        shows as gone while its connection lasts."""
        now, silent = (
            time.monotonic(),
            {"state": "gone", "why": f"no word for {LEADER_TIMEOUT:g} s"},
        )
        rooms = {
            name: {**room, **silent} if now - self._heard.get(name, now) > LEADER_TIMEOUT else room
            for name, room in self.rooms.items()
        }
        return {"role": "leader", "room": self.sync.room_name(), "rooms": rooms, **self.party}


def _party_of(status: dict[str, Any]) -> dict[str, Any]:
    """What the rooms need of the leader daemon's status."""
    if not status.get("ok", True) or "phase" not in status:
        return {"phase": None, "error": status.get("error")}
    stream = status.get("stream") or {}
    return {
        "phase": status["phase"],
        "song": stream.get("song"),
        "song_start": stream.get("song_start"),
        "song_offset": stream.get("song_offset"),
        "song_start_from": stream.get("song_start_from"),
        "length": status.get("length"),
        "buffer": stream.get("buffer"),
        "server_reading": stream.get("server_reading"),
    }


async def answer_status(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    status: Callable[[], dict[str, Any]],
) -> None:
    """Answer ``status`` requests on a connection (a room's own port: nothing else)."""
    try:
        while (message := await read_message(reader)) is not None:
            if message["type"] == "status":
                writer.write(encode("status", **status()))
            else:
                writer.write(encode("error", error="a room answers status only"))
            await writer.drain()
    except (MessageError, ConnectionError):
        pass
    finally:
        writer.close()


class RoomService:
    """A room's side: the leader's party in this room, at the time this room hears it."""

    def __init__(
        self,
        sync: SyncConfig,
        socket_path: Path,
        *,
        clock: Clock = time.monotonic,
        ports: SnapcastPorts = DEFAULT_PORTS,
        listen: str = "",
    ) -> None:
        self.sync = sync
        self.listen = listen
        self.daemon = _Daemon(socket_path)
        self.socket_path = socket_path
        self.clock = clock
        self.ports = ports
        self.estimator = OffsetEstimator()
        self.latency: float | None = None  # seconds, this room's snapclient's
        self.speaker = False  # whether this room's snapclient plays the stream
        self.leader_party: dict[str, Any] = {"phase": None}
        self.connected = False
        self.why: str | None = None  # why this room's party ended, when the leader did not say
        self.heard_start: float | None = None  # this room's clock
        self.daemon_phase: str | None = None  # this room's daemon's, as last watched
        self._last_word = 0.0
        self._writer: asyncio.StreamWriter | None = None
        self._started_song: int | None = None  # the song (its stream offset) followed here
        self.leader_grid: dict[str, Any] = {"id": None, "grid": None}
        self._grid_given: int | None = None  # the play whose grid this room's daemon holds
        self._applied: tuple[Any, float] | None = None  # the song and heard start followed
        self._switch: asyncio.Task[None] | None = None  # a new heard start, when it holds
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- running -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the leader until ``stop`` is set; reconnect whenever it is gone."""
        self._loop = asyncio.get_running_loop()
        server = await asyncio.start_server(
            lambda reader, writer: answer_status(reader, writer, self.status),
            self.listen or None,
            self.sync.port,
            limit=MAX_LINE,
        )
        async with server:
            await self._run(stop)

    async def _run(self, stop: asyncio.Event) -> None:
        watch = threading.Thread(target=self._watch_daemon, args=(stop,), daemon=True)
        watch.start()
        latency = asyncio.create_task(self._follow_latency(stop))
        try:
            while not stop.is_set():
                try:
                    await self._follow_leader(stop)
                except (TimeoutError, OSError, MessageError) as exc:
                    if not stop.is_set():
                        host = self.sync.leader_host()
                        await self._leader_gone(f"lost the leader {host}: {exc or 'timed out'}")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), RETRY)
        finally:
            latency.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await latency

    async def _follow_leader(self, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.sync.leader_host(), self.sync.port, limit=MAX_LINE),
            timeout=2.0,
        )
        self._writer = writer
        self.connected = True
        self.estimator.clear()
        self._last_word = time.monotonic()
        writer.write(encode("hello", room=self.sync.room_name()))
        pinger = asyncio.create_task(self._ping(writer))
        log.info("sync room %s: following the leader %s", self.sync.room_name(), self.sync.leader)
        try:
            while not stop.is_set():
                left = LEADER_TIMEOUT - (time.monotonic() - self._last_word)
                if left <= 0:
                    raise TimeoutError(f"no word for {LEADER_TIMEOUT:g} s")
                stopping = asyncio.create_task(stop.wait())
                reading = asyncio.create_task(read_message(reader))
                done, _ = await asyncio.wait(
                    {stopping, reading}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                stopping.cancel()
                if reading not in done:
                    reading.cancel()
                    continue
                message = reading.result()
                if message is None:
                    raise ConnectionError("the leader hung up")
                self._last_word = time.monotonic()
                await self._handle(message)
        finally:
            pinger.cancel()
            self.connected = False
            self._writer = None
            writer.close()

    async def _ping(self, writer: asyncio.StreamWriter) -> None:
        reported: tuple[str, str | None] | None = None
        for count in itertools.count():
            writer.write(encode("time", sent=self.clock()))
            if (report := (self.state(), self.why)) != reported:
                writer.write(encode("room", state=report[0], why=report[1]))
                reported = report
            await writer.drain()
            await asyncio.sleep(0.05 if count < FIRST_PINGS else PING)

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        try:
            if kind == "time" and isinstance(message.get("sent"), float | int):
                self.estimator.add(float(message["sent"]), float(message["leader"]), self.clock())
            elif kind == "party":
                party = {k: v for k, v in message.items() if k != "type"}
                for key in ("song_start", "buffer"):
                    if party.get(key) is not None:
                        party[key] = float(party[key])
                self.leader_party = party
                await self._follow_party()
            elif kind == "grid":
                self.leader_grid = {k: v for k, v in message.items() if k != "type"}
            elif kind == "answer" and not message.get("ok"):
                log.warning("sync room: the leader refused: %s", message.get("error"))
        except (KeyError, TypeError, ValueError) as exc:
            raise MessageError(f"a {kind} message the room cannot read: {exc!r}") from None

    # -- the party in this room --------------------------------------------------------------

    def shared_start(self) -> float | None:
        """When this room hears the first sample of the leader's song (this room's clock)."""
        party = self.leader_party
        song_start, buffer = party.get("song_start"), party.get("buffer")
        if song_start is None or buffer is None or not self.estimator.known:
            return None
        return song_start + buffer - (self.latency or 0.0) - self.estimator.offset

    def order(self) -> FollowOrder:
        """What this room's daemon is to follow now: the leader's song, heard here from
        :meth:`shared_start` (in the daemon's clock), with its grid; or no party."""
        party = self.leader_party
        song, heard = party.get("song"), self._heard_now()
        playing = party.get("phase") in PARTY_PHASES and party.get("song_offset") is not None
        if not (playing and self.speaker and heard is not None and isinstance(song, str)):
            return FollowOrder(None, 0, 0.0, LEASE)
        play = int(party["song_offset"])
        held = self._grid_given == play  # the daemon holds the play's grid: sent once a play
        grid = None if held else self.leader_grid.get("grid")
        grid = grid if grid and self.leader_grid.get("id") == play else {}
        return FollowOrder(
            song=song,
            id=play,
            heard_at=heard - (self.clock() - time.monotonic()),
            lease=LEASE,
            length=party.get("length"),
            tempo_bpm=float(grid.get("tempo_bpm", 0.0)),
            beats=tuple(grid.get("beats", ())),
            downbeats=tuple(grid.get("downbeats", ())),
            beats_per_bar=int(grid.get("beats_per_bar", 4)),
            same_grid=held,
        )

    def _heard_now(self) -> float | None:
        """:meth:`shared_start`; but a new one that comes mid-song from snapserver restarting
        its timestamps (``song_start_from`` into the song) holds only once that point of the
        song is heard here: what is heard until then keeps the old timestamps."""
        new, party = self.shared_start(), self.leader_party
        song, applied = party.get("song_offset"), self._applied
        if new is None:
            return None
        if applied is not None and applied[0] == song and abs(new - applied[1]) > RESTARTED:
            switch = applied[1] + float(party.get("song_start_from") or 0.0)
            if self.clock() < switch:
                self._follow_at(switch)
                return applied[1]
        self._applied = (song, new)
        return new

    def _follow_at(self, when: float) -> None:
        """Tell the daemon the party again at ``when`` (this room's clock)."""
        if self._switch is not None and not self._switch.done():
            return

        async def later() -> None:
            await asyncio.sleep(max(0.0, when - self.clock()))
            await self._follow_party()

        self._switch = asyncio.create_task(later())

    async def _follow_party(self) -> None:
        """Tell this room's daemon the leader's party (every party message: a daemon that
        restarted, or a room that joined mid-song, joins at the right place)."""
        order = self.order()
        if order.song is not None:
            self.heard_start = self._applied[1] if self._applied else None
            if order.id != self._started_song:
                log.info("sync room: following %s, heard here at %.3f", order.song, order.heard_at)
                self.why = None
            self._started_song = order.id
        elif self._started_song is not None:
            self._started_song = None
        answer = await self.daemon.follow(order)
        if answer.get("send_grid"):  # not followed there (it restarted, or a stop ended it)
            self._grid_given = None
            order = self.order()
            answer = await self.daemon.follow(order)
        if not answer.get("ok") and order.has_grid and "phase" not in answer:
            # the socket refused the leader's grid: the song is followed without it
            log.warning("sync room: the leader's grid was refused: %s", answer.get("error"))
            order = dataclasses.replace(order, beats=(), downbeats=(), tempo_bpm=0.0)
            answer = await self.daemon.follow(order)
            self._grid_given = order.id if answer.get("ok") else None
        elif answer.get("ok") and order.has_grid:
            self._grid_given = order.id
        if not answer.get("ok"):
            log.warning("sync room: the daemon refused to follow: %s", answer.get("error"))

    async def _end_party(self, lease: float) -> None:
        """End the daemon's party (relays off); linked for ``lease`` seconds more."""
        await self.daemon.follow(FollowOrder(None, 0, 0.0, lease))

    async def _leader_gone(self, why: str) -> None:
        """End this room's party safely (relays off), once, and say why."""
        self.connected = False
        self.leader_party = {"phase": None}
        await self._end_here(why, UNLINKED)

    async def _end_here(self, why: str, lease: float = LEASE) -> None:
        """End this room's party (relays off) and say why, once."""
        if self._started_song is None and self.why is not None:
            return
        self._started_song = None
        await self._end_party(lease)
        if self.why != why:
            log.error("sync room %s: %s: the party here is over", self.sync.room_name(), why)
        self.why = why

    async def _follow_latency(self, stop: asyncio.Event) -> None:
        """Read this room's snapclient's latency; end the party here while it is gone."""
        while not stop.is_set():
            client = None
            with contextlib.suppress(OSError, ValueError, KeyError, asyncio.TimeoutError):
                client = await room_client(
                    self.sync.leader_host(), self.ports.control, self.sync.room_name()
                )
            if client is not None:
                self.latency = client.latency
            speaker = client is not None and client.connected
            if speaker != self.speaker:
                self.speaker = speaker
                if speaker:
                    log.info("sync room: this room's snapclient plays the stream")
                    await self._follow_party()
                elif self._started_song is not None:
                    await self._end_here("this room's snapclient does not play the stream")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), LATENCY_EVERY)

    # -- this room's daemon to the leader ----------------------------------------------------

    def _watch_daemon(self, stop: asyncio.Event) -> None:
        """Hand the presses, stops, skips and panic stops of this room (its button, page,
        shell; not this service's own) to the leader."""
        while not stop.is_set():
            try:
                watching = WatchConnection(self.socket_path)
                for message in watching:
                    if message.get("type") == "state" and "phase" in message:
                        self.daemon_phase = message["phase"]
                    command = message.get("event")
                    mine = message.get("source") == "control" and message.get("pid") == os.getpid()
                    if command in COMMANDS and message.get("source") in SOURCES and not mine:
                        self._send_threadsafe(encode("command", command=command))
            except ControlError as exc:
                log.debug("sync room: watching the daemon: %s", exc)
            self.daemon_phase = None
            time.sleep(RETRY)

    def _send_threadsafe(self, line: bytes) -> None:
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._send, line)

    def _send(self, line: bytes) -> None:
        if self._writer is not None:
            self._writer.write(line)
        else:
            log.warning("sync room: the leader is not reachable: a command stays in this room")

    def state(self) -> str:
        """This room's part in the party, one of :data:`~party_button.sync_status.ROOM_STATES`."""
        if not self.connected:
            return "alone" if self.daemon_phase in PARTY_PHASES else "no-leader"
        if not self.speaker:
            return "no-speaker"
        return "party" if self._started_song is not None else "ready"

    def status(self) -> dict[str, Any]:
        """The role, the leader, this room's state and its view of the shared time."""
        known = self.estimator.known
        return {
            "role": "room",
            "room": self.sync.room_name(),
            "state": self.state(),
            "leader": self.sync.leader,
            "connected": self.connected,
            "offset": self.estimator.offset if known else None,
            "offset_error": self.estimator.error_bound if known else None,
            "latency": self.latency,
            "speaker": self.speaker,
            "heard_start": self.heard_start,
            "why": self.why,
            **self.leader_party,
        }

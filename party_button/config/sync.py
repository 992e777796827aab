"""The ``sync:`` section of the config: this Pi's part in a party across several rooms.

One Pi is the *leader*: it runs snapserver, picks the songs and feeds their sound into the
Snapcast stream. Every other Pi is a *room* that plays the stream through its own snapclient
and follows the leader's party; the leader's own room is a room too. :class:`SyncConfig`
holds every default once; :func:`load_sync_config` reads only this section, for the sync
service, which has no business with pins or songs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from party_button.config.mqtt import node_name
from party_button.config.paths import PathContext, resolve
from party_button.config.walker import load_section, read_into, setting
from party_button.config.yaml_reader import MapReader

ROLES = ("leader", "room")
# Snapcast's own default end-to-end buffer. Wi-Fi holds packets back for hundreds of
# milliseconds at a time (retransmissions, a phone's burst, power saving), and a buffer that
# runs dry is heard as a dropout in that room; 400 ms is enough on a wired network.
DEFAULT_BUFFER_MS = 1000
DEFAULT_PORT = 1707  # the sync services' own TCP port (Snapcast has 1704 and 1705)
DEFAULT_PIPE = Path("/run/snapserver/party-button")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.:_-]{0,252})")
_ROOM = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,39}")


def _leader(section: MapReader, key: str, default: Any, _ctx: Any, values: dict) -> str | None:
    """The leader's host name or address: required of a room, refused of the leader."""
    if key not in section:
        if values["enabled"] and values["role"] == "room":
            section.error("is required of a room (the leader's host name or address)", key)
        return default
    host = section.string(key, default)
    if values["role"] == "leader":
        section.error("only a room names its leader (this Pi is the leader)", key)
    elif host is not None and not _HOST.fullmatch(host):
        section.error(f"expected a host name or address, got {host!r}", key)
    return host


def _room(section: MapReader, key: str, default: Any, _ctx: Any, _values: dict) -> str | None:
    name = section.string(key, default)
    if name is not None and not _ROOM.fullmatch(name):
        section.error("expected 1 to 40 of the characters A-Z a-z 0-9 space . _ -", key)
        return default
    return name


def _pipe(section: MapReader, key: str, default: Any, ctx: PathContext, _values: dict) -> Path:
    raw = section.string(key, None)
    return default if raw is None else resolve(ctx.base, raw)


@dataclass(frozen=True)
class SyncConfig:
    """How this Pi takes part in one party across the rooms of the house.

    Fields are read in this order: a reader may look at the ones above it.
    """

    enabled: bool = setting(
        False, doc="play one party in every room: the installer enables party-button-sync"
    )
    role: str = setting(
        "leader",
        choices=ROLES,
        doc="leader: this Pi runs snapserver and picks the songs; room: it follows a leader",
    )
    leader: str | None = setting(
        None, read=_leader, doc="a room's leader: its host name or address (null on the leader)"
    )
    room: str | None = setting(None, read=_room, doc="this room's name (null: the host name)")
    buffer_ms: int = setting(
        DEFAULT_BUFFER_MS,
        minimum=100,
        maximum=10000,
        integer=True,
        doc="milliseconds from the stream to the speakers; 1000 rides out Wi-Fi, 400 on a cable",
    )
    port: int = setting(
        DEFAULT_PORT,
        minimum=1,
        maximum=65535,
        integer=True,
        doc="the sync services' own TCP port",
    )
    pipe: Path = setting(
        DEFAULT_PIPE, read=_pipe, doc="the leader's snapserver stream, a FIFO the daemon feeds"
    )

    def room_name(self) -> str:
        """This room's name."""
        return self.room or node_name()

    def leader_host(self) -> str:
        """Where the leader's snapserver and sync service are."""
        return "127.0.0.1" if self.role == "leader" else str(self.leader)


def load_sync_config(path: Path) -> SyncConfig:
    """Read only the ``sync`` section of the config file ``path`` (see ``load_section``)."""
    context = PathContext(path.resolve().parent)
    return load_section(path, "sync", lambda section: read_into(SyncConfig, section, context))


@dataclass(frozen=True)
class SnapcastPorts:
    """Where snapserver listens: the audio stream and its JSON-RPC (TCP)."""

    stream: int = 1704
    control: int = 1705
    address: str = "0.0.0.0"

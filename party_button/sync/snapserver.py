"""The leader's ``snapserver.conf``, made from the ``sync:`` section.

snapserver 0.26 takes its streams from its configuration file only (it has no
``Stream.AddStream``): the one stream is the pipe the daemon feeds
(:mod:`party_button.media.snapcast`), in the format the feeder writes, with the buffer the
rooms' light shows count on. PCM travels as it is: no encoder holds samples back, and a Pi
3 or better on Wi-Fi carries 1.4 Mbit/s per room easily.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from party_button.config.sync import SnapcastPorts, SyncConfig
from party_button.media.snapcast import CHUNK_MS, SAMPLE_RATE

STREAM_NAME = "party-button"
MADE_BY = "# Made by party-button"
"""How every file party-button writes for Snapcast begins."""
SAVED_SUFFIX = ".party-button-saved"
"""What the file that was there before gets added to its name (``uninstall.sh`` puts it back)."""


def snapserver_conf(sync: SyncConfig, ports: SnapcastPorts = SnapcastPorts()) -> str:
    """The text of ``snapserver.conf`` for ``sync``."""
    source = (
        f"pipe://{sync.pipe}?name={STREAM_NAME}&mode=create"
        f"&sampleformat={SAMPLE_RATE}:16:2&codec=pcm"
    )
    return (
        f"{MADE_BY} from the sync: section of its config; edit that instead.\n"
        "[server]\n"
        "\n[http]\nenabled = false\n"
        f"\n[tcp]\nenabled = true\nbind_to_address = {ports.address}\nport = {ports.control}\n"
        f"\n[stream]\nbind_to_address = {ports.address}\nport = {ports.stream}\n"
        f"source = {source}\n"
        f"buffer = {sync.buffer_ms}\nchunk_ms = {CHUNK_MS}\ncodec = pcm\n"
        "\n[logging]\n"
    )


@dataclass(frozen=True)
class RoomClient:
    """What snapserver knows of one room's snapclient."""

    connected: bool
    latency: float  # seconds


# snapserver creates the stream's FIFO: in a runtime folder of its own, writable by the
# party-button group (the daemon feeds it), by no one else. snapserver makes the FIFO with
# mode 0666 whatever its umask, so the folder is what keeps everyone else out. It reads the
# pipe on a clock of its own and restarts the stream's timestamps when a read comes later than
# a chunk: ahead of the other work of a busy Pi (the beat analysis), it is rarely that late.
SNAPSERVER_NICE = -10
SNAPSERVER_DROP_IN = f"""\
# Made by party-button's installer: the stream's FIFO for the party-button daemon, and
# snapserver ahead of other work, so that it reads the stream on time.
[Service]
RuntimeDirectory=snapserver
RuntimeDirectoryMode=0750
Group=party-button
UMask=0007
Nice={SNAPSERVER_NICE}
"""


def snapcast_files(sync: SyncConfig) -> dict[str, str]:
    """The files that set up Debian's Snapcast for ``sync`` (paths from the root): every room
    plays through its snapclient, named after the room; the leader runs snapserver too."""
    host = sync.leader_host()
    files = {
        "etc/default/snapclient": (
            f"{MADE_BY}'s installer from the sync section of its config.\n"
            f'SNAPCLIENT_OPTS="--host {host} --hostID {sync.room_name()}"\n'
        )
    }
    if sync.role == "leader":
        files["etc/snapserver.conf"] = snapserver_conf(sync)
        files["etc/systemd/system/snapserver.service.d/party-button.conf"] = SNAPSERVER_DROP_IN
    return files


def write_snapcast_files(sync: SyncConfig, root: Path) -> list[Path]:
    """Write :func:`snapcast_files` under ``root``; returns the files written.

    A file that was there and is not party-button's (Debian's ``/etc/snapserver.conf``, an
    admin's ``/etc/default/snapclient``) is kept beside it with :data:`SAVED_SUFFIX` first,
    once: writing again keeps the first saved copy.
    """
    written = []
    for name, text in snapcast_files(sync).items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        saved = target.with_name(target.name + SAVED_SUFFIX)
        if target.is_file() and not saved.exists() and not _made_by_us(target):
            shutil.copy2(target, saved)
        target.write_text(text)
        written.append(target)
    return written


def _made_by_us(path: Path) -> bool:
    with path.open(errors="replace") as file:
        return file.readline().startswith(MADE_BY)


def snapcast_packages(sync: SyncConfig) -> list[str]:
    """The Debian packages ``sync`` needs: the leader decodes the songs with sox."""
    if sync.role == "leader":
        return ["snapserver", "snapclient", "sox", "libsox-fmt-mp3"]
    return ["snapclient"]


async def room_client(host: str, port: int, room: str) -> RoomClient | None:
    """The snapclient of ``room`` (its host id or name) as snapserver's JSON-RPC
    ``Server.GetStatus`` tells it; ``None`` when snapserver has never seen it."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=2.0)
    try:
        request = {"id": 1, "jsonrpc": "2.0", "method": "Server.GetStatus"}
        writer.write(json.dumps(request).encode() + b"\r\n")
        while True:
            line = await asyncio.wait_for(reader.readline(), timeout=2.0)
            if not line:
                raise ConnectionError("snapserver hung up")
            answer = json.loads(line)
            if answer.get("id") == 1:
                break
    finally:
        writer.close()
    for group in answer["result"]["server"]["groups"]:
        for client in group["clients"]:
            if room in (client.get("id"), client.get("host", {}).get("name")):
                latency = float(client["config"]["latency"]) / 1000
                return RoomClient(bool(client.get("connected")), latency)
    return None

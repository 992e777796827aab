"""What the sync services of the rooms say to each other: one JSON object a line over TCP.

A room says ``hello`` (its name), asks the leader's ``time`` (see
:mod:`party_button.sync.offset`) and sends ``command`` (press, stop, next, hold) from its
button, page or shell; the leader answers the time and sends ``party`` (the phase, the song,
when its first sample entered the stream in the leader's time, the stream's buffer) when it
changes and every :data:`HEARTBEAT` seconds, so a room that hears nothing for
:data:`LEADER_TIMEOUT` knows the leader is gone. Anyone may ask ``status``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

MAX_LINE = 192 * 1024  # a grid message of a 20-minute song fits
HEARTBEAT = 0.5  # seconds between two party messages when nothing changes
LEADER_TIMEOUT = 3.0  # seconds without a word from the leader before a room ends its party
COMMANDS = ("press", "stop", "next", "hold")


class MessageError(ValueError):
    """A line that is not a message of the protocol."""


def encode(kind: str, **fields: Any) -> bytes:
    """One message line."""
    return json.dumps({"type": kind, **fields}, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """The message on ``line``; raises :class:`MessageError`."""
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise MessageError(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise MessageError("expected an object with a type")
    return message


async def read_message(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or ``None`` when the other side hung up."""
    try:
        line = await reader.readline()
    except (ConnectionError, asyncio.LimitOverrunError, ValueError) as exc:
        raise MessageError(f"bad line: {exc}") from None
    if not line:
        return None
    return decode(line)


def ask_status(host: str, port: int, *, timeout: float = 2.0) -> dict[str, Any]:
    """The status of the sync service at ``host:port`` (blocking), or ``{"error": why}``."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(encode("status"))
            with sock.makefile("rb") as lines:
                line = lines.readline(MAX_LINE)
        answer = decode(line)
    except (OSError, MessageError) as exc:
        return {"error": f"no sync service on {host}:{port}: {exc}"}
    answer.pop("type", None)
    return answer

"""The ``watch`` stream of the control socket: message shapes, when to send, how to show.

A client that sends ``watch`` keeps its connection and reads one JSON object a line, each
with the protocol version ``v`` and the daemon's wall-clock ``time``:

``{"v": 1, "type": "state", "changed": [...], "phase": "party", ...}``
    the daemon's whole state (:data:`STATE_FIELDS`): once at once, with every field in
    ``changed``; then after each change, with ``changed`` naming the fields that differ from
    the previous state line. During a party ``position`` moves on once a second.
    ``next_phase`` (``{"phase": ..., "in": seconds or None}``) is sent when the coming phase
    changes; a client counts ``in`` down from the line's arrival.
``{"v": 1, "type": "event", "event": "press", "source": "button", ...}``
    something that happened; see :data:`EVENTS`.

Adapters (a web page, an MQTT bridge) build on these shapes; a new field may appear in a
later version 1, a changed or removed one makes version 2.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

PROTOCOL_VERSION = 1
STATE_FIELDS = (
    "phase",
    "relays",
    "playing",
    "position",
    "audio",
    "songs",
    "status",
    "config",
    "reload_pending",
    "reload_error",
    "length",
    "next_phase",
)
EVENTS = {
    "press": "the button was pressed (source button) or press was sent (source control)",
    "hold": "the button was held (source button) or hold was sent (source control): the panic stop",
    "stop": "stop was sent",
    "next": "next was sent",
    "reload": "the config was read again (ok, problems)",
    "stopping": "the daemon is shutting down; the stream ends",
}


def _message(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "type": kind, "time": round(time.time(), 6), **fields}


def event_message(event: str, **details: Any) -> dict[str, Any]:
    """An ``event`` line: ``event`` is one of :data:`EVENTS`, ``details`` its fields."""
    return _message("event", {"event": event, **details})


def _comparable(state: Mapping[str, Any]) -> dict[str, Any]:
    """What counts as a change of ``state``: the position in whole seconds, the next phase
    without its countdown (a line says ``in`` when the next phase changes, and a client
    counts down from there)."""
    coming = state["next_phase"]
    if coming is not None:
        coming = (coming["phase"], coming["in"] is None)
    return {**state, "position": int(state["position"]), "next_phase": coming}


class StateFeed:
    """Turns the daemon's status into ``state`` lines: all of it first, then each change."""

    def __init__(self) -> None:
        self._last: dict[str, Any] | None = None

    @staticmethod
    def _state(status: Mapping[str, Any]) -> dict[str, Any]:
        state = {name: status[name] for name in STATE_FIELDS}
        state["position"] = round(float(state["position"]), 1)
        return state

    def full(self, status: Mapping[str, Any]) -> dict[str, Any]:
        """The whole state, for a client that has just started watching."""
        state = self._state(status)
        self._last = _comparable(state)
        return _message("state", {"changed": list(STATE_FIELDS), **state})

    def changes(self, status: Mapping[str, Any]) -> dict[str, Any] | None:
        """A state line if anything changed since the last one, else ``None``."""
        state = self._state(status)
        now = _comparable(state)
        before = self._last
        if before == now:
            return None
        self._last = now
        changed = [name for name in STATE_FIELDS if before is None or before[name] != now[name]]
        return _message("state", {"changed": changed, **state})


def describe(message: Mapping[str, Any]) -> str:
    """One human-readable line for a watch message, with the local time first."""
    moment = time.strftime("%H:%M:%S", time.localtime(message.get("time") or time.time()))
    if message.get("type") == "state":
        parts = [_field(name, message.get(name)) for name in message.get("changed", ())]
        return f"{moment} {' | '.join(part for part in parts if part)}"
    if message.get("type") == "event":
        return f"{moment} {_event(message)}"
    return f"{moment} {json.dumps(message)}"


def _field(name: str, value: Any) -> str:
    if name == "relays" and isinstance(value, dict):
        return "relays " + ", ".join(
            f"{relay} {'on' if on else 'off'}" for relay, on in value.items()
        )
    if name == "position" and isinstance(value, int | float):
        minutes, seconds = divmod(int(value), 60)
        return f"at {minutes}:{seconds:02d}"
    if name == "playing":
        return f"playing {value or 'nothing'}"
    if name == "reload_pending":
        return "new config waits for the party to end" if value else ""
    if name == "reload_error":
        return f"reload failed: {value}" if value else ""
    if name == "next_phase":
        return _next_phase(value)
    if name == "length":
        return ""  # shown with the song: it only matters next to the position
    if name == "status":
        return ""  # says again what the other fields say
    return f"{name} {value}"


def _next_phase(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    when = "" if value.get("in") is None else f" in {value['in']:g} s"
    return f"then {value.get('phase')}{when}"


def _event(message: Mapping[str, Any]) -> str:
    event = message.get("event")
    if event == "reload":
        if message.get("ok"):
            return "reload: the config is valid"
        return f"reload refused: {message.get('problems')} problem(s)"
    if event == "stopping":
        return "the daemon is stopping"
    who = message.get("source", "?")
    if "uid" in message:
        who += f", uid {message['uid']} pid {message.get('pid')}"
    during = f" during {message['during']}" if "during" in message else ""
    return f"{event} ({who}){during}"

r"""The rooms as the local sync service sees them, for the web page and Home Assistant.

The web page and the MQTT bridge never talk to other rooms: they ask this Pi's own
``party-button sync`` for its status, over loopback on ``sync.port`` (the same question
``party-button status --sync`` asks), once a second on one connection
(:class:`SyncFollower`), and show :func:`rooms_view` of the answer. Room names and states
come from other machines: the view keeps only known state words and printable, bounded text.

A room's state is one of :data:`ROOM_STATES`:

    >>> view = rooms_view({"role": "room", "room": "kitchen", "leader": "pi", "state": "alone"})
    >>> [(room["name"], room["label"]) for room in view["rooms"]]
    [('kitchen', 'partying alone: no leader')]
    >>> room = rooms_view({"role": "room", "room": "x\x1b[2J", "state": "<b>"})["rooms"][0]
    >>> ascii(room["name"]), room["state"]
    ("'x\\ufffd[2J'", 'unknown')
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any

ROOM_STATES = {
    "party": "in the party",
    "ready": "ready for a party",
    "alone": "partying alone: no leader",
    "no-leader": "leader gone",
    "no-speaker": "its snapclient does not play",
    "gone": "lost",
    "unknown": "not said yet",
}
"""Each state word, and how the page says it."""
PARTY_PHASES = ("intro", "party")
GONE_KEPT = 16
"""Rooms that left which the leader still lists as ``gone``."""
MAX_NAME = 40
MAX_HOST = 253
MAX_WHY = 200
MAX_ROOMS = 64
"""Rooms a view lists at most."""
MAX_LINE = 64 * 1024
LOCAL_HOST = "127.0.0.1"
"""Where the adapters ask this Pi's sync service (it listens on every address by default)."""
EVERY = 1.0
"""Seconds between two questions to the sync service."""
TIMEOUT = 2.0
STATUS_REQUEST = b'{"type":"status"}\n'


def _text(value: Any, limit: int) -> str | None:
    """``value`` as printable text of at most ``limit`` characters, or ``None``."""
    if value is None:
        return None
    text = "".join(c if c.isprintable() else "\ufffd" for c in str(value))
    return text[:limit]


def _state(value: Any) -> str:
    return value if isinstance(value, str) and value in ROOM_STATES else "unknown"


def room_report(message: Mapping[str, Any]) -> dict[str, Any]:
    """What a room's ``room`` message may set in the leader's list: a known state, a why."""
    return {"state": _state(message.get("state")), "why": _text(message.get("why"), MAX_WHY)}


def _room(name: Any, state: Any, why: Any, *, here: bool = False) -> dict[str, Any]:
    word = _state(state)
    return {
        "name": _text(name, MAX_NAME) or "?",
        "state": word,
        "label": ROOM_STATES[word],
        "why": _text(why, MAX_WHY),
        "here": here,
    }


def rooms_view(status: Mapping[str, Any]) -> dict[str, Any]:
    """The sync service's ``status`` as the page and Home Assistant show it: this Pi's role,
    its room, its leader, every room it knows with its state, and an error if any."""
    role = status.get("role") if status.get("role") in ("leader", "room") else None
    view: dict[str, Any] = {
        "role": role,
        "room": _text(status.get("room"), MAX_NAME),
        "leader": _text(status.get("leader"), MAX_HOST),
        "rooms": [],
        "error": _text(status.get("error"), MAX_WHY),
    }
    if view["error"] is not None:
        return view  # the configured role and room; no rooms without an answer
    if role == "leader":
        own = "party" if status.get("phase") in PARTY_PHASES else "ready"
        view["rooms"].append(_room(view["room"], own, None, here=True))
        rooms = status.get("rooms")
        for name, room in list((rooms if isinstance(rooms, dict) else {}).items())[:MAX_ROOMS]:
            room = room if isinstance(room, dict) else {}
            view["rooms"].append(_room(name, room.get("state"), room.get("why")))
    elif role == "room":
        view["rooms"].append(_room(view["room"], status.get("state"), status.get("why"), here=True))
    return view


def ask(host: str, port: int, connection: socket.socket | None = None) -> dict[str, Any]:
    """One status answer of the sync service (on ``connection`` if given); raises ``OSError``
    or ``ValueError``."""
    if connection is None:
        with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
            return ask(host, port, sock)
    connection.sendall(STATUS_REQUEST)
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = connection.recv(4096)
        if not chunk:
            raise ConnectionError("the sync service hung up")
        line += chunk
        if len(line) > MAX_LINE:
            raise ValueError("an answer over 64 KiB")
    answer = json.loads(line)
    if not isinstance(answer, dict):
        raise ValueError("the answer is not an object")
    return answer


class SyncFollower:
    """Asks the sync service at ``host:port`` for its status every :data:`EVERY` seconds, in
    a thread, and calls ``on_view(view)`` (from that thread) whenever :func:`rooms_view`
    changes. While the service does not answer, the view has the configured ``role`` and
    ``room``, no rooms, and the error."""

    def __init__(
        self,
        host: str,
        port: int,
        role: str,
        room: str,
        on_view: Callable[[dict[str, Any]], None],
    ) -> None:
        self.host, self.port, self.role, self.room = host, port, role, room
        self.on_view = on_view
        self.view: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sync-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop asking; safe to call twice."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(TIMEOUT + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with socket.create_connection((self.host, self.port), timeout=TIMEOUT) as sock:
                    while not self._stop.is_set():
                        self._show(rooms_view(ask(self.host, self.port, sock)))
                        self._stop.wait(EVERY)
            except (OSError, ValueError) as exc:
                why = f"no answer from the sync service on {self.host}:{self.port}: {exc}"
                self._show(rooms_view({"role": self.role, "room": self.room, "error": why}))
                self._stop.wait(EVERY)

    def _show(self, view: dict[str, Any]) -> None:
        if view != self.view:
            self.view = view
            self.on_view(view)

"""The last parties, as the web service saw them in the daemon's watch stream.

A party begins when the phase leaves ``idle`` and ends when it is back to ``cooldown`` or
``idle``; what played in between is remembered. The list lives in the web service's memory
(a restart starts it afresh) and keeps :data:`KEPT` parties.
"""

from __future__ import annotations

from collections import deque
from typing import Any

KEPT = 10
_QUIET = ("idle", "cooldown")
_HOW = {"stop": "stopped", "hold": "panic stop"}  # else the song ended


class PartyLog:
    """Follows watch messages; :meth:`recent` lists the parties, newest first."""

    def __init__(self) -> None:
        self._parties: deque[dict[str, Any]] = deque(maxlen=KEPT)
        self._current: dict[str, Any] | None = None

    def observe(self, message: dict[str, Any]) -> bool:
        """Take one watch message; True when a party ended with it."""
        if message.get("type") == "event" and message.get("event") in _HOW:
            if self._current is not None:
                self._current["how"] = _HOW[message["event"]]
            return False
        if message.get("type") != "state":
            return False
        phase = message.get("phase")
        ended = False
        if self._current is None and phase not in _QUIET:
            self._current = {"started": message.get("time"), "songs": [], "how": "ended"}
        elif self._current is not None and phase in _QUIET:
            self._current["ended"] = message.get("time")
            self._parties.appendleft(self._current)
            self._current = None
            ended = True
        playing = message.get("playing")
        songs = self._current["songs"] if self._current is not None else None
        if songs is not None and playing and (not songs or songs[-1] != playing):
            songs.append(playing)
        return ended

    def recent(self) -> list[dict[str, Any]]:
        """The parties seen, newest first, and the one going on (without ``ended``)."""
        current = [dict(self._current, songs=list(self._current["songs"]))] if self._current else []
        return current + list(self._parties)

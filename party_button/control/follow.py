"""``follow``: the one control command with an argument, sent by a room's sync service.

It tells a daemon which party of the leader it follows: the song's name (shown only, never
opened), when its first sample is heard here (this machine's monotonic seconds), its length
and its beat grid, and for how long (``lease``) the daemon counts as linked to a leader (its
presses go to the leader instead of starting a party of its own). ``"song": null`` says the
leader has no party. The grid comes once a play: later orders for the play say
``"same_grid": true`` instead, and a daemon that does not follow that play (it restarted)
refuses them, so that the grid is sent again. The line is ``follow JSON`` with a newline, at most
:data:`MAX_FOLLOW_REQUEST` bytes; every field is checked and a bad one refused with its name.

>>> order = parse_follow(encode_follow(FollowOrder("a.ogg", 7, 12.5, 2.0)).decode()[7:])
>>> (order.song, order.heard_at, order.lease, order.beats)
('a.ogg', 12.5, 2.0, ())
>>> parse_follow('{"song": "a.ogg"}')
Traceback (most recent call last):
...
party_button.control.follow.FollowError: follow: missing id, heard_at, lease
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

FOLLOW = "follow"
MAX_FOLLOW_REQUEST = 160 * 1024  # bytes of a follow line: a grid of MAX_BEATS fits
MAX_BEATS = 8192  # beats in a grid: 20 minutes at 400 BPM
MAX_NAME = 255  # characters of the song's name
MAX_LEASE = 10.0  # seconds a follow links the daemon to the leader at most
FOLLOW_INTERVAL = 0.05  # seconds: the daemon refuses a follow closer to the one before
MAX_SECONDS = 86400.0  # no time in a grid or length lies further than a day
_REQUIRED = ("song", "id", "heard_at", "lease")
_GRID = ("tempo_bpm", "beats", "downbeats", "beats_per_bar")
_OPTIONAL = ("length", *_GRID, "same_grid")


class FollowError(ValueError):
    """A follow argument that is not what the protocol says."""


@dataclass(frozen=True)
class FollowOrder:
    """The leader's party as this room's daemon follows it."""

    song: str | None  # the song's file name, for display and song_shows; None: no party
    id: int  # which play of a song: two plays of one song differ
    heard_at: float  # when its first sample is heard here (monotonic seconds)
    lease: float  # seconds the daemon stays linked to the leader after this order
    length: float | None = None  # seconds the song lasts, when known
    tempo_bpm: float = 0.0
    beats: tuple[float, ...] = ()
    downbeats: tuple[float, ...] = ()
    beats_per_bar: int = 4
    same_grid: bool = False  # the grid is the one the daemon holds for this play

    @property
    def has_grid(self) -> bool:
        """Whether a beat grid came with the order."""
        return bool(self.beats)

    def with_grid_of(self, earlier: FollowOrder) -> FollowOrder:
        """This order with the grid of ``earlier`` (an order for the same play)."""
        return dataclasses.replace(
            self,
            tempo_bpm=earlier.tempo_bpm,
            beats=earlier.beats,
            downbeats=earlier.downbeats,
            beats_per_bar=earlier.beats_per_bar,
            same_grid=False,
        )


def encode_follow(order: FollowOrder) -> bytes:
    """The request line of ``order`` (ASCII, newline-terminated)."""
    fields: dict[str, Any] = {
        "song": order.song,
        "id": order.id,
        "heard_at": order.heard_at,
        "lease": order.lease,
        "length": order.length,
    }
    if order.same_grid:
        fields["same_grid"] = True
    elif order.has_grid:
        fields |= {
            "tempo_bpm": order.tempo_bpm,
            "beats": [round(beat, 4) for beat in order.beats],
            "downbeats": [round(beat, 4) for beat in order.downbeats],
            "beats_per_bar": order.beats_per_bar,
        }
    return f"{FOLLOW} {json.dumps(fields, separators=(',', ':'))}\n".encode()


def parse_follow(text: str) -> FollowOrder:
    """The order in ``text`` (the JSON after ``follow``); raises :class:`FollowError`."""
    try:
        fields = json.loads(text)
    except ValueError as exc:
        raise FollowError(f"follow: the argument is not JSON: {exc}") from None
    if not isinstance(fields, dict):
        raise FollowError("follow: the argument must be a JSON object")
    unknown = sorted(set(fields) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise FollowError(
            f"follow: unknown field {unknown[0]!r} (use {', '.join(_REQUIRED + _OPTIONAL)})"
        )
    missing = [name for name in _REQUIRED if name not in fields]
    if missing:
        raise FollowError(f"follow: missing {', '.join(missing)}")
    beats = _times(fields, "beats")
    downbeats = _times(fields, "downbeats")
    if not set(downbeats) <= set(beats):
        raise FollowError("follow: downbeats: each must be one of the beats")
    same_grid = fields.get("same_grid", False)
    if not isinstance(same_grid, bool):
        raise FollowError("follow: same_grid: expected true or false")
    if same_grid and (fields["song"] is None or any(name in fields for name in _GRID)):
        grid = ", ".join(_GRID)
        raise FollowError(f"follow: same_grid: true only with a song and without {grid}")
    length = fields.get("length")
    return FollowOrder(
        song=_song(fields["song"]),
        id=_integer(fields, "id", 0, 2**62),
        heard_at=_number(fields, "heard_at", -1e12, 1e12),
        lease=_number(fields, "lease", 0.0, MAX_LEASE, open_low=True),
        length=None if length is None else _number(fields, "length", 0.0, MAX_SECONDS),
        tempo_bpm=_number(fields, "tempo_bpm", 0.0, 1000.0) if "tempo_bpm" in fields else 0.0,
        beats=beats,
        downbeats=downbeats,
        beats_per_bar=_integer(fields, "beats_per_bar", 1, 64) if "beats_per_bar" in fields else 4,
        same_grid=same_grid,
    )


def _song(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_NAME:
        raise FollowError(
            f"follow: song: expected a file name of 1 to {MAX_NAME} characters or null"
        )
    if "/" in value or value in (".", "..") or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise FollowError("follow: song: a file name, without '/' or control characters")
    return value


def _number(
    fields: dict[str, Any], name: str, low: float, high: float, *, open_low: bool = False
) -> float:
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FollowError(f"follow: {name}: expected a number, got {json.dumps(value)[:40]}")
    if value < low or value > high or (open_low and value == low):
        above = "above" if open_low else "from"
        raise FollowError(
            f"follow: {name}: expected a number {above} {low:g} to {high:g}, got {value:g}"
        )
    return float(value)


def _integer(fields: dict[str, Any], name: str, low: int, high: int) -> int:
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FollowError(f"follow: {name}: expected a whole number from {low} to {high}")
    return value


def _times(fields: dict[str, Any], name: str) -> tuple[float, ...]:
    values = fields.get(name, [])
    if not isinstance(values, list) or len(values) > MAX_BEATS:
        raise FollowError(f"follow: {name}: expected a list of at most {MAX_BEATS} times")
    times: list[float] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FollowError(f"follow: {name}: expected numbers (seconds into the song)")
        if not 0.0 <= value <= MAX_SECONDS or (times and value <= times[-1]):
            raise FollowError(
                f"follow: {name}: expected increasing times from 0 to {MAX_SECONDS:g} s"
            )
        times.append(float(value))
    return tuple(times)

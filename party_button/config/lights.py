"""Reading the light-show part of config.yaml: ``groups``, ``shows``, ``show_for``, ``song_shows``.

:func:`parse_lights` reports every problem through the readers (``FILE:LINE: key: message``)
and still returns a usable :class:`~party_button.lights.shows.LightsConfig`, leaving out what was
wrong. Shows named by default (``intro``, ``party``, ``ending``) that the file does not define
are filled in: every relay steadily on, so that without shows the lights stay on from the
press until the music has faded out.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from party_button.config.yaml_reader import ListReader, MapReader, did_you_mean
from party_button.lights.patterns import (
    CHECK_TEMPO_BPM,
    STROBE_DUTY,
    Alternate,
    BeatFlash,
    Blink,
    Chase,
    Pattern,
    Sparkle,
    Steady,
)
from party_button.lights.relay_guard import RelayLimits
from party_button.lights.shows import DEFAULT_SHOW_FOR, LightsConfig, Show, Step
from party_button.phase import Phase

# The longest time (seconds) that any duration in the config may be: a day, finite and far
# beyond any party. Counts of beats stay within MOST_BEATS.
LONGEST = 86400.0
MOST_BEATS = 64
MAX_SEED = 2**32 - 1

PATTERN_TYPES = ("steady", "blink", "strobe", "chase", "sparkle", "beat", "downbeat", "alternate")
_BEAT_TYPES = ("beat", "downbeat", "alternate")
# The keys of ``show_for``: the config calls the party phase "song".
SHOW_FOR_KEYS = {"intro": Phase.INTRO, "song": Phase.PARTY, "ending": Phase.ENDING}
# Tolerance when comparing a pattern's switching interval with a relay's minimum.
_EPSILON = 1e-9


class _Names:
    """Turns relay and group names into relay names, reporting unknown ones."""

    def __init__(self, relays: Sequence[str], groups: dict[str, tuple[str, ...]]) -> None:
        self.relays = tuple(relays)
        self.groups = groups

    def resolve(self, listing: ListReader) -> tuple[str, ...]:
        """The relays named in ``listing`` (groups expanded, each relay once, in order)."""
        found: list[str] = []
        for line, name in listing.strings():
            members = self.resolve_one(listing, line, name)
            found.extend(member for member in members if member not in found)
        return tuple(found)

    def resolve_one(self, reader: ListReader, line: int, name: str) -> tuple[str, ...]:
        """The relays of one relay or group name; ``()`` after reporting an unknown one."""
        if name in self.relays:
            return (name,)
        if name in self.groups:
            return self.groups[name]
        known = [*self.relays, *self.groups]
        reader.problems.add(
            line, reader.keypath, f"unknown relay or group {name!r}{did_you_mean(name, known)}"
        )
        return ()


def parse_lights(root: MapReader, relays: Sequence[RelayLimits]) -> LightsConfig:
    """Read ``groups``, ``shows``, ``show_for`` and ``song_shows`` from the top of the config."""
    relay_names = tuple(relay.name for relay in relays)
    groups = _parse_groups(root.map("groups"), relay_names)
    names = _Names(relay_names, groups)
    limits = {relay.name: relay for relay in relays}
    shows_section = root.map("shows")
    shows: dict[str, Show] = {}
    show_keys = shows_section.keys()
    for name in show_keys:
        shows[name] = _parse_show(name, shows_section.map(name), names, limits)
    for name in DEFAULT_SHOW_FOR.values():
        if name not in shows:
            shows[name] = Show(name, (Step(Steady(relay_names)),))
    show_names = tuple(shows)
    show_for_section = root.map("show_for")
    show_for = {
        phase: show_for_section.string(key, DEFAULT_SHOW_FOR[phase], choices=show_names)
        or DEFAULT_SHOW_FOR[phase]
        for key, phase in SHOW_FOR_KEYS.items()
    }
    show_for_section.finish()
    song_section = root.map("song_shows")
    song_shows = []
    song_patterns = song_section.keys()
    for pattern in song_patterns:
        show_name = song_section.string(pattern, choices=show_names)
        if show_name is not None:
            song_shows.append((pattern, show_name))
    return LightsConfig(
        relays=tuple(relays),
        groups=groups,
        shows=shows,
        show_for=show_for,
        song_shows=tuple(song_shows),
    )


def _parse_groups(section: MapReader, relays: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    groups: dict[str, tuple[str, ...]] = {}
    group_names = section.keys()
    for name in group_names:
        listing = section.list(name)
        if name in relays:
            section.error(f"{name!r} is already a relay's name", name, listing.node)
            continue
        members: list[str] = []
        for line, member in listing.strings():
            if member not in relays:
                hint = did_you_mean(member, relays)
                section.problems.add(line, listing.keypath, f"unknown relay {member!r}{hint}")
            elif member not in members:
                members.append(member)
        if not members:
            section.error("needs at least one relay", name, listing.node)
            continue
        groups[name] = tuple(members)
    return groups


def _parse_show(
    name: str, section: MapReader, names: _Names, limits: dict[str, RelayLimits]
) -> Show:
    duration = section.number("duration", None, minimum=0.0, maximum=LONGEST, optional=True)
    steps: list[tuple[Step, MapReader]] = []
    for item in section.list("steps", required=True).maps():
        step = _parse_step(item, names, limits)
        if step is not None:
            _check_overlap(step, item, steps)
            steps.append((step, item))
    section.finish()
    return Show(name, tuple(step for step, _item in steps), duration)


def _parse_step(item: MapReader, names: _Names, limits: dict[str, RelayLimits]) -> Step | None:
    kind = item.string("pattern", choices=PATTERN_TYPES)
    start = item.number("start", _default(Step, "start"), minimum=0.0, maximum=LONGEST)
    stop = item.number("stop", None, minimum=0.0, maximum=LONGEST, optional=True)
    if stop is not None and stop <= start:
        _report(item, "stop", f"must be after start ({start:g} s), got {stop:g}")
        stop = None
    if kind == "alternate":
        pattern = _parse_alternate(item, names)
    else:
        relays = names.resolve(item.list("relays", required=True))
        pattern = _parse_pattern(kind, item, relays, origin=start) if relays else None
    if pattern is not None:
        _check_rate(kind, pattern, item, limits)
    if kind is not None:  # keys of an unknown pattern type would only add noise
        item.finish()
    return None if pattern is None else Step(pattern, start, stop)


def _parse_pattern(
    kind: str | None, item: MapReader, relays: tuple[str, ...], origin: float
) -> Pattern | None:
    if kind == "steady":
        return Steady(relays)
    if kind in ("blink", "strobe"):
        rate = _rate(item)
        duty_default = _default(Blink, "duty") if kind == "blink" else STROBE_DUTY
        duty = item.number("duty", duty_default, minimum=0.05, maximum=0.95)
        return None if rate is None else Blink(relays, rate, duty, origin)
    if kind == "chase":
        rate = _rate(item)
        return None if rate is None else Chase(relays, rate, origin)
    if kind == "sparkle":
        rate = _rate(item)
        density = item.number("density", _default(Sparkle, "density"), minimum=0.05, maximum=0.95)
        seed = item.number(
            "seed", _default(Sparkle, "seed"), minimum=0, maximum=MAX_SEED, integer=True
        )
        return None if rate is None else Sparkle(relays, rate, density, seed, origin)
    if kind in ("beat", "downbeat"):
        every = _every(item, BeatFlash)
        offset = item.number(
            "offset", _default(BeatFlash, "offset"), minimum=0, maximum=MOST_BEATS - 1, integer=True
        )
        if offset >= every:
            _report(item, "offset", f"must be less than every ({every}), got {offset}")
            offset = 0
        length = item.number("length", _default(BeatFlash, "length"), minimum=0.05, maximum=0.95)
        return BeatFlash(relays, every, offset, length, downbeats=kind == "downbeat")
    return None


def _rate(item: MapReader) -> float | None:
    return item.number("rate_hz", minimum=0.01, maximum=100.0)


def _every(item: MapReader, pattern: type) -> int:
    """``every`` of a beat pattern: how many beats from one flash or turn to the next."""
    return item.number(
        "every", _default(pattern, "every"), minimum=1, maximum=MOST_BEATS, integer=True
    )


def _default(cls: type, name: str) -> Any:
    """The default of field ``name`` of dataclass ``cls``: the one place it is written."""
    (found,) = (item for item in dataclasses.fields(cls) if item.name == name)
    return found.default


def _parse_alternate(item: MapReader, names: _Names) -> Alternate | None:
    listing = item.list("sides", required=True)
    every = _every(item, Alternate)
    sides: list[tuple[str, ...]] = []
    taken: set[str] = set()
    for line, name in listing.strings():
        side = names.resolve_one(listing, line, name)
        twice = sorted(taken.intersection(side))
        if twice:
            listing.problems.add(
                line, listing.keypath, f"{name!r} repeats {', '.join(twice)} of another side"
            )
            continue
        taken.update(side)
        if side:
            sides.append(side)
    if "sides" in item and len(listing) < 2:
        item.error(f"needs at least two sides, got {len(listing)}", "sides", listing.node)
    return Alternate(tuple(sides), every) if len(sides) >= 2 else None


def _check_rate(
    kind: str | None, pattern: Pattern, item: MapReader, limits: dict[str, RelayLimits]
) -> None:
    """Report each relay that ``pattern`` would switch faster than its ``min_interval``."""
    shortest = pattern.shortest_switch()
    if shortest is None:
        return
    key = "rate_hz" if "rate_hz" in item else "pattern"
    for name in pattern.relays:
        minimum = limits[name].min_interval
        if shortest + _EPSILON >= minimum:
            continue
        if kind in _BEAT_TYPES:
            short_flash = isinstance(pattern, BeatFlash) and pattern.length * 60.0 < (
                minimum * CHECK_TEMPO_BPM
            )
            change = "a longer length" if short_flash else "a larger every"
            advice = f"at {CHECK_TEMPO_BPM:g} BPM; use {change}"
        else:
            rate = item.scalar("rate_hz", "a number")
            advice = f"use rate_hz {math.floor(rate * shortest / minimum * 100) / 100:g} or less"
        _report(
            item,
            key,
            f"{kind} would switch relay {name!r} every {shortest:.3g} s, faster than its "
            f"min_interval of {minimum:g} s ({advice})",
        )


def _check_overlap(step: Step, item: MapReader, earlier: list[tuple[Step, MapReader]]) -> None:
    """Report relays that ``step`` drives while an earlier step of the show drives them."""
    for other, other_item in earlier:
        shared = [name for name in step.relays if name in other.relays]
        if shared and step.overlaps(other):
            item.error(
                f"{', '.join(map(repr, shared))} already driven by {other_item.keypath} "
                "at the same time (give the steps start/stop windows that do not overlap)"
            )


def _report(item: MapReader, key: str, message: str) -> None:
    """Record a problem at the line of ``key`` in ``item``."""
    item.problems.add(item.key_line(key), f"{item.keypath}.{key}", message)

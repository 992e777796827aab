"""Shared pieces of the light-show tests: relay settings, beat grids, config loading."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from party_button.config.lights import parse_lights
from party_button.config.location import SHIPPED_CONFIG
from party_button.config.schema import RelayConfig as Relay
from party_button.config.schema import load_config
from party_button.config.yaml_reader import MapReader, Problems
from party_button.lights.patterns import Pattern
from party_button.lights.shows import LightsConfig, Show, Step

RELAYS = (
    Relay("lights", 5, drives="party lights"),
    Relay("beacon", 6, drives="rotating beacon"),
    Relay("fog", 13, drives="fog machine", max_on_time=20.0, rest_time=40.0),
    Relay("strobe", 19, drives="strobe lamp", min_interval=0.1),
)


@dataclass(frozen=True)
class Grid:
    """A beat grid with the attributes of ``beats.BeatGrid``."""

    tempo_bpm: float
    beats: tuple[float, ...]
    downbeats: tuple[float, ...]


def steady_grid(bpm: float = 120.0, count: int = 32, first: float = 0.5, per_bar: int = 4) -> Grid:
    """``count`` evenly spaced beats from ``first`` on, a downbeat every ``per_bar``."""
    beats = tuple(first + index * 60.0 / bpm for index in range(count))
    return Grid(bpm, beats, beats[::per_bar])


def load_lights(
    folder: Path, text: str, relays: tuple[Relay, ...] = RELAYS
) -> tuple[LightsConfig, list[str]]:
    """Parse ``text`` as config.yaml in ``folder``; the lights and every problem found."""
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    problems = Problems(path)
    root = MapReader.load(path, problems)
    lights = parse_lights(root, relays)
    root.finish()
    return lights, problems.lines


def load_shipped(folder: Path) -> LightsConfig:
    """The light shows of the shipped config (which must load without problems)."""
    return load_config(SHIPPED_CONFIG).lights


def single_show(*steps: Step, duration: float | None = None) -> LightsConfig:
    """Lights for :data:`RELAYS` with one show ``s`` made of ``steps`` (no config check)."""
    return LightsConfig(relays=RELAYS, shows={"s": Show("s", steps, duration)})


def changes(pattern: Pattern, grid: object, until: float) -> list[tuple[float, dict[str, bool]]]:
    """Walk ``pattern`` from 0 by its own ``next_change``: each ``(position, states)``."""
    position = 0.0
    found = [(position, pattern.states(position, grid))]
    while (upcoming := pattern.next_change(position, grid)) is not None and upcoming <= until:
        assert upcoming > position
        position = upcoming
        found.append((position, pattern.states(position, grid)))
    return found

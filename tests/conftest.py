"""Shared fixtures: mock pins, SDL's dummy audio driver, generated songs and configs."""

from __future__ import annotations

import os

os.environ["SDL_AUDIODRIVER"] = "dummy"  # before pygame is imported anywhere
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from party_button.config.schema import Config, load_config
from party_button.testing import MOCK_CONFIG, RELAY_PINS, RelayMockFactory, write_tone
from party_button.testing.installer import source_tree


@pytest.fixture
def mock_factory() -> Iterator[MockFactory]:
    """gpiozero's MockFactory, installed as the default and reset after.

    Pins are PWM-capable (the status LED pulses); the relay pins of ``BASE_CONFIG`` are
    plain digital pins, which keep their last driven level when released.
    """
    saved = Device.pin_factory
    factory = RelayMockFactory(RELAY_PINS)
    Device.pin_factory = factory
    try:
        yield factory
    finally:
        factory.reset()
        Device.pin_factory = saved


@pytest.fixture
def song_folder(tmp_path: Path) -> Path:
    """A library of three short songs, and a siren and a fallback sound in ``sounds/``."""
    folder = tmp_path / "songs"
    for index, frequency in enumerate((330.0, 440.0, 550.0)):
        write_tone(folder / f"song{index}.ogg", 0.6, frequency)
    write_tone(tmp_path / "sounds" / "siren.ogg", 0.3, 880.0)
    write_tone(tmp_path / "sounds" / "fallback.ogg", 0.3, 660.0)
    return folder


@pytest.fixture
def source(tmp_path: Path, song_folder: Path) -> Path:
    """A copy of the source tree with the test songs, for the installer's tests."""
    return source_tree(tmp_path, song_folder)


BASE_CONFIG = MOCK_CONFIG


def _merge(base: dict, changes: dict) -> dict:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        elif value is None and key in merged:
            merged.pop(key)
        else:
            merged[key] = value
    return merged


@pytest.fixture
def make_config(tmp_path: Path, song_folder: Path) -> Callable[..., Config]:
    """Write ``BASE_CONFIG`` with ``changes`` merged in (``None`` removes a key) and load it."""

    def make(changes: dict | None = None, name: str = "config.yaml") -> Config:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(_merge(BASE_CONFIG, changes or {}), sort_keys=False))
        return load_config(path)

    return make


@pytest.fixture
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves non-daemon threads running."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for thread in leaked:
        thread.join(timeout=2.0)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"threads left running: {still}"

"""Real Snapcast for the sync tests: skipped with the reason where its programs are missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from party_button.config.sync import SnapcastPorts, SyncConfig
from party_button.testing.ports import free_port
from party_button.testing.sync import missing_programs


@pytest.fixture
def snapcast_programs() -> None:
    """Skip the test where snapserver, snapclient or sox is missing (CI installs them)."""
    reason = missing_programs()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def leader_sync(tmp_path: Path) -> SyncConfig:
    """A leader's sync section with its pipe in the test's folder and a 400 ms buffer."""
    return SyncConfig(enabled=True, role="leader", buffer_ms=400, pipe=tmp_path / "stream")


@pytest.fixture
def loopback_ports() -> Iterator[SnapcastPorts]:
    """snapserver's ports on loopback, free now."""
    yield SnapcastPorts(stream=free_port(), control=free_port(), address="127.0.0.1")

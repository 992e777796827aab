"""Free ports for tests' servers come from outside the kernel's ephemeral range."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from party_button.testing import ports
from party_button.testing.ports import ephemeral_range, free_port


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing handed out yet."""
    monkeypatch.setattr(ports, "_handed_out", set())


def test_ports_are_outside_the_ephemeral_range_and_never_handed_out_twice(fresh: None) -> None:
    ephemeral = ephemeral_range()
    handed = [free_port() for _ in range(200)]
    assert len(set(handed)) == len(handed)
    assert [port for port in handed if port in ephemeral or port < ports.LOWEST] == []
    with socket.socket() as server:
        server.bind(("127.0.0.1", handed[-1]))
        server.listen()


def test_a_port_someone_listens_on_is_passed_over(
    fresh: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as listener:
        taken = _listening_below_a_free_port(listener)
        # Only two ports are outside the range from LOWEST: the taken one and the one above it.
        monkeypatch.setattr(ports, "LOWEST", taken)
        (tmp_path / "range").write_text(f"{taken + 2}\t65535\n")
        monkeypatch.setattr(ports, "PORT_RANGE", tmp_path / "range")
        assert free_port() == taken + 1
        with pytest.raises(RuntimeError, match=r"no free TCP port on 127\.0\.0\.1"):
            free_port()


def _listening_below_a_free_port(listener: socket.socket) -> int:
    """Make ``listener`` listen on a port whose next port is free; that port."""
    for _attempt in range(100):
        with socket.socket() as candidate:
            candidate.bind(("127.0.0.1", 0))
            port = candidate.getsockname()[1]
        if port >= 65534:  # no free port can be above it within the range
            continue
        with socket.socket() as above:
            try:
                above.bind(("127.0.0.1", port + 1))
                listener.bind(("127.0.0.1", port))
            except OSError:
                continue
        listener.listen()
        return port
    raise AssertionError("no port with a free port above it in 100 tries")


def test_an_unreadable_range_falls_back_to_linuxs_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "range").write_text("not a range\n")
    monkeypatch.setattr(ports, "PORT_RANGE", tmp_path / "range")
    assert ephemeral_range() == range(32768, 61000)
    monkeypatch.setattr(ports, "PORT_RANGE", tmp_path / "absent")
    assert ephemeral_range() == range(32768, 61000)

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
    # An ephemeral range that leaves two ports outside it: 65534 and 65535.
    (tmp_path / "range").write_text(f"{ports.LOWEST}\t65533\n")
    monkeypatch.setattr(ports, "PORT_RANGE", tmp_path / "range")
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", 65534))
        except OSError:
            pytest.skip("port 65534 is taken on this machine")
        listener.listen()
        assert free_port() == 65535
        with pytest.raises(RuntimeError, match=r"no free TCP port on 127\.0\.0\.1"):
            free_port()


def test_an_unreadable_range_falls_back_to_linuxs_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "range").write_text("not a range\n")
    monkeypatch.setattr(ports, "PORT_RANGE", tmp_path / "range")
    assert ephemeral_range() == range(32768, 61000)
    monkeypatch.setattr(ports, "PORT_RANGE", tmp_path / "absent")
    assert ephemeral_range() == range(32768, 61000)

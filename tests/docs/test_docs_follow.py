"""The ``follow`` examples of the control socket's page are lines a room's daemon follows: a play
with its grid, then an order that keeps it."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from party_button.config.schema import Config
from party_button.control.client import decode_line
from party_button.testing import running_daemon, wait_for
from tests.docs.markdown_pages import DOCS, blocks

PAGE = DOCS / "reference" / "control-socket.md"


def test_the_follow_example_is_followed_by_a_rooms_daemon(
    make_config: Callable[..., Config], mock_factory: Any, tmp_path: Path
) -> None:
    shown = [block.text for block in blocks(PAGE, "text") if block.text.startswith("follow ")]
    assert len(shown) == 2  # the play with its grid, then an order that keeps it
    path = tmp_path / "control.sock"
    room = {"sync": {"enabled": True, "role": "room", "leader": "10.0.0.2"}}
    with running_daemon(make_config(room), mock_factory, control_path=path):
        refused = _send(path, shown[1])  # no play followed yet: the grid is wanted
        assert (refused["ok"], refused["send_grid"], refused["phase"]) == (False, True, "idle")
        for line in shown:
            answer = _send(path, line)
            assert (answer["ok"], answer["followed"]) == (True, True), answer
            assert (answer["phase"], answer["playing"]) == ("party", "disco-inferno.ogg")
        assert _send(path, "grid\n")["grid"]["beats"] == [0.5, 1.0, 1.5, 2.0, 2.5]


def _send(path: Path, line: str) -> dict[str, Any]:
    """The daemon's answer to ``line``, sent again while the follow rate limit refuses it."""
    answer: dict[str, Any] = {}

    def answered() -> bool:
        nonlocal answer
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(path))
            sock.sendall(line.encode())
            answer = decode_line(path, sock.makefile("rb").readline())
        return "too many follow" not in str(answer.get("error"))

    wait_for(answered, timeout=10, every=0.02)
    return answer

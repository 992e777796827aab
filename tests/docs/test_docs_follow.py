"""The ``follow`` example of the control socket's page is a line a room's daemon follows."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from party_button.config.schema import Config
from party_button.control.client import decode_line
from party_button.testing import running_daemon
from tests.docs.markdown_pages import DOCS, blocks

PAGE = DOCS / "reference" / "control-socket.md"


def test_the_follow_example_is_followed_by_a_rooms_daemon(
    make_config: Callable[..., Config], mock_factory: Any, tmp_path: Path
) -> None:
    shown = [block.text for block in blocks(PAGE, "text") if block.text.startswith("follow ")]
    assert len(shown) == 1
    path = tmp_path / "control.sock"
    room = {"sync": {"enabled": True, "role": "room", "leader": "10.0.0.2"}}
    with (
        running_daemon(make_config(room), mock_factory, control_path=path),
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock,
    ):
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(shown[0].encode())
        answer = decode_line(path, sock.makefile("rb").readline())
    assert (answer["ok"], answer["followed"]) == (True, True), answer
    assert (answer["phase"], answer["playing"]) == ("party", "disco-inferno.ogg")

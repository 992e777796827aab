"""Sync services on loopback for the adapters' tests: the rooms as the page and Home
Assistant show them, without Snapcast or network namespaces.

A leader's ``party-button sync`` listens on 127.0.0.1 (where the web page and the MQTT bridge
ask it), a room's on another loopback address with the same port; no snapserver answers, so
a room says its snapclient does not play. :class:`Stranger` is a peer that says whatever it
likes to the leader, as a hostile machine on the network could.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import yaml

from party_button.sync_status import ask
from party_button.testing import wait_for
from party_button.testing.ports import free_port
from party_button.testing.sync import background, party_button

LEADER_ADDRESS = "127.0.0.1"
ROOM_ADDRESS = "127.0.0.2"


def sync_section(port: int, **settings: object) -> dict:
    """An enabled ``sync`` section on ``port``."""
    return {"enabled": True, "port": port, **settings}


@contextlib.contextmanager
def sync_service(
    folder: Path, sync: dict, control_socket: Path, listen: str
) -> Iterator[subprocess.Popen[bytes]]:
    """``party-button sync`` with the ``sync`` section, on ``listen``, until exit; returns
    once it answers ``status``."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / f"sync-{listen}.yaml"
    config.write_text(yaml.safe_dump({"sync": sync}))
    command = party_button(
        *("sync", "--config", str(config), "--socket", str(control_socket), "--listen", listen),
        *("--snapserver-control-port", str(free_port())),
    )
    with background(command, folder / f"sync-{listen}.log") as process:

        def answers() -> bool:
            assert process.poll() is None, (folder / f"sync-{listen}.log").read_text()
            with contextlib.suppress(OSError, ValueError):
                return "role" in ask(listen, int(sync["port"]))
            return False

        wait_for(answers, timeout=30, every=0.05)
        yield process


class Stranger:
    """A peer on the leader's sync port that says ``hello`` as ``room`` and reports
    ``state`` and ``why`` as it likes; it stays until closed."""

    def __init__(self, port: int, room: object, state: object, why: object) -> None:
        self.sock = socket.create_connection((LEADER_ADDRESS, port), timeout=5)
        self.say({"type": "hello", "room": room})
        self.say({"type": "room", "state": state, "why": why})

    def say(self, message: dict) -> None:
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def close(self) -> None:
        self.sock.close()

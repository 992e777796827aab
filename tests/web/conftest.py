"""Fixtures of the web tests: a running daemon on mock pins and ``party-button web`` beside it.

The web service runs as its own process (``python -m party_button web``), exactly as its unit
runs it, and talks to the daemon through the control socket only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from party_button.daemon import Daemon
from tests.daemon_helpers import running_daemon, wait_for

pytest.importorskip("aiohttp")

PIN = "2468"
TOKEN = "test-token-0123456789abcdef"
WEB = {"web": {"pin": PIN, "token": TOKEN, "max_upload_mb": 5}}
SERVING = re.compile(r"serving (http://\S+) ")


@dataclass
class WebService:
    """A running ``party-button web``: its address, process and log."""

    url: str
    process: subprocess.Popen
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_web(config_path: Path, socket: Path, log: Path) -> WebService:
    """Start ``party-button web`` on a free loopback port and wait until it serves."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    out = log.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "party_button",
            "web",
            "--listen",
            "127.0.0.1:0",
            "--config",
            str(config_path),
            "--socket",
            str(socket),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
    )
    found: list[str] = []

    def serving() -> bool:
        match = SERVING.search(log.read_text(errors="replace"))
        if match:
            found.append(match.group(1))
        return bool(match) or process.poll() is not None

    wait_for(serving, timeout=30)
    assert found, f"the web service did not start: {log.read_text(errors='replace')}"
    return WebService(found[0], process, log)


def stop_web(service: WebService) -> None:
    """Stop the service as systemd does (SIGTERM); it must end at once and cleanly."""
    service.process.terminate()
    try:
        code = service.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        service.process.kill()
        service.process.wait()
        raise AssertionError(f"the web service ignored SIGTERM: {service.log_text()}") from None
    assert code == 0, service.log_text()


@pytest.fixture
def party(
    make_config, mock_factory, tmp_path: Path
) -> Iterator[Callable[..., tuple[Daemon, WebService]]]:
    """Start a daemon with a control socket and the web service beside it."""
    started: list = []

    def start(
        changes: dict | None = None, *, daemon: bool = True
    ) -> tuple[Daemon | None, WebService]:
        merged = {**WEB, **(changes or {})}
        merged["web"] = {**WEB["web"], **(changes or {}).get("web", {})}
        config = make_config(merged)
        socket = tmp_path / "run" / "control.sock"
        running = None
        if daemon:
            context = running_daemon(config, mock_factory, control_path=socket)
            running = context.__enter__()
            started.append(context)
        service = start_web(config.path, socket, tmp_path / "web.log")
        started.append(service)
        return running, service

    yield start
    for thing in reversed(started):
        if isinstance(thing, WebService):
            stop_web(thing)
        else:
            thing.__exit__(None, None, None)

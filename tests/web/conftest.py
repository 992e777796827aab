"""Fixtures of the web tests: a running daemon on mock pins and ``party-button web`` beside it.

The web service runs as its own process (``python -m party_button web``), exactly as its unit
runs it, and talks to the daemon through the control socket only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from party_button.daemon.daemon import Daemon
from party_button.testing import running_daemon
from party_button.testing.web import WebService, start_web, stop_web

pytest.importorskip("aiohttp")

PIN = "2468"
TOKEN = "test-token-0123456789abcdef"
WEB = {"web": {"pin": PIN, "token": TOKEN, "max_upload_mb": 5}}


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

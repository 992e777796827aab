"""Fixtures of the web tests: a running daemon on mock pins and ``party-button web`` beside it.

The web service runs as its own process (``python -m party_button web``), exactly as its unit
runs it, and talks to the daemon through the control socket only.
"""

from __future__ import annotations

import shutil
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
        changes: dict | None = None, *, daemon: bool = True, sync: dict | None = None
    ) -> tuple[Daemon | None, WebService]:
        """``sync``: the web service's own config has this ``sync`` section; the daemon's
        has none (it plays on its own, with no Snapcast here)."""
        merged = {**WEB, **(changes or {})}
        merged["web"] = {**WEB["web"], **(changes or {}).get("web", {})}
        config = make_config(merged)
        web_config = make_config({**merged, "sync": sync}, "web.yaml") if sync else config
        socket = tmp_path / "run" / "control.sock"
        running = None
        if daemon:
            context = running_daemon(config, mock_factory, control_path=socket)
            running = context.__enter__()
            started.append(context)
        service = start_web(web_config.path, socket, tmp_path / "web.log")
        started.append(service)
        return running, service

    yield start
    for thing in reversed(started):
        if isinstance(thing, WebService):
            stop_web(thing)
        else:
            thing.__exit__(None, None, None)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PHONE = {"width": 390, "height": 844}
WAIT_MS = 20_000


@pytest.fixture
def phone() -> Iterator:
    """A new phone-sized page with touch in headless chromium."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(
            viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
        )
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        try:
            yield page
        finally:
            browser.close()


def log_in(page, url: str, pin: str = PIN) -> None:
    """Log in on the page with ``pin``."""
    page.goto(url + "/")
    page.fill("#pin", pin)
    page.click("button[type=submit]")

"""The page in a real browser: Debian's chromium, headless, driven by Playwright.

Phone-sized and with touch, against a running daemon on mock pins. Set
``PARTY_BUTTON_SCREENSHOT=PATH`` to keep the phone screenshot (the README's picture is made so).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from party_button.testing import wait_for, write_tone
from tests.web.conftest import PIN

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
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
    page.goto(url + "/")
    page.fill("#pin", pin)
    page.click("button[type=submit]")


def lamp(page, relay: str, on: bool) -> None:
    """Wait until the page's lamp of ``relay`` shows ``on``."""
    page.wait_for_selector(f'#lamps li[data-relay="{relay}"][data-on="{str(on).lower()}"]')


def test_log_in_tap_the_button_and_the_lamps_follow_the_relays(party, phone, tmp_path):
    for song in (tmp_path / "songs").iterdir():
        write_tone(song, 4.0)
    daemon, web = party({"party": {"cooldown": 0.5}})
    log_in(phone, web.url, "9999")
    phone.wait_for_selector("#login-message:text('wrong PIN')")
    log_in(phone, web.url)
    phone.wait_for_selector('#link[data-state="up"]')
    lamp(phone, "lights", False)
    phone.tap("#party")
    wait_for(lambda: daemon.hardware.relay_states() == {"lights": True, "beacon": True})
    lamp(phone, "lights", True)
    lamp(phone, "beacon", True)
    phone.wait_for_selector("#playing:text('Playing song')")
    phone.wait_for_selector("#time:text('/ 0:04')")
    screenshot = Path(os.environ.get("PARTY_BUTTON_SCREENSHOT") or tmp_path / "phone.png")
    phone.screenshot(path=str(screenshot), full_page=False)
    assert screenshot.stat().st_size > 10_000
    phone.click("#stop")
    wait_for(lambda: daemon.hardware.relay_states() == {"lights": False, "beacon": False})
    lamp(phone, "lights", False)
    phone.wait_for_selector("#parties li:text('(stopped)')")


def test_holding_the_button_is_the_panic_stop(party, phone, tmp_path):
    for song in (tmp_path / "songs").iterdir():
        write_tone(song, 10.0)
    daemon, web = party({"party": {"cooldown": 5.0}})
    log_in(phone, web.url)
    phone.wait_for_selector('#link[data-state="up"]')
    box = phone.locator("#party").bounding_box()
    phone.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    phone.mouse.down()
    wait_for(lambda: daemon.machine.phase.value == "party")
    lamp(phone, "lights", True)
    phone.wait_for_selector("#party.held")  # after button.hold_time
    phone.mouse.up()
    wait_for(lambda: daemon.machine.phase.value == "cooldown")
    assert daemon.hardware.relay_states() == {"lights": False, "beacon": False}
    lamp(phone, "lights", False)
    phone.wait_for_selector("#phase:text('cooldown')")
    phone.wait_for_selector("#parties li:text('(panic stop)')")


def test_upload_songs_and_find_them_in_the_library(party, phone, tmp_path):
    daemon, web = party()
    log_in(phone, web.url)
    phone.wait_for_selector("#songs li:has-text('song0.ogg')")
    made = tmp_path / "made"
    song = write_tone(made / "tune.flac", 1.0, 600.0)
    notes = made / "notes.mp3"
    notes.write_text("not a song at all\n" * 50)
    huge = made / "huge.wav"
    with huge.open("wb") as out:
        out.truncate(1024**3)  # a sparse gigabyte
    phone.set_input_files("#files", [str(song), str(notes), str(huge)])
    phone.click("#upload button[type=submit]")
    phone.wait_for_selector("#upload-results li.saved:text('tune.flac: added')")
    phone.wait_for_selector("#upload-results li.refused:has-text('notes.mp3: not a song')")
    phone.wait_for_selector(
        "#upload-results li.refused:text('huge.wav: 1024 MB is over the upload limit of 5 MB')"
    )
    phone.fill("#search", "tune")
    wait_for(lambda: phone.locator("#songs li").count() == 1)  # the CSP forbids eval
    assert phone.locator("#songs li").inner_text().startswith("tune.flac")
    assert (tmp_path / "songs" / "tune.flac").read_bytes() == song.read_bytes()
    assert not (tmp_path / "songs" / "notes.mp3").exists()
    wait_for(lambda: len(daemon.library) == 4, timeout=30)  # the daemon's next scan finds it
    phone.click("#songs li:has-text('tune.flac') button")
    phone.wait_for_selector("#songs-more:text('')", state="attached")
    wait_for(lambda: not (tmp_path / "songs" / "tune.flac").exists())


def test_the_page_says_when_the_daemon_is_down_and_comes_back(
    party, phone, make_config, mock_factory, tmp_path
):
    _daemon, web = party(daemon=False)
    log_in(phone, web.url)
    phone.wait_for_selector('#link[data-state="down"]:has-text("The party button is not running")')
    assert phone.locator("#party").is_disabled()
    from party_button.testing import running_daemon

    config = make_config({"web": {"pin": PIN}})
    with running_daemon(config, mock_factory, control_path=tmp_path / "run" / "control.sock"):
        phone.wait_for_selector('#link[data-state="up"]')
        assert phone.locator("#party").is_enabled()
    phone.wait_for_selector('#link[data-state="down"]')
    web.process.terminate()
    web.process.wait(timeout=10)
    phone.wait_for_selector(
        '#link[data-state="lost"]:has-text("Connection to the party button lost")'
    )

"""The page in a real browser: Debian's chromium, headless, driven by Playwright.

Phone-sized and with touch, against a running daemon on mock pins. Set
``PARTY_BUTTON_SCREENSHOT=PATH`` to keep the phone screenshot (the README's picture is made so).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from party_button.testing import wait_for, write_tone
from party_button.testing.ports import free_port
from party_button.testing.rooms import LEADER_ADDRESS, ROOM_ADDRESS, sync_section, sync_service
from tests.web.conftest import CHROMIUM, PIN, log_in

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")


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


def test_the_page_shows_the_sync_role_and_each_rooms_state_live(party, phone, tmp_path):
    for song in (tmp_path / "songs").iterdir():
        write_tone(song, 10.0)
    port = free_port()
    socket = tmp_path / "run" / "control.sock"
    leader = sync_section(port, role="leader", room="living-room")
    daemon, web = party({"party": {"cooldown": 0.5}}, sync=leader)
    log_in(phone, web.url)
    phone.wait_for_selector('#link[data-state="up"]')
    phone.wait_for_selector("#sync-error:has-text('no answer from the sync service')")
    with sync_service(tmp_path / "leader", leader, socket, LEADER_ADDRESS):
        phone.wait_for_selector("#sync-role:text('This Pi leads the rooms: it is living-room.')")
        phone.wait_for_selector(
            '#rooms li[data-state="ready"]:has-text("living-room (this Pi)")', state="attached"
        )
        assert phone.locator("#sync-error").inner_text() == ""
        kitchen = sync_section(port, role="room", room="kitchen", leader=LEADER_ADDRESS)
        with sync_service(tmp_path / "kitchen", kitchen, tmp_path / "k.sock", ROOM_ADDRESS):
            phone.wait_for_selector(
                '#rooms li[data-state="no-speaker"]:has-text("kitchen")', state="attached"
            )
            assert "its snapclient does not play" in phone.locator("#rooms").inner_text()
            phone.tap("#party")
            wait_for(lambda: daemon.hardware.relay_states()["lights"], 20)
            phone.wait_for_selector(
                '#rooms li[data-state="party"]:has-text("living-room")', state="attached"
            )
            phone.click("#stop")
            phone.wait_for_selector(
                '#rooms li[data-state="ready"]:has-text("living-room")', state="attached"
            )
        phone.wait_for_selector(
            '#rooms li[data-state="gone"]:has-text("kitchen")', state="attached"
        )
    phone.wait_for_selector("#sync-error:has-text('no answer from the sync service')")


def test_a_rooms_page_says_when_its_leader_is_gone(party, phone, tmp_path):
    port = free_port()
    room = sync_section(port, role="room", room="kitchen", leader=ROOM_ADDRESS)
    _daemon, web = party(sync=room)
    with sync_service(
        tmp_path / "kitchen", room, tmp_path / "run" / "control.sock", LEADER_ADDRESS
    ):
        log_in(phone, web.url)
        phone.wait_for_selector(
            f"#sync-role:text('This Pi is the room kitchen, following the leader {ROOM_ADDRESS}.')"
        )
        phone.wait_for_selector(
            '#rooms li[data-state="no-leader"]:has-text("kitchen (this Pi)")', state="attached"
        )
        phone.wait_for_selector(  # the reason follows once the party here is ended
            f'#rooms li:has-text("leader gone: lost the leader {ROOM_ADDRESS}")', state="attached"
        )


def test_with_sync_off_the_page_shows_no_rooms(party, phone):
    _daemon, web = party()
    log_in(phone, web.url)
    phone.wait_for_selector('#link[data-state="up"]')
    phone.wait_for_selector("#phase:text('idle')")
    assert phone.locator("#sync").is_hidden()
    assert phone.locator("#rooms li").count() == 0

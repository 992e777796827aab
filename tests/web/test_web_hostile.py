"""``party-button web`` attacked as a hostile guest on the Wi-Fi would, on loopback only.

Each attack is bounded in count and time. Other guests are other loopback addresses
(127.0.0.2, 127.0.0.3, ...): Linux answers the whole of 127.0.0.0/8 on ``lo``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest

from party_button.testing import wait_for, write_tone
from party_button.testing.ports import free_port
from party_button.testing.rooms import LEADER_ADDRESS, Stranger, sync_section, sync_service
from party_button.testing.web import refused_web
from party_button.testing.web_client import multipart, request
from party_button.web.auth import PREFIX_FACTOR, REFUSAL_DELAY, Attempts
from party_button.web.connections import IDLE_SECONDS, PER_SOURCE
from party_button.web.connections import REFUSAL_DELAY as CONNECTION_REFUSAL_DELAY
from party_button.web.song_check import check_song
from party_button.web.songs import SongRefused, UploadSlots
from tests.web.conftest import CHROMIUM, PIN, TOKEN, log_in
from tests.web.test_web_api import _send_until_answered

BEARER = {"Authorization": f"Bearer {TOKEN}"}


def connect(url: str, source: str = "127.0.0.1") -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection(
        (parts.hostname, parts.port), timeout=30, source_address=(source, 0)
    )
    return sock


def raw(url: str, head: str, body: bytes = b"", source: str = "127.0.0.1") -> bytes:
    """Send one request as bytes from ``source``; the whole answer (the server closes, or
    the answer's length is read)."""
    with connect(url, source) as sock:
        sock.sendall(head.encode("latin-1") + body)
        return read_answer(sock)


def read_answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        None,
    )
    while length is not None and len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def login_head(url: str, body: bytes) -> str:
    host = urlsplit(url).netloc
    return (
        f"POST /api/login HTTP/1.1\r\nHost: {host}\r\nOrigin: {url}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )


def login_from(url: str, source: str, pin: str) -> int:
    body = json.dumps({"pin": pin}).encode()
    return status(raw(url, login_head(url, body), body, source))


def get_from(url: str, source: str, path: str, headers: dict[str, str]) -> int:
    host = urlsplit(url).netloc
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return status(raw(url, f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n", source=source))


def test_pin_guesses_sent_in_parallel_are_counted_before_their_bodies(party):
    _daemon, web = party()  # login_attempts: 5 a minute
    body = json.dumps({"pin": "0000"}).encode()
    sockets = [connect(web.url) for _ in range(60)]
    try:
        for sock in sockets:  # every guess's headers first, as the attack did
            sock.sendall(login_head(web.url, body).encode())
        for sock in sockets:
            sock.sendall(body)
        answers = [status(read_answer(sock)) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    assert answers.count(401) <= 5 and answers.count(429) >= 55, answers
    assert login_from(web.url, "127.0.0.1", PIN) == 429  # this address guessed enough
    # One line a minute for the lot, with the address and never the PIN.
    refused = [
        line for line in web.log_text().splitlines() if "refused" in line or "too many" in line
    ]
    assert 1 <= len(refused) <= 3, refused
    assert "127.0.0.1" in refused[0] and "0000" not in web.log_text()


def test_a_guesser_that_must_wait_is_kept_waiting_for_its_refusal(party):
    _daemon, web = party()  # login_attempts: 5 a minute
    answers = [login_from(web.url, "127.0.0.7", "1111") for _ in range(5)]
    assert answers == [401] * 5
    for _ in range(2):  # each refusal comes no sooner than the delay: one a second at most
        sent = time.monotonic()
        assert login_from(web.url, "127.0.0.7", "1111") == 429
        assert time.monotonic() - sent >= REFUSAL_DELAY
    assert get_from(web.url, "127.0.0.7", "/api/page", BEARER) == 200  # the token still works


def test_guessers_never_lock_out_the_token_nor_the_pin_of_a_guest_who_did_not_guess(party):
    _daemon, web = party()
    for guesser in ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"):
        answers = [login_from(web.url, guesser, "1111") for _ in range(6)]
        assert answers == [401] * 5 + [429], (guesser, answers)
    assert login_from(web.url, "127.0.0.6", PIN) == 200
    assert get_from(web.url, "127.0.0.2", "/api/page", BEARER) == 200
    assert login_from(web.url, "127.0.0.2", PIN) == 429  # a guesser waits its minute


def test_idle_and_half_sent_connections_are_capped_and_closed(party):
    _daemon, web = party()
    held = [connect(web.url, "127.0.0.7") for _ in range(PER_SOURCE + 20)]
    try:
        # The connections over the address's share are answered 503, with why.
        refused = []
        for sock in held[PER_SOURCE:]:
            answer = read_answer(sock)
            refused.append(answer)
        assert all(status(answer) == 503 for answer in refused)
        assert b"too many connections from your address" in refused[0]
        for _ in range(2):  # not at once: a client that opens again is refused once a second
            opened = time.monotonic()
            again = connect(web.url, "127.0.0.7")
            held.append(again)
            assert status(read_answer(again)) == 503
            assert time.monotonic() - opened >= CONNECTION_REFUSAL_DELAY
        # Another guest is served meanwhile.
        assert request(web.url, "GET", "/api/page", headers=BEARER).status == 200
        # Half-sent headers do not keep a connection either.
        held[0].sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for sock in held[:2]:
            sock.settimeout(IDLE_SECONDS * 4)
            assert sock.recv(1024) == b""  # closed by the service
    finally:
        for sock in held:
            sock.close()


def test_other_host_names_are_refused_and_web_hosts_adds_some(party):
    _daemon, web = party({"web": {"hosts": ["party.example"]}})
    port = urlsplit(web.url).port
    for host, expected in (
        ("rebound.example.com", 421),
        (f"rebound.example.com:{port}", 421),
        (f"party.example:{port}", 200),
        (f"127.0.0.1:{port}", 200),
        (f"[::1]:{port}", 200),
        (f"localhost:{port}", 200),
    ):
        head = f"GET /api/page HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        assert status(raw(web.url, head)) == expected, host


def test_malformed_credentials_are_4xx_and_counted(party):
    _daemon, web = party()
    host = urlsplit(web.url).netloc
    lone_surrogate = b'{"pin": "\\ud800"}'
    answers = [
        status(raw(web.url, login_head(web.url, lone_surrogate), lone_surrogate)) for _ in range(6)
    ]
    assert answers == [400] * 5 + [429]
    for header in (
        "Authorization: Bearer caf\xe9",
        "X-Anything: \xff\xfe",
        "Cookie: party_session=\xe9",
    ):
        answer = raw(
            web.url,
            f"GET /api/status HTTP/1.1\r\nHost: {host}\r\n{header}\r\n\r\n",
            source="127.0.0.8",
        )
        assert 400 <= status(answer) < 500, (header, answer)
    assert "Traceback" not in web.log_text()


def test_names_that_deceive_are_refused_and_twins_are_one_name(party, song_folder, tmp_path):
    _daemon, web = party()
    song = write_tone(tmp_path / "made" / "x.ogg", 0.5).read_bytes()
    before = sorted(os.listdir(song_folder))
    for name, message in (
        ("bad\u0085name.ogg", "control characters are not allowed"),
        ("evil\u202egg.ogg", "the invisible character U+202E is not allowed"),
        ("line\u2028break.ogg", "the invisible character U+2028 is not allowed"),
    ):
        body, kind = multipart([(name, song)])
        answer = request(web.url, "POST", "/api/songs", body, {**BEARER, "Content-Type": kind})
        assert answer.status == 400 and message in answer.error, (name, answer.raw)
    # A name in bytes that are not UTF-8 could be saved but never named again.
    body, kind = multipart([("raw.ogg", song)])
    body = body.replace(b'filename="raw.ogg"', b'filename="r\xe9w.ogg"')
    answer = request(web.url, "POST", "/api/songs", body, {**BEARER, "Content-Type": kind})
    assert answer.status == 400 and "not UTF-8" in answer.error, answer.raw
    assert sorted(os.listdir(song_folder)) == before
    # café in NFC and in NFD: one name, saved as NFC and then taken.
    body, kind = multipart([("cafe\u0301.ogg", song)])
    first = request(web.url, "POST", "/api/songs", body, {**BEARER, "Content-Type": kind})
    assert first.status == 201 and first.json["saved"] == ["caf\u00e9.ogg"], first.raw
    body, kind = multipart([("caf\u00e9.ogg", song)])
    twin = request(web.url, "POST", "/api/songs", body, {**BEARER, "Content-Type": kind})
    assert twin.status == 409
    (song_folder / "te\u0301st.ogg").write_bytes(song)  # put there decomposed by hand
    body, kind = multipart([("t\u00e9st.ogg", song)])
    assert (
        request(web.url, "POST", "/api/songs", body, {**BEARER, "Content-Type": kind}).status == 409
    )
    gone = request(web.url, "DELETE", "/api/songs/t%C3%A9st.ogg", headers=BEARER)
    assert gone.status == 200 and not (song_folder / "te\u0301st.ogg").exists()


def test_the_sounds_the_config_uses_cannot_be_deleted(party, song_folder):
    _daemon, web = party({"party": {"fallback_sound": "songs/song2.ogg"}})
    answer = request(web.url, "DELETE", "/api/songs/song2.ogg", headers=BEARER)
    assert answer.status == 403 and "the config uses it" in answer.error
    assert (song_folder / "song2.ogg").exists()


def test_a_fifo_or_a_huge_file_named_like_a_beat_grid_hangs_nothing(party, song_folder):
    os.mkfifo(song_folder / "song0.ogg.beats.json")
    with open(song_folder / "song1.ogg.beats.json", "wb") as huge:
        huge.truncate(64 * 1024**2)  # sparse: 64 MB that take no disk
    _daemon, web = party()
    for _ in range(8):  # more than the service's worker threads
        listed = request(web.url, "GET", "/api/songs", headers=BEARER)
        assert listed.status == 200
    grids = {song["name"]: song["grid"] for song in listed.json["songs"]}
    assert grids == {"song0.ogg": "none", "song1.ogg": "none", "song2.ogg": "none"}


def _upload_head(url: str, length: int) -> str:
    host = urlsplit(url).netloc
    return (
        f"POST /api/songs HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {length}\r\n\r\n"
    )


def test_uploads_in_progress_share_a_budget_of_temporary_files(party, song_folder):
    _daemon, web = party()  # max_upload_mb: 5, so 10 MB for all uploads in progress
    size = 4 * 1024**2
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big%d.wav"\r\n\r\n'
    slow = []
    try:
        for number in range(2):  # two uploads that stall after 4 MB
            sock = connect(web.url, f"127.0.0.{10 + number}")
            start = part % number
            sock.sendall(_upload_head(web.url, len(start) + size + 1024).encode() + start)
            sock.sendall(bytes(size))
            slow.append(sock)

        def held() -> int:
            return sum(p.stat().st_size for p in song_folder.glob(".upload-*"))

        # All but what the multipart reader holds back to look for the boundary.
        wait_for(lambda: held() >= 2 * (size - 512 * 1024), timeout=60)
        third = part % 3
        # Refused at once: the answer is read as soon as it comes, not after all is sent.
        head = _upload_head(web.url, len(third) + size).encode() + third
        answer, _sent = _send_until_answered(web.url, head, size)
        assert status(answer) == 503 and b"kept for uploads in progress" in answer
    finally:
        for sock in slow:
            sock.close()
    wait_for(lambda: not list(song_folder.glob(".upload-*")), timeout=60)


def test_one_check_at_a_time_and_a_bounded_queue():
    async def attempt() -> list[str]:
        slots = UploadSlots(budget=1)
        inside: list[int] = []
        results: list[str] = []
        release = asyncio.Event()

        async def one(number: int) -> None:
            try:
                async with slots.checking():
                    inside.append(number)
                    assert len(inside) == 1  # never two at once
                    await release.wait()
                    inside.remove(number)
                results.append("checked")
            except SongRefused as exc:
                results.append(f"{exc.status}")

        tasks = [asyncio.create_task(one(number)) for number in range(8)]
        while len(results) < 3:  # 1 checking + 4 waiting; the other 3 refused at once
            await asyncio.sleep(0)
        release.set()
        await asyncio.gather(*tasks)
        return results

    results = asyncio.run(attempt())
    assert sorted(results) == ["503"] * 3 + ["checked"] * 5


def test_the_upload_check_imports_nothing_from_the_current_folder(tmp_path, monkeypatch):
    planted = tmp_path / "planted"
    planted.mkdir()
    marker = tmp_path / "imported"
    (planted / "pygame.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    song = write_tone(tmp_path / "song.ogg", 0.5)
    monkeypatch.chdir(planted)
    asyncio.run(check_song(song, "ogg"))  # raises when it is not a song
    assert not marker.exists()


@pytest.mark.parametrize(
    ("listen", "refused"), [(":8080", True), ("0.0.0.0:8080", True), ("127.0.0.1:8080", False)]
)
def test_check_config_refuses_the_example_pin_beyond_loopback(
    make_config, tmp_path, listen, refused
):
    config = make_config({"web": {"enabled": True, "pin": "2468", "listen": listen}})
    text = config.path.read_text()
    config.path.write_text(text.replace("'2468'", "'2580'"))
    result = subprocess.run(
        [sys.executable, "-m", "party_button", "check-config", "--config", str(config.path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode != 0) == refused, result.stdout + result.stderr
    if refused:
        assert (
            "web.pin: 2580 is the example PIN of the shipped config"
            in result.stdout + result.stderr
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_ipv6_host_rotating_its_addresses_gets_the_tries_of_one_guest():
    clock = Clock()
    attempts = Attempts(5, clock)
    host = [f"2001:db8:1:2::{number:x}" for number in range(1, 200)]
    allowed = sum(1 for address in host if attempts.begin(address) == 0)
    assert allowed == 5 * PREFIX_FACTOR
    # Another /64, an IPv4 guest: untouched. A right try is given back.
    assert attempts.begin("2001:db8:1:3::1") == 0
    attempts.was_right("2001:db8:1:3::1")
    assert attempts.begin("192.0.2.7") == 0
    # A minute later the host may try again.
    clock.now += 61
    assert attempts.begin(host[0]) == 0


def test_the_service_refuses_the_example_pin_on_every_interface(make_config):
    config = make_config({"web": {"pin": "2468"}})
    config.path.write_text(config.path.read_text().replace("'2468'", "'2580'"))
    result = refused_web(config.path, ":0")
    assert result.returncode == 1
    assert "web.pin: 2580 is the example PIN of the shipped config" in result.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
def test_a_room_named_to_break_the_page_is_shown_as_plain_text(party, phone, tmp_path):
    """Room names and reasons come from other machines: markup stays text, controls and
    bidi overrides are replaced, and both are cut short."""
    port = free_port()
    leader = sync_section(port, role="leader", room="living-room")
    _daemon, web = party(sync=leader)
    control = tmp_path / "run" / "control.sock"
    name = "<img src=x id=pwned>\u202e</li><script>x</script>" + "a" * 100
    why = "<b id=bold>" + "\x1b[2J" + "w" * 500
    with sync_service(tmp_path / "leader", leader, control, LEADER_ADDRESS):
        stranger = Stranger(port, name, "</li><i id=italic>", why)
        try:
            log_in(phone, web.url)
            room = phone.locator('#rooms li[data-state="unknown"]')
            room.wait_for(state="attached")
            said = room.locator(".state")  # the hello comes first, then what the room says
            wait_for(lambda: said.inner_text().startswith("not said yet: <b id=bold>"), 20)
            assert room.locator(".name").inner_text() == name[:40].replace("\u202e", "\ufffd")
            shown = said.inner_text()
            assert shown.startswith("not said yet: <b id=bold>\ufffd[2Jwww")
            assert len(shown) == len("not said yet: ") + 200
            markup = "#rooms img, #rooms script, #rooms b, #rooms i, #pwned, #bold, #italic"
            assert phone.locator(markup).count() == 0
            assert phone.locator("#rooms li").count() == 2  # the leader's room, the stranger
            assert phone.locator("#party").is_enabled()
        finally:
            stranger.close()
        phone.wait_for_selector('#rooms li[data-state="gone"]', state="attached")

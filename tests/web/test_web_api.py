"""The HTTP API of ``party-button web`` against a running daemon on mock pins."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from party_button.testing import wait_for, write_tone
from party_button.testing.web_client import EventStream, multipart, request
from tests.web.conftest import PIN, TOKEN

BEARER = {"Authorization": f"Bearer {TOKEN}"}


def origin(url: str) -> dict[str, str]:
    return {"Origin": url}


def login(url: str) -> dict[str, str]:
    """Log in with the PIN; the headers of a request from the page afterwards."""
    answer = request(url, "POST", "/api/login", {"pin": PIN}, origin(url))
    assert answer.status == 200, answer.raw
    cookie = answer.headers["Set-Cookie"].split(";")[0]
    return {"Cookie": cookie, **origin(url)}


def test_without_a_credential_only_the_login_page_answers(party):
    _daemon, web = party()
    for method, path in (
        ("GET", "/api/status"),
        ("GET", "/api/events"),
        ("GET", "/api/songs"),
        ("GET", "/api/page"),
        ("POST", "/api/press"),
        ("POST", "/api/hold"),
        ("POST", "/api/songs"),
        ("DELETE", "/api/songs/song0.ogg"),
        ("GET", "/static/app.js"),
    ):
        answer = request(web.url, method, path, headers=origin(web.url))
        assert answer.status == 401, (method, path)
        assert answer.error == "log in with the PIN, or send Authorization: Bearer TOKEN"
    page = request(web.url, "GET", "/")
    assert page.status == 401 and b'id="pin"' in page.raw  # the login form
    for path in ("/login", "/static/login.js", "/static/style.css"):
        assert request(web.url, "GET", path).status == 200, path


def test_a_script_presses_with_the_token_and_the_relays_switch(party):
    daemon, web = party()
    wrong = request(web.url, "POST", "/api/press", headers={"Authorization": "Bearer nope"})
    assert (wrong.status, wrong.error) == (401, "wrong token (send Authorization: Bearer TOKEN)")
    assert daemon.machine.phase.value == "idle"
    answer = request(web.url, "POST", "/api/press", headers=BEARER)
    assert answer.status == 200 and answer.json["ok"] is True
    wait_for(lambda: daemon.hardware.relay_states() == {"lights": True, "beacon": True})
    status = request(web.url, "GET", "/api/status", headers=BEARER)
    assert status.status == 200 and status.json["phase"] in ("party", "ending", "cooldown", "idle")


def test_hold_is_the_panic_stop(party):
    daemon, web = party({"party": {"cooldown": 5.0}})
    request(web.url, "POST", "/api/press", headers=BEARER)
    wait_for(lambda: daemon.machine.phase.value == "party")
    assert request(web.url, "POST", "/api/hold", headers=BEARER).status == 200
    wait_for(lambda: daemon.machine.phase.value == "cooldown")
    assert daemon.hardware.relay_states() == {"lights": False, "beacon": False}
    assert daemon.playing is None


def test_a_session_from_the_pin_and_nothing_from_another_site(party):
    daemon, web = party()
    wrong = request(web.url, "POST", "/api/login", {"pin": "0000"}, origin(web.url))
    assert (wrong.status, wrong.error) == (401, "wrong PIN")
    answer = request(web.url, "POST", "/api/login", {"pin": PIN}, origin(web.url))
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    headers = login(web.url)
    # 200 once the service has the daemon's first state (503 until then, never 401).
    wait_for(lambda: request(web.url, "GET", "/api/status", headers=headers).status == 200, 30)
    forged = {**headers, "Origin": "http://evil.example"}
    refused = request(web.url, "POST", "/api/press", headers=forged)
    assert refused.status == 403
    assert refused.error == "refused: the request does not come from this site's page"
    no_origin = {"Cookie": headers["Cookie"]}
    assert request(web.url, "POST", "/api/press", headers=no_origin).status == 403
    assert daemon.machine.phase.value == "idle"  # nothing was pressed
    assert (
        request(web.url, "GET", "/api/press", headers=headers).status == 405
    )  # GETs change nothing
    assert request(web.url, "POST", "/api/press", headers=headers).status == 200
    wait_for(lambda: daemon.machine.phase.value != "idle")
    assert request(web.url, "POST", "/api/logout", headers=headers).status == 200
    assert request(web.url, "GET", "/api/status", headers=headers).status == 401


def test_wrong_pins_are_rate_limited(party):
    _daemon, web = party({"web": {"login_attempts": 3}})
    for _attempt in range(3):
        answer = request(web.url, "POST", "/api/login", {"pin": "1111"}, origin(web.url))
        assert answer.status == 401
    limited = request(web.url, "POST", "/api/login", {"pin": PIN}, origin(web.url))
    assert limited.status == 429
    assert limited.error.startswith("too many wrong PINs: wait ")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


def test_a_daemon_that_is_not_running_is_a_503_that_says_so(party, tmp_path):
    _none, web = party(daemon=False)
    status = request(web.url, "GET", "/api/status", headers=BEARER)
    assert status.status == 503
    assert status.error.startswith("the party-button daemon is not running")
    assert request(web.url, "POST", "/api/press", headers=BEARER).status == 503
    stream = EventStream(web.url, BEARER)
    try:
        wait_for(lambda: stream.messages)
        assert stream.messages[0]["type"] == "link" and stream.messages[0]["daemon"] is False
    finally:
        stream.close()


def test_many_browsers_share_one_watch_connection(party):
    daemon, web = party()
    streams = [EventStream(web.url, BEARER) for _ in range(20)]
    try:
        wait_for(lambda: all(any(m["type"] == "state" for m in s.messages) for s in streams))
        watchers = [client for client in daemon.control._clients if client.watching]
        assert len(watchers) == 1
        request(web.url, "POST", "/api/press", headers=BEARER)
        for stream in streams:
            wait_for(lambda s=stream: any(m.get("event") == "press" for m in s.messages))
    finally:
        for stream in streams:
            stream.close()


def upload(url: str, files: list[tuple[str, bytes]]):
    body, content_type = multipart(files)
    return request(url, "POST", "/api/songs", body, {**BEARER, "Content-Type": content_type})


def test_an_uploaded_song_is_in_the_library_and_the_daemons_next_pick(party, tmp_path):
    (tmp_path / "uploads").mkdir()
    daemon, web = party({"songs": {"folders": ["uploads"]}})
    assert len(daemon.library) == 0
    song = write_tone(tmp_path / "made" / "new song.ogg", 1.0, 500.0).read_bytes()
    answer = upload(web.url, [("new song.ogg", song)])
    assert answer.status == 201 and answer.json["saved"] == ["new song.ogg"]
    assert (tmp_path / "uploads" / "new song.ogg").read_bytes() == song
    listed = request(web.url, "GET", "/api/songs?q=NEW", headers=BEARER).json
    assert listed["songs"] == [
        {"name": "new song.ogg", "folder": 0, "size": len(song), "grid": "none"}
    ]
    wait_for(lambda: len(daemon.library) == 1 and daemon.library.next_checked, timeout=30)
    request(web.url, "POST", "/api/press", headers=BEARER)
    wait_for(lambda: daemon.playing is not None)
    assert daemon.playing == tmp_path / "uploads" / "new song.ogg"
    again = upload(web.url, [("new song.ogg", song)])
    assert (again.status, again.error) == (
        409,
        "new song.ogg: a song with this name is already there",
    )


def test_uploads_that_are_not_songs_are_refused_with_a_message(party, song_folder, tmp_path):
    _daemon, web = party()
    before = sorted(path.name for path in song_folder.iterdir())
    text = upload(web.url, [("notes.ogg", b"these are my party notes\n" * 100)])
    assert text.status == 422
    assert text.error.startswith("notes.ogg: not a song the party can play: not ogg audio")
    ogg = write_tone(tmp_path / "made" / "a.ogg", 1.0).read_bytes()
    renamed = upload(web.url, [("a.mp3", ogg)])  # an Ogg file named .mp3 would not play
    assert renamed.status == 422 and renamed.error.startswith("a.mp3: not a song")
    escape = upload(web.url, [("../../etc/x.ogg", ogg)])
    assert escape.status == 400
    assert (
        escape.error == "../../etc/x.ogg: a song's name must not name a folder ('/' is not allowed)"
    )
    assert not (tmp_path.parent / "etc").exists()
    hidden = upload(web.url, [(".hidden.ogg", ogg)])
    assert (hidden.status, hidden.error) == (
        400,
        ".hidden.ogg: a song's name must not start with a dot",
    )
    other = upload(web.url, [("song.txt", ogg)])
    assert (
        other.status == 400
        and other.error == "song.txt: a song must end in .ogg, .mp3, .wav, .flac"
    )
    assert sorted(path.name for path in song_folder.iterdir()) == before  # no temporary left


def _send_until_answered(url: str, head: bytes, total: int) -> tuple[bytes, int]:
    """Send ``head``, then up to ``total`` zero bytes until the service answers; returns the
    answer and how many body bytes went out."""
    parts = urlsplit(url)
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        chunk = bytes(1024 * 1024)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                answer = sock.recv(65536)
                if answer:
                    return answer, sent
            except BlockingIOError:
                pass
            if sent < total:
                try:
                    sent += sock.send(chunk)
                except BlockingIOError:
                    time.sleep(0.001)
                except (BrokenPipeError, ConnectionResetError):
                    break
            else:
                time.sleep(0.001)
        sock.setblocking(True)
        return sock.recv(65536), sent


def test_a_1_gb_upload_is_refused_before_it_is_sent(party, song_folder):
    _daemon, web = party()
    gigabyte = 1024**3
    head = (
        "POST /api/songs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {TOKEN}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {gigabyte}\r\n\r\n"
    ).encode()
    answer, sent = _send_until_answered(web.url, head, gigabyte)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"1024 MB is over the upload limit of 5 MB" in answer
    assert sent < 64 * 1024**2  # refused early, not after the gigabyte


def test_a_streamed_upload_is_cut_off_at_the_limit(party, song_folder):
    _daemon, web = party()
    before = sorted(path.name for path in song_folder.iterdir())
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
    head = (
        "POST /api/songs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {TOKEN}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    # One huge chunk announced, so no Content-Length tells the size: it is counted.
    size = 1024**3
    answer, sent = _send_until_answered(web.url, head + f"{size:x}\r\n".encode() + part, size)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"big.wav: over the upload limit of 5 MB" in answer
    assert sent < 64 * 1024**2
    wait_for(lambda: sorted(path.name for path in song_folder.iterdir()) == before)


def test_delete_a_song_and_nothing_outside_the_songs_folders(party, song_folder, tmp_path):
    _daemon, web = party()
    outside = tmp_path / "precious.ogg"
    outside.write_bytes(b"not yours")
    (song_folder / "song0.ogg.beats.json").write_text("{}")
    gone = request(web.url, "DELETE", "/api/songs/song0.ogg", headers=BEARER)
    assert gone.status == 200
    assert not (song_folder / "song0.ogg").exists()
    assert not (song_folder / "song0.ogg.beats.json").exists()
    for name, status in (
        ("..%2Fprecious.ogg", 400),
        ("../precious.ogg", 400),
        ("song0.ogg", 404),
        ("song1.ogg.beats.json", 400),
    ):
        answer = request(web.url, "DELETE", f"/api/songs/{name}", headers=BEARER)
        assert answer.status == status, (name, answer.raw)
        assert answer.json is None or answer.error
    assert outside.read_bytes() == b"not yours"

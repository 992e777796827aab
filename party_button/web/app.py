"""The web application: the page, the JSON API and the live stream, on one port.

Every connection passes the limits of :mod:`.connections` and every route the one check
of :mod:`.auth`. The API is documented in ``docs/howto/web-page.md`` and described in
``openapi.json``, served as
``/api/openapi.json`` (a test holds it to the routes registered here). Errors are
``{"ok": false, "error": "..."}``, and 503 when the daemon cannot be reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import BodyPartReader, web

from party_button.config.web import WebConfig
from party_button.control.protocol import PARTY_COMMANDS
from party_button.log_limit import EVERY
from party_button.web import auth
from party_button.web.auth import refusal
from party_button.web.connections import IDLE_SECONDS, PER_SOURCE, Gate, quiet_accept_errors
from party_button.web.daemon_link import RECONNECT, DaemonDown, DaemonLink
from party_button.web.hosts import Hosts
from party_button.web.page_config import PageConfig
from party_button.web.parties import PartyLog
from party_button.web.rooms import Rooms
from party_button.web.songs import LIST_LIMIT, SongRefused, SongsFolders, upload_name
from party_button.web.static_files import LOGIN_PAGE, OPENAPI, PAGE, STATIC

log = logging.getLogger(__name__)

KEEP_ALIVE = 15.0
"""Seconds between two comments on a quiet live stream, so that a dead connection shows."""
MULTIPART_SLACK = 64 * 1024
"""Bytes an upload may carry besides its files (the multipart headers)."""
CHUNK = 256 * 1024
BODY_IDLE_SECONDS = 30.0
"""An upload that sends nothing for this long is cut off."""
UPLOAD_BUDGET_FACTOR = 2
"""Bytes of all uploads in progress together, in multiples of ``web.max_upload_mb``."""
SHUTDOWN_SECONDS = 3.0
"""How long a stopping service lets requests in progress finish (uploads being checked)."""
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

CONFIG = web.AppKey("config", PageConfig)
LINK = web.AppKey("link", DaemonLink)
FOLDERS = web.AppKey("folders", SongsFolders)
PARTIES = web.AppKey("parties", PartyLog)
ROOMS = web.AppKey("rooms", Rooms)


def make_app(config: PageConfig, link: DaemonLink) -> web.Application:
    """The application for ``config``, talking to the daemon through ``link``."""
    settings: WebConfig = config.web
    guard = auth.Guard(settings, Hosts(settings.hosts))
    app = web.Application(middlewares=[auth.middleware(guard)])
    app[auth.GUARD] = guard
    app[CONFIG] = config
    app[LINK] = link
    app[FOLDERS] = SongsFolders(
        config.folders,
        config.extensions,
        config.effect_sounds,
        UPLOAD_BUDGET_FACTOR * settings.max_upload_mb * 1024**2,
    )
    parties = PartyLog()
    app[PARTIES] = parties
    app[ROOMS] = Rooms(config.sync, link)

    def follow(message: dict[str, Any]) -> None:
        if parties.observe(message):
            link.publish({"type": "parties", "parties": parties.recent()})

    link.on_message(follow)
    app.on_response_prepare.append(_security_headers)
    app.on_shutdown.append(lambda _app: _end_streams(link))
    app.router.add_get("/", _file(PAGE))
    app.router.add_get("/login", _file(LOGIN_PAGE))
    app.router.add_static("/static", STATIC)
    app.router.add_post("/api/login", auth.login)
    app.router.add_post("/api/logout", auth.logout)
    app.router.add_get("/api/status", status)
    app.router.add_get("/api/page", page_settings)
    app.router.add_get("/api/events", events)
    for name in PARTY_COMMANDS:
        app.router.add_post(f"/api/{name}", command)
    app.router.add_get("/api/songs", songs)
    app.router.add_post("/api/songs", upload)
    app.router.add_delete("/api/songs/{name:.+}", delete)
    app.router.add_get("/api/openapi.json", _file(OPENAPI))
    return app


async def _end_streams(link: DaemonLink) -> None:
    link.end_streams()


async def _security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def _file(path: Any) -> Any:
    async def serve(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(path)

    return serve


def _down(link: DaemonLink, problem: str | None = None) -> web.Response:
    return refusal(503, problem or link.problem)


async def status(request: web.Request) -> web.Response:
    """``GET /api/status``: the daemon's state as last streamed, the last parties, and the
    rooms as the sync service sees them (``null`` with sync off)."""
    link = request.app[LINK]
    if link.state is None:
        return _down(link)
    recent = request.app[PARTIES].recent()
    sync = request.app[ROOMS].view
    return web.json_response({"ok": True, **link.state, "parties": recent, "sync": sync})


async def page_settings(request: web.Request) -> web.Response:
    """``GET /api/page``: what the page needs from the config."""
    config = request.app[CONFIG]
    return web.json_response(
        {
            "ok": True,
            "hold_time": config.hold_time,
            "max_upload_mb": config.web.max_upload_mb,
            "extensions": list(config.extensions),
        }
    )


async def command(request: web.Request) -> web.Response:
    """``POST /api/press|stop|next|hold``: sent to the daemon; its answer comes back."""
    link = request.app[LINK]
    name = request.path.rsplit("/", 1)[1]
    try:
        answer = await link.command(name)
    except DaemonDown as exc:
        return _down(link, str(exc))
    if answer.get("ok"):
        return web.json_response(answer)
    error = str(answer.get("error", "refused by the daemon"))
    return web.json_response(answer, status=429 if error.startswith("too many") else 409)


async def events(request: web.Request) -> web.StreamResponse:
    """``GET /api/events``: the live stream (Server-Sent Events), one JSON message each."""
    link = request.app[LINK]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    subscriber = link.subscribe()
    request.app[ROOMS].greet(subscriber)
    try:
        while True:
            try:
                message = await asyncio.wait_for(subscriber.queue.get(), KEEP_ALIVE)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            await response.write(b"data: " + json.dumps(message).encode() + b"\n\n")
            if message is RECONNECT:
                break
    except (ConnectionError, RuntimeError):  # the browser went away
        pass
    finally:
        link.unsubscribe(subscriber)
    return response


async def songs(request: web.Request) -> web.Response:
    """``GET /api/songs?q=TEXT&limit=N``: the songs whose name holds TEXT."""
    folders = request.app[FOLDERS]
    try:
        limit = min(max(int(request.query.get("limit", LIST_LIMIT)), 1), 10 * LIST_LIMIT)
    except ValueError:
        return refusal(400, "limit must be a number")
    found, total = await folders.songs(request.query.get("q", ""), limit)
    return web.json_response(
        {"ok": True, "songs": [song.as_json() for song in found], "total": total}
    )


async def upload(request: web.Request) -> web.StreamResponse:
    """``POST /api/songs`` (multipart, one or more ``file`` parts): checked, then saved."""
    config = request.app[CONFIG]
    folders = request.app[FOLDERS]
    limit = config.web.max_upload_mb * 1024**2
    if request.content_length is not None and request.content_length > limit + MULTIPART_SLACK:
        size = request.content_length / 1024**2
        return _closing(
            refusal(413, f"{size:.0f} MB is over the upload limit of {limit // 1024**2} MB")
        )
    if not request.content_type.startswith("multipart/"):
        return refusal(400, "send the songs as multipart/form-data, each in a part named file")
    saved: list[str] = []
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name != "file":
                raise SongRefused("send each song in a part named file")
            name = upload_name(part.filename, config.extensions)
            used = sum((folders.upload_folder / song).stat().st_size for song in saved)
            path = await folders.add(name, _chunks(part), limit - used)
            log.info("uploaded %s (%d bytes)", path, path.stat().st_size)
            saved.append(name)
    except SongRefused as exc:
        request.app[auth.GUARD].refusals.info("upload refused", "upload refused: %s", exc)
        answer = web.json_response(
            {"ok": False, "error": str(exc), "saved": saved}, status=exc.status
        )
        return _closing(answer) if exc.status in (408, 413, 503) else answer
    except ValueError as exc:  # a malformed multipart body
        return _closing(refusal(400, f"not a valid upload: {exc}"))
    finally:
        if saved:
            request.app[LINK].publish({"type": "library"})
    if not saved:
        return refusal(400, "no file in the upload")
    return web.json_response({"ok": True, "saved": saved}, status=201)


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    """The part's bytes; :class:`SongRefused` (408) when none come for
    :data:`BODY_IDLE_SECONDS`."""
    while True:
        try:
            chunk = await asyncio.wait_for(part.read_chunk(CHUNK), BODY_IDLE_SECONDS)
        except TimeoutError:
            raise SongRefused(f"no data for {BODY_IDLE_SECONDS:g} s: upload cut off", 408) from None
        if not chunk:
            return
        yield chunk


def _closing(response: web.Response) -> web.Response:
    """``response``, after which the connection is closed (the rest of a refused upload is
    not read)."""
    response.force_close()
    return response


async def delete(request: web.Request) -> web.Response:
    """``DELETE /api/songs/NAME``: the song and its beat grid are deleted."""
    folders = request.app[FOLDERS]
    try:
        path = await folders.remove(request.match_info["name"])
    except SongRefused as exc:
        return refusal(exc.status, str(exc))
    log.info("deleted %s", path)
    request.app[LINK].publish({"type": "library"})
    return web.json_response({"ok": True, "deleted": request.match_info["name"]})


async def serve(config: PageConfig, link: DaemonLink, ready: Any = None) -> None:
    """Serve until cancelled; ``ready(url)`` once listening."""
    settings = config.web
    app = make_app(config, link)
    runner = web.AppRunner(
        app,
        access_log=None,
        lingering_time=0,
        shutdown_timeout=SHUTDOWN_SECONDS,
        keepalive_timeout=IDLE_SECONDS,
    )
    await runner.setup()
    loop = asyncio.get_running_loop()
    accept_errors = quiet_accept_errors(loop)
    assert runner.server is not None
    gate = Gate(runner.server)
    listening = None
    try:
        listening = await loop.create_server(
            gate, settings.listen.host, settings.listen.port, reuse_address=True
        )
        log.info("at most %d connections, %d from one address", gate.cap, PER_SOURCE)
        link.start()
        app[ROOMS].start()
        if ready is not None:
            host, port = listening.sockets[0].getsockname()[:2]
            ready(f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}")
        while True:  # the counts of refusals left out of the log, once a minute
            await asyncio.sleep(EVERY)
            for limited in (app[auth.GUARD].refusals, gate.refusals, accept_errors):
                limited.flush()
    finally:
        if listening is not None:
            listening.close()
        app[ROOMS].close()
        with contextlib.suppress(Exception):
            await link.close()
        await runner.cleanup()

"""Who may use the page and the API: one middleware that every request passes through.

* A browser logs in with ``web.pin`` (``POST /api/login``) and gets a session cookie
  (``HttpOnly``, ``SameSite=Strict``). A request that changes something (any method but
  GET and HEAD) with that cookie must also come from the page itself: its ``Origin`` header
  (or, without one, ``Sec-Fetch-Site: same-origin``) must name this very site. GETs never
  change anything, so a link on another site can do nothing.
* A script sends ``Authorization: Bearer`` ``web.token``.
* Without either, only the login page and its assets answer; everything else is 401.

Wrong PINs and tokens are counted per address and in all (:class:`Attempts`); over the limit
the answer is 429 until the minute is over.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable

from aiohttp import web

from party_button.config.web import WebConfig
from party_button.web.static_files import LOGIN_PAGE

SESSION_COOKIE = "party_session"
MAX_SESSIONS = 1000
"""Sessions kept; the oldest goes when a new one would be one too many."""
WINDOW = 60.0
"""Seconds over which wrong PINs and tokens are counted."""
ALL_ADDRESSES_FACTOR = 4
"""Wrong attempts a minute from all addresses together, in multiples of one address's."""
PUBLIC = {
    ("GET", "/login"),
    ("GET", "/static/login.js"),
    ("GET", "/static/style.css"),
    ("GET", "/static/icon.svg"),
    ("POST", "/api/login"),
}
_SAFE_METHODS = ("GET", "HEAD")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def refusal(status: int, message: str, **headers: str) -> web.Response:
    """A JSON error answer: ``{"ok": false, "error": message}``."""
    return web.json_response({"ok": False, "error": message}, status=status, headers=headers)


class Sessions:
    """Session ids of browsers that logged in, each with its end (monotonic seconds)."""

    def __init__(self, hours: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = hours * 3600
        self.clock = clock
        self._ends: OrderedDict[str, float] = OrderedDict()

    def new(self) -> str:
        """A new session's id."""
        session = secrets.token_urlsafe(32)
        self._ends[session] = self.clock() + self.seconds
        while len(self._ends) > MAX_SESSIONS:
            self._ends.popitem(last=False)
        return session

    def valid(self, session: str | None) -> bool:
        """Whether ``session`` is a session that has not ended."""
        end = self._ends.get(session or "")
        if end is None:
            return False
        if self.clock() >= end:
            del self._ends[session or ""]
            return False
        return True

    def end(self, session: str | None) -> None:
        """Log ``session`` out."""
        self._ends.pop(session or "", None)


class Attempts:
    """Wrong PINs and tokens in the last :data:`WINDOW` seconds, per address and in all."""

    def __init__(self, per_address: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_address = per_address
        self.clock = clock
        self._by_address: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()

    def _recent(self, times: deque[float]) -> deque[float]:
        while times and times[0] <= self.clock() - WINDOW:
            times.popleft()
        return times

    def wait(self, address: str) -> float:
        """Seconds ``address`` must wait before it may try again (0: it may now)."""
        waits = [0.0]
        mine = self._recent(self._by_address.get(address, deque()))
        if len(mine) >= self.per_address:
            waits.append(mine[0] + WINDOW - self.clock())
        everyone = self._recent(self._all)
        if len(everyone) >= self.per_address * ALL_ADDRESSES_FACTOR:
            waits.append(everyone[0] + WINDOW - self.clock())
        return max(waits)

    def failed(self, address: str) -> None:
        """Count one wrong attempt from ``address``."""
        now = self.clock()
        self._by_address.setdefault(address, deque()).append(now)
        self._all.append(now)
        if len(self._by_address) > MAX_SESSIONS:  # forget the addresses that are quiet
            for key in [key for key, times in self._by_address.items() if not self._recent(times)]:
                del self._by_address[key]


SETTINGS = web.AppKey("settings", WebConfig)
SESSIONS = web.AppKey("sessions", Sessions)
ATTEMPTS = web.AppKey("attempts", Attempts)


def same_origin(request: web.Request) -> bool:
    """Whether ``request`` comes from a page of this very site."""
    origin = request.headers.get("Origin")
    if origin is None:
        return request.headers.get("Sec-Fetch-Site") == "same-origin"
    return origin == f"{request.scheme}://{request.host}"


def matches(given: str, secret: str | None) -> bool:
    """Whether ``given`` is ``secret``, compared in constant time."""
    return secret is not None and hmac.compare_digest(given.encode(), secret.encode())


def address(request: web.Request) -> str:
    """The client's address, for counting wrong attempts."""
    return request.remote or "unknown"


def middleware(settings: WebConfig, sessions: Sessions, attempts: Attempts) -> Callable:
    """The one check every route passes through."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (request.method, request.path) in PUBLIC:
            return await handler(request)
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            wait = attempts.wait(address(request))
            if wait > 0:
                return refusal(429, f"too many wrong tokens: wait {wait:.0f} s", **_retry(wait))
            if scheme.lower() != "bearer" or not matches(token.strip(), settings.token):
                attempts.failed(address(request))
                return refusal(401, "wrong token (send Authorization: Bearer TOKEN)")
            return await handler(request)
        if sessions.valid(request.cookies.get(SESSION_COOKIE)):
            if request.method not in _SAFE_METHODS and not same_origin(request):
                return refusal(403, "refused: the request does not come from this site's page")
            return await handler(request)
        if request.method == "GET" and request.path == "/":
            return web.FileResponse(LOGIN_PAGE, status=401)  # the page asks for the PIN
        return refusal(401, "log in with the PIN, or send Authorization: Bearer TOKEN")

    return check


def _retry(wait: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, round(wait)))}


async def login(request: web.Request) -> web.Response:
    """``POST /api/login`` with ``{"pin": "..."}``: a session cookie, or why not."""
    settings = request.app[SETTINGS]
    sessions = request.app[SESSIONS]
    attempts = request.app[ATTEMPTS]
    if not same_origin(request):
        return refusal(403, "refused: the login does not come from this site's page")
    if settings.pin is None:
        return refusal(403, "no PIN is set (web.pin): use the token")
    wait = attempts.wait(address(request))
    if wait > 0:
        return refusal(429, f"too many wrong PINs: wait {wait:.0f} s", **_retry(wait))
    try:
        body = await request.json()
        pin = str(body["pin"])
    except (ValueError, KeyError, TypeError):
        return refusal(400, 'send {"pin": "DIGITS"} as JSON')
    if not matches(pin, settings.pin):
        attempts.failed(address(request))
        return refusal(401, "wrong PIN")
    response = web.json_response({"ok": True})
    response.set_cookie(
        SESSION_COOKIE,
        sessions.new(),
        max_age=int(sessions.seconds),
        httponly=True,
        samesite="Strict",
        path="/",
    )
    return response


async def logout(request: web.Request) -> web.Response:
    """``POST /api/logout``: the session ends."""
    request.app[SESSIONS].end(request.cookies.get(SESSION_COOKIE))
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response

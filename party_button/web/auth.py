"""Who may use the page and the API: one middleware that every request passes through.

* The ``Host`` a request names must be one of this machine's names or addresses, loopback
  or ``web.hosts`` (:mod:`.hosts`): another site's page that rebinds its own name to this
  machine's address (DNS rebinding) is answered 421, before any credential is looked at.
* A browser logs in with ``web.pin`` (``POST /api/login``) and gets a session cookie
  (``HttpOnly``, ``SameSite=Strict``). A request that changes something (any method but
  GET and HEAD) with that cookie must also come from the page itself: its ``Origin`` header
  (or, without one, ``Sec-Fetch-Site: same-origin``) must name this very site. GETs never
  change anything, so a link on another site can do nothing.
* A script sends ``Authorization: Bearer`` ``web.token``.
* Without either, only the login page and its assets answer; everything else is 401.

Every try of a PIN or token is counted by :class:`Attempts` the moment its headers are in,
before anything is awaited, and taken back only when it was right: a thousand guesses sent
in parallel are as many tries as a thousand sent one by one. A malformed try (bytes that
are not ASCII in the header, a body that is not the JSON asked for, or one that never
comes) is a wrong one. An address that must wait gets its ``429`` only after
:data:`REFUSAL_DELAY`, so that guessing as fast as the answers come costs the page little.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable

from aiohttp import web

from party_button.config.web import WebConfig
from party_button.log_limit import RateLimitedLog
from party_button.web.hosts import Hosts
from party_button.web.static_files import LOGIN_PAGE

log = logging.getLogger(__name__)

SESSION_COOKIE = "party_session"
MAX_SESSIONS = 1000
"""Sessions kept; the oldest goes when a new one would be one too many."""
WINDOW = 60.0
"""Seconds over which wrong PINs and tokens are counted."""
PREFIX_FACTOR = 4
"""Wrong attempts a minute from one IPv6 /64, in multiples of one address's."""
ALL_ADDRESSES_FACTOR = 4
"""Wrong attempts a minute from all addresses together, in multiples of one address's."""
MAX_ADDRESSES = 4096
"""Addresses whose wrong attempts are remembered; the quiet ones are forgotten first."""
REFUSAL_DELAY = 1.0
"""Seconds an address that must wait is kept waiting for its ``429``: a guesser that sends
the next try as soon as the last is answered then costs the page one answer a second per
connection, not one per turn of its loop."""
MAX_LOGIN_BODY = 1024
"""Bytes of a login's JSON body."""
BODY_SECONDS = 10.0
"""Seconds a login's body may take to arrive once its headers are in."""
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


def prefix_of(address: str) -> str:
    """The network an address is counted in besides itself: its /64 for IPv6 (one host may
    hold countless addresses of it), the address itself for IPv4."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return address


def client_address(request: web.Request) -> str:
    """The client's address, for counting its tries (an IPv4 address mapped into IPv6 is the
    IPv4 address)."""
    remote = request.remote or "unknown"
    try:
        parsed = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    mapped = getattr(parsed, "ipv4_mapped", None)
    return str(mapped or parsed)


class Attempts:
    """Tries of a PIN or token in the last :data:`WINDOW` seconds, per address, per IPv6 /64
    and in all.

    :meth:`begin` decides and counts at once (nothing is awaited between the two), and
    :meth:`was_right` takes a right try back. An address may make ``per_address`` tries a
    minute, and an IPv6 /64 (one host may hold all of it: it is one guest) four times that.
    Over the limit of all addresses together, only the addresses (and /64s) that made a
    wrong try in the last minute are refused: guessers elsewhere never lock out a guest who
    has not guessed wrong (and the token is checked before any limit).
    """

    def __init__(self, per_address: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_address = per_address
        self.clock = clock
        self._tries: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        times = self._tries.get(key)
        if times is None:
            return deque()
        while times and times[0] <= self.clock() - WINDOW:
            times.popleft()
        return times

    def _wait(self, times: deque[float]) -> float:
        return times[0] + WINDOW - self.clock()

    def begin(self, address: str) -> float:
        """Count a try from ``address`` and return 0, or the seconds it must wait first (and
        then nothing is counted)."""
        mine = self._recent(address)
        waits = []
        if len(mine) >= self.per_address:
            waits.append(self._wait(mine))
        guessed = bool(mine)  # wrong lately: the limit of all addresses applies to it too
        prefix = prefix_of(address)
        if prefix != address:  # an IPv6 host holds its whole /64: the /64 is one guest
            network = self._recent(f"net {prefix}")
            if len(network) >= self.per_address * PREFIX_FACTOR:
                waits.append(self._wait(network))
            guessed = guessed or bool(network)
        everyone = self._recent("all")
        if guessed and len(everyone) >= self.per_address * ALL_ADDRESSES_FACTOR:
            waits.append(self._wait(everyone))
        if waits:
            return max(0.001, max(waits))
        now = self.clock()
        for key in self._keys(address):
            self._tries.setdefault(key, deque()).append(now)
        self._forget_quiet()
        return 0.0

    def was_right(self, address: str) -> None:
        """The try that :meth:`begin` counted for ``address`` was right: it does not count."""
        for key in self._keys(address):
            times = self._tries.get(key)
            if times:
                times.pop()

    @staticmethod
    def _keys(address: str) -> tuple[str, ...]:
        prefix = prefix_of(address)
        return (address, "all") if prefix == address else (address, f"net {prefix}", "all")

    def _forget_quiet(self) -> None:
        if len(self._tries) <= MAX_ADDRESSES:
            return
        for key in [key for key in self._tries if not self._recent(key)]:
            del self._tries[key]
        while len(self._tries) > MAX_ADDRESSES:  # all busy: the oldest first
            oldest = min(
                (key for key in self._tries if key != "all"), key=lambda k: self._tries[k][-1]
            )
            del self._tries[oldest]


class Guard:
    """What the middleware and the login handler share: the settings, the sessions, the
    tries, the allowed hosts and the log of refusals."""

    def __init__(self, settings: WebConfig, hosts: Hosts) -> None:
        self.settings = settings
        self.hosts = hosts
        self.sessions = Sessions(settings.session_hours)
        self.attempts = Attempts(settings.login_attempts)
        self.refusals = RateLimitedLog(log)

    def refused(self, kind: str, request: web.Request, status: int, message: str) -> web.Response:
        """Log (once a minute per ``kind``, with a count) and answer a refusal."""
        self.refusals.warning(kind, "web: refused %s from %s", kind, client_address(request))
        return refusal(status, message)

    async def too_many(self, kind: str, request: web.Request, wait: float) -> web.Response:
        """429 for an address that must wait ``wait`` seconds, answered after
        :data:`REFUSAL_DELAY` (or ``wait``, if shorter)."""
        self.refusals.warning(kind, "web: %s from %s", kind, client_address(request))
        await asyncio.sleep(min(wait, REFUSAL_DELAY))
        seconds = max(1, round(wait))
        return refusal(429, f"{kind}: wait {seconds} s", **{"Retry-After": str(seconds)})


GUARD = web.AppKey("guard", Guard)


def same_origin(request: web.Request) -> bool:
    """Whether ``request`` comes from a page of this very site."""
    origin = request.headers.get("Origin")
    if origin is None:
        return request.headers.get("Sec-Fetch-Site") == "same-origin"
    return origin == f"{request.scheme}://{request.host}"


def matches(given: str, secret: str | None) -> bool:
    """Whether ``given`` is ``secret``, compared in constant time (text that is not ASCII
    never is: neither a PIN nor a token holds any)."""
    if secret is None or not given.isascii():
        return False
    return hmac.compare_digest(given.encode(), secret.encode())


def _not_ascii_header(request: web.Request) -> str | None:
    """The name of a header whose value holds bytes that are not ASCII, or None."""
    for name, value in request.headers.items():
        if not value.isascii():
            return name
    return None


def middleware(guard: Guard) -> Callable:
    """The one check every route passes through."""
    settings = guard.settings

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (bad := _not_ascii_header(request)) is not None:
            token_try = bad.lower() == "authorization"  # a try of a token all the same
            if token_try and (wait := guard.attempts.begin(client_address(request))) > 0:
                return await guard.too_many("too many wrong tokens", request, wait)
            return guard.refused(
                "malformed header", request, 400, f"the {bad} header holds bytes that are not ASCII"
            )
        if not guard.hosts.allows(request):
            return guard.refused(
                "unknown host",
                request,
                421,
                "this page does not answer to that host name (see web.hosts in the config)",
            )
        if (request.method, request.path) in PUBLIC:
            return await handler(request)
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() == "bearer" and matches(token.strip(), settings.token):
                return await handler(request)
            wait = guard.attempts.begin(client_address(request))
            if wait > 0:
                return await guard.too_many("too many wrong tokens", request, wait)
            return guard.refused(
                "wrong token", request, 401, "wrong token (send Authorization: Bearer TOKEN)"
            )
        if guard.sessions.valid(request.cookies.get(SESSION_COOKIE)):
            if request.method not in _SAFE_METHODS and not same_origin(request):
                return refusal(403, "refused: the request does not come from this site's page")
            return await handler(request)
        if request.method == "GET" and request.path == "/":
            return web.FileResponse(LOGIN_PAGE, status=401)  # the page asks for the PIN
        return refusal(401, "log in with the PIN, or send Authorization: Bearer TOKEN")

    return check


async def login(request: web.Request) -> web.Response:
    """``POST /api/login`` with ``{"pin": "..."}``: a session cookie, or why not."""
    guard = request.app[GUARD]
    if not same_origin(request):
        return refusal(403, "refused: the login does not come from this site's page")
    if guard.settings.pin is None:
        return refusal(403, "no PIN is set (web.pin): use the token")
    address = client_address(request)
    wait = guard.attempts.begin(address)  # counted now, before the body is awaited
    if wait > 0:
        return await guard.too_many("too many wrong PINs", request, wait)
    pin = await _pin_of(request)
    if pin is None:
        return guard.refused("malformed login", request, 400, 'send {"pin": "DIGITS"} as JSON')
    if not matches(pin, guard.settings.pin):
        return guard.refused("wrong PIN", request, 401, "wrong PIN")
    guard.attempts.was_right(address)
    response = web.json_response({"ok": True})
    response.set_cookie(
        SESSION_COOKIE,
        guard.sessions.new(),
        max_age=int(guard.sessions.seconds),
        httponly=True,
        samesite="Strict",
        path="/",
    )
    return response


async def _pin_of(request: web.Request) -> str | None:
    """The PIN a login sends as ``{"pin": "..."}``, or None when the body is not that (too
    big, too slow, not UTF-8 JSON, a lone surrogate, no ``pin``)."""
    length = request.content_length
    if length is None or length > MAX_LOGIN_BODY:
        return None
    try:
        raw = await asyncio.wait_for(request.content.readexactly(length), BODY_SECONDS)
        pin = json.loads(raw.decode("utf-8"))["pin"]
    except (TimeoutError, asyncio.IncompleteReadError, ValueError, KeyError, TypeError):
        return None
    if isinstance(pin, int) and not isinstance(pin, bool):
        pin = str(pin)
    return pin if isinstance(pin, str) and pin.isascii() else None


async def logout(request: web.Request) -> web.Response:
    """``POST /api/logout``: the session ends."""
    request.app[GUARD].sessions.end(request.cookies.get(SESSION_COOKIE))
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response

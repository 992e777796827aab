"""Which host names the page answers to: its defence against DNS rebinding.

A page on another site can make its own name point at this machine's address a moment
after it loaded (DNS rebinding); the browser then lets that page talk to this machine as
if it were its own site, and sends ``Host: the-other-site``. So a request is answered only
when its ``Host`` names this machine: an IP address (a browser sends one only when the
address itself was typed or linked, and then the page is this machine's own), ``localhost``,
this machine's host name (also with ``.local``, as mDNS announces it), or one of
``web.hosts`` (a name given to it in DNS or by a reverse proxy).
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp import web


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port, lower case, without a final dot."""
    if header.startswith("["):
        name = header[1:].partition("]")[0]
    else:
        name, colon, port = header.rpartition(":")
        if not colon or not port.isdigit():
            name = header
    return name.lower().rstrip(".")


def machine_names() -> set[str]:
    """``localhost`` and this machine's host name, as set and with ``.local``."""
    short = socket.gethostname().lower()
    names = {"localhost", short, f"{short.split('.')[0]}.local", short.split(".")[0]}
    return {name.rstrip(".") for name in names if name}


class Hosts:
    """The host names a request may name: this machine's and ``extra``."""

    def __init__(self, extra: tuple[str, ...] = ()) -> None:
        self.names = machine_names() | {name.lower().rstrip(".") for name in extra}

    def allows(self, request: web.Request) -> bool:
        """Whether ``request`` names an allowed host (a request without ``Host``, which no
        browser sends, names none and passes)."""
        header = request.headers.get("Host")
        if header is None:
            return True
        name = host_name(header)
        if name in self.names:
            return True
        try:
            ipaddress.ip_address(name.partition("%")[0])
        except ValueError:
            return False
        return True

"""The ``web:`` section of the config: every default once, read by the config walker."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from party_button.config.walker import load_section, read_into, setting
from party_button.config.yaml_reader import MapReader

PIN_DIGITS = (4, 12)
EXAMPLE_PIN = "2580"
"""The PIN of the shipped config: everyone who read it knows it."""
MAX_HOSTS = 32
TOKEN_LENGTH = (16, 256)
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]+")
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")


class Listen(NamedTuple):
    """Where the page is served: ``host`` (``None``: every interface) and ``port``."""

    host: str | None
    port: int

    def __str__(self) -> str:
        """``HOST:PORT`` as it would be written in the config."""
        host = self.host or ""
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"


def parse_listen(text: str) -> Listen:
    """``HOST:PORT`` (``:PORT`` or ``PORT`` for every interface, ``[::1]:PORT`` for IPv6;
    port 0 takes any free one); raises ``ValueError`` saying what is wrong."""
    host, colon, port_text = text.rpartition(":")
    if not colon:
        host, port_text = "", text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        ipaddress.IPv6Address(host)  # raises ValueError when it is not one
    elif host and not _is_host(host):
        raise ValueError(f"{host!r} is not an IP address or host name")
    if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"the port must be a number from 0 to 65535, got {port_text!r}")
    return Listen(host or None, int(port_text))


def _is_host(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return _HOSTNAME.fullmatch(host) is not None and ":" not in host
    return True


def _listen(section: MapReader, key: str, default: Listen, _ctx: Any, _values: dict) -> Listen:
    text = section.string(key, None)
    if text is None:
        return default
    try:
        return parse_listen(text)
    except ValueError as exc:
        section.error(f"expected HOST:PORT such as 0.0.0.0:8080 or :8080: {exc}", key)
        return default


def _quoted(section: MapReader, key: str) -> Any:
    """The value of ``key`` before it is checked as a PIN or token (``None``: not set)."""
    return section.scalar(key, "a quoted string")


def _pin(section: MapReader, key: str, _default: Any, _ctx: Any, _values: dict) -> str | None:
    """``web.pin``: digits in quotes (YAML would drop the leading zeros of a bare number)."""
    value = _quoted(section, key)
    low, high = PIN_DIGITS
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        section.error(
            'write the PIN in quotes (pin: "0420"): YAML reads a bare number and loses '
            "its leading zeros",
            key,
        )
    elif not isinstance(value, str) or not value.isascii() or not value.isdigit():
        section.error(f"expected {low} to {high} digits in quotes", key)
    elif not low <= len(value) <= high:
        section.error(f"expected {low} to {high} digits, got {len(value)}", key)
    else:
        return value
    return None


def _token(section: MapReader, key: str, _default: Any, _ctx: Any, _values: dict) -> str | None:
    """``web.token``: a long word, for scripts."""
    value = _quoted(section, key)
    low, high = TOKEN_LENGTH
    if value is None:
        return None
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        section.error("expected letters, digits and . _ ~ + / = - only", key)
    elif not low <= len(value) <= high:
        section.error(f"expected {low} to {high} characters, got {len(value)}", key)
    else:
        return value
    return None


def _hosts(
    section: MapReader, key: str, default: tuple[str, ...], _ctx: Any, _values: dict
) -> tuple[str, ...]:
    """``web.hosts``: more names the page answers to, besides this machine's own."""
    items = section.list(key)
    if not len(items):
        return default
    names: list[str] = []
    for line, name in items.strings():
        if len(names) >= MAX_HOSTS:
            section.error(f"at most {MAX_HOSTS} names", key)
            break
        if _HOSTNAME.fullmatch(name):
            names.append(name.lower().rstrip("."))
        else:
            section.problems.add(line, f"{section.keypath}.{key}", f"{name!r} is not a host name")
    return tuple(names)


def is_loopback(listen: Listen) -> bool:
    """Whether only this machine can reach ``listen`` (``localhost`` or a loopback address)."""
    if listen.host is None:
        return False
    if listen.host == "localhost":
        return True
    try:
        return ipaddress.ip_address(listen.host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class WebConfig:
    """The web page and API (``party-button web``)."""

    enabled: bool = setting(
        False, doc="serve the page: the installer enables party-button-web when true"
    )
    listen: Listen = setting(
        Listen(None, 8080),
        read=_listen,
        doc='HOST:PORT to serve on; ":8080" is every interface, "[::1]:8080" IPv6',
    )
    pin: str | None = setting(
        None, read=_pin, doc="the PIN the page asks for: 4 to 12 digits, in quotes"
    )
    token: str | None = setting(
        None,
        read=_token,
        doc="a bearer token for scripts (Authorization: Bearer TOKEN): 16 to 256 characters",
    )
    max_upload_mb: int = setting(
        200, minimum=1, maximum=4096, integer=True, doc="megabytes one upload may have at most"
    )
    session_hours: float = setting(
        24.0, minimum=0.1, maximum=24 * 365, doc="hours a login on the page lasts"
    )
    login_attempts: int = setting(
        5,
        minimum=1,
        maximum=100,
        integer=True,
        doc="wrong PINs or tokens a minute from one address (four times that from all) before 429",
    )
    hosts: tuple[str, ...] = setting(
        (),
        read=_hosts,
        doc=(
            "host names the page answers to besides this Pi's own names and any IP address "
            "(a name in DNS or of a reverse proxy); any other Host gets 421 (DNS rebinding)"
        ),
    )

    def example_pin_problem(self) -> str | None:
        """Why the page must not serve with this PIN: the shipped example PIN beyond
        loopback; or None."""
        if self.pin == EXAMPLE_PIN and not is_loopback(self.listen):
            return (
                f"{EXAMPLE_PIN} is the example PIN of the shipped config, and the page listens "
                f"on {self.listen or 'every interface'}: choose a PIN of your own"
            )
        return None


def read_web(section: MapReader) -> WebConfig:
    """The ``web`` section; problems go to the reader's list, with the one check across keys."""
    web = read_into(WebConfig, section)
    if web.enabled and web.pin is None and web.token is None:
        section.error("needs a pin or a token: without either nobody could use the page", "enabled")
    if web.enabled and (problem := web.example_pin_problem()):
        section.error(problem, "pin")
    return web


def load_web_config(path: Path) -> WebConfig:
    """Read only the ``web`` section of the config file ``path`` (see ``load_section``)."""
    return load_section(path, "web", read_web)

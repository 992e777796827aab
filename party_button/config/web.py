"""The ``web:`` section of the config: every default once, read with FILE:LINE problems."""

from __future__ import annotations

import ipaddress
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from party_button.config.yaml_reader import MapReader, Problems

DEFAULT_PORT = 8080
PIN_DIGITS = (4, 12)
TOKEN_LENGTH = (16, 256)
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]+")
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")


@dataclass(frozen=True)
class WebConfig:
    """The web page and API (``party-button web``)."""

    enabled: bool = False
    host: str | None = None  # None: every interface
    port: int = DEFAULT_PORT
    pin: str | None = None
    token: str | None = None
    max_upload_mb: int = 200
    session_hours: float = 24.0
    login_attempts: int = 5  # wrong PINs a minute, from one address

    @property
    def listen(self) -> str:
        """``HOST:PORT`` as it would be written in the config."""
        host = self.host or ""
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"


def parse_listen(text: str) -> tuple[str | None, int]:
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
    return host or None, int(port_text)


def _is_host(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return _HOSTNAME.fullmatch(host) is not None and ":" not in host
    return True


def read_web(root: MapReader) -> WebConfig:
    """The ``web`` section of ``root``; every problem goes to ``root``'s problem list."""
    section = root.map("web")
    defaults = WebConfig()
    host, port = defaults.host, defaults.port
    listen = section.string("listen", None)
    if listen is not None:
        try:
            host, port = parse_listen(listen)
        except ValueError as exc:
            section.error(f"expected HOST:PORT such as 0.0.0.0:8080 or :8080: {exc}", "listen")
    web = WebConfig(
        enabled=section.boolean("enabled", defaults.enabled),
        host=host,
        port=port,
        pin=_secret(section, "pin"),
        token=_secret(section, "token"),
        max_upload_mb=section.number(
            "max_upload_mb", defaults.max_upload_mb, minimum=1, maximum=4096, integer=True
        ),
        session_hours=section.number(
            "session_hours", defaults.session_hours, minimum=0.1, maximum=24 * 365
        ),
        login_attempts=section.number(
            "login_attempts", defaults.login_attempts, minimum=1, maximum=100, integer=True
        ),
    )
    if web.enabled and web.pin is None and web.token is None:
        section.error("needs a pin or a token: without either nobody could use the page", "enabled")
    section.finish()
    return web


def _secret(section: MapReader, key: str) -> str | None:
    """``web.pin`` (quoted digits) or ``web.token`` (a long word), checked."""
    if key not in section:
        return None
    value = section.scalar(key, "a quoted string")
    if value is None:
        return None
    if key == "pin":
        low, high = PIN_DIGITS
        if isinstance(value, int) and not isinstance(value, bool):
            section.error(
                'write the PIN in quotes (pin: "0420"): YAML reads a bare number and loses '
                "its leading zeros",
                key,
            )
            return None
        if not isinstance(value, str) or not value.isascii() or not value.isdigit():
            section.error(f"expected {low} to {high} digits in quotes", key)
            return None
        if not low <= len(value) <= high:
            section.error(f"expected {low} to {high} digits, got {len(value)}", key)
            return None
        return value
    low, high = TOKEN_LENGTH
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        section.error("expected letters, digits and . _ ~ + / = - only", key)
        return None
    if not low <= len(value) <= high:
        section.error(f"expected {low} to {high} characters, got {len(value)}", key)
        return None
    return value


def web_enabled(path: Path) -> bool:
    """Whether ``path`` says ``web: enabled: true``; read leniently (the installer asks this
    before the paths the config names exist), so any problem reads as not enabled."""
    problems = Problems(path)
    enabled = MapReader.load(path, problems).map("web").boolean("enabled", False)
    return enabled is True and not problems.lines


if __name__ == "__main__":  # the installer: python -m party_button.config.web CONFIG
    print("true" if web_enabled(Path(sys.argv[1])) else "false")

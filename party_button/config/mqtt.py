"""The ``mqtt:`` section of the config: the broker, the credentials, the topics.

:class:`MqttConfig` holds every default once; the config walker reads it with ``FILE:LINE``
problems (``check-config`` and the daemon through
:func:`party_button.config.schema.load_config`). :func:`load_mqtt_config` reads only this
section, for the bridge, which has no business with pins or songs.
"""

from __future__ import annotations

import re
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from party_button.config.paths import PathContext, existing_file, path_problem
from party_button.config.walker import Reader, load_section, read_into, setting
from party_button.config.yaml_reader import MapReader
from party_button.errors import ConfigError
from party_button.small_files import FileRefused, read_small_file

PROTOCOLS = ("3.1.1", "5")
MAX_TOPIC = 128  # characters of base_topic and discovery_prefix
MAX_HOST = 253
MAX_PASSWORD = 1024  # bytes of a password file
_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_NODE_CHARACTER = re.compile(r"[^a-z0-9_-]+")


def node_name() -> str:
    """This machine's short host name, cut to ``a-z 0-9 _ -``: the node in topics and ids."""
    name = _NODE_CHARACTER.sub("_", socket.gethostname().split(".")[0].lower()).strip("_")
    return name[:32] or "party_button"


def topic_problem(topic: str) -> str | None:
    """Why ``topic`` cannot be a topic prefix of this node, or ``None``."""
    if len(topic) > MAX_TOPIC:
        return f"is longer than {MAX_TOPIC} characters"
    if not topic.isprintable():
        return "must hold only printable characters"
    if "+" in topic or "#" in topic:
        return "must not hold the wildcards + or #"
    if topic.startswith("$"):
        return "must not start with $ (the broker's own topics)"
    if "" in topic.split("/"):
        return "must not start or end with / nor hold an empty level (//)"
    return None


def _host_problem(host: str) -> str | None:
    if "://" in host or "/" in host:
        return "expected a host name or address, not a URL (the port is mqtt.port)"
    if len(host) > MAX_HOST or not host.isprintable() or any(c.isspace() for c in host):
        return "expected a host name or address"
    return None


def _client_id_problem(client_id: str) -> str | None:
    if _CLIENT_ID.fullmatch(client_id):
        return None
    return "expected 1 to 64 of the characters A-Z a-z 0-9 . _ -"


def _checked(problem_of: Callable[[str], str | None]) -> Reader:
    """A reader of a string that ``problem_of`` checks; a wrong one leaves the default."""

    def read(section: MapReader, key: str, default: Any, _ctx: Any, _values: dict) -> Any:
        value = section.string(key, default)
        if value and (problem := problem_of(value)):
            section.error(problem, key)
            return default
        return value

    return read


def _password_file(
    section: MapReader, key: str, default: Any, ctx: PathContext, values: dict
) -> Path | None:
    path = existing_file(section, key, default, ctx, values)
    if path is not None:
        if values["username"] is None:
            section.error("needs mqtt.username", key)
        elif not path_problem(path, "file") and (problem := password_file_problem(path)):
            section.error(problem, key)
    return path


def _ca_file(
    section: MapReader, key: str, default: Any, ctx: PathContext, values: dict
) -> Path | None:
    path = existing_file(section, key, default, ctx, values)
    if path is not None and not values["tls"]:
        section.error("needs tls: true", key)
    return path


@dataclass(frozen=True)
class MqttConfig:
    """How the MQTT bridge reaches the broker and which topics it uses.

    Fields are read in this order: a reader may look at the ones above it.
    """

    enabled: bool = setting(
        False, doc="run the bridge: the installer enables party-button-mqtt when true"
    )
    host: str = setting(
        "localhost", read=_checked(_host_problem), doc="the broker's host name or address"
    )
    port: int | None = setting(
        None,
        minimum=1,
        maximum=65535,
        integer=True,
        optional=True,
        doc="the broker's port (null: 1883, or 8883 with tls)",
    )
    protocol: str = setting(
        "3.1.1", choices=PROTOCOLS, doc='the MQTT protocol version: "3.1.1" or "5"'
    )
    username: str | None = setting(None, doc="the user name at the broker (null: none)")
    password_file: Path | None = setting(
        None,
        read=_password_file,
        doc=(
            "a file whose first line is the password, not readable by others (never the password "
            "itself)"
        ),
    )
    tls: bool = setting(
        False, doc="connect with TLS, checking the broker against the system's CAs or ca_file"
    )
    ca_file: Path | None = setting(
        None,
        read=_ca_file,
        doc="the CA certificate to check the broker with (needs tls: true; null: the system's CAs)",
    )
    client_id: str | None = setting(
        None,
        read=_checked(_client_id_problem),
        doc="the MQTT client id (null: party-button-NODE, NODE being the host name)",
    )
    base_topic: str | None = setting(
        None,
        read=_checked(topic_problem),
        doc="the prefix of every topic of this node (null: party-button/NODE)",
    )
    discovery_prefix: str = setting(
        "homeassistant", read=_checked(topic_problem), doc="Home Assistant's discovery prefix"
    )
    keepalive: int = setting(
        30,
        minimum=5,
        maximum=600,
        integer=True,
        doc="seconds; the broker declares the bridge gone after 1.5 times this",
    )

    @property
    def broker_port(self) -> int:
        """The port to connect to."""
        if self.port is not None:
            return self.port
        return 8883 if self.tls else 1883

    def node(self) -> str:
        """The node's name (see :func:`node_name`)."""
        return node_name()

    def topic_base(self) -> str:
        """The prefix of every topic of this node but discovery's."""
        return self.base_topic or f"party-button/{self.node()}"

    def client(self) -> str:
        """The MQTT client id."""
        return self.client_id or f"party-button-{self.node()}"[:64]


def password_file_problem(path: Path) -> str | None:
    """Why ``path`` is no place for a password (others may read it), or ``None``."""
    try:
        info = path.stat()
    except OSError as exc:
        return f"cannot use {str(path)!r}: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return f"{str(path)!r} is not a regular file"
    if info.st_mode & 0o004:
        mode = stat.S_IMODE(info.st_mode)
        return f"{str(path)!r} may be read by everyone (mode {mode:04o}): chmod o-r it"
    return None


def read_password(path: Path) -> str:
    """The password in ``path``: its first line; raises :class:`ConfigError` with the reason."""
    problem = password_file_problem(path)
    if problem is None:
        try:
            data = read_small_file(path, MAX_PASSWORD, follow_links=True)
        except FileRefused as exc:
            problem = (
                f"{str(path)!r} is longer than {MAX_PASSWORD} bytes"
                if exc.limit is not None
                else f"{str(path)!r} is {exc}"
            )
        except OSError as exc:
            problem = f"cannot read {str(path)!r}: {exc.strerror}"
        else:
            password = data.split(b"\n", 1)[0].rstrip(b"\r")
            if not password:
                problem = f"{str(path)!r} holds no password on its first line"
            else:
                try:
                    return password.decode()
                except UnicodeDecodeError:
                    problem = f"{str(path)!r} is not UTF-8 text"
    raise ConfigError([f"mqtt.password_file: {problem}"])


def load_mqtt_config(path: Path) -> MqttConfig:
    """Read only the ``mqtt`` section of the config file ``path`` (see ``load_section``)."""
    context = PathContext(path.resolve().parent)
    return load_section(path, "mqtt", lambda section: read_into(MqttConfig, section, context))

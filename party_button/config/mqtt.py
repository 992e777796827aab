"""The ``mqtt:`` section of the config: the broker, the credentials, the topics.

:class:`MqttConfig` holds every default once. :func:`read_mqtt` reads the section with
``FILE:LINE`` problems (``check-config`` and the daemon use it through
:func:`party_button.config.load_config`); :func:`load_mqtt_config` reads only this section,
for the bridge, which has no business with pins or songs.
"""

from __future__ import annotations

import os
import re
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

from party_button.config.yaml_reader import MapReader, Problems
from party_button.errors import ConfigError

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


@dataclass(frozen=True)
class MqttConfig:
    """How the MQTT bridge reaches the broker and which topics it uses."""

    enabled: bool = False
    host: str = "localhost"
    port: int | None = None  # None: 1883, or 8883 with TLS
    protocol: str = "3.1.1"
    username: str | None = None
    password_file: Path | None = None
    tls: bool = False
    ca_file: Path | None = None  # None with tls: the system's CAs
    client_id: str | None = None  # None: party-button-NODE
    base_topic: str | None = None  # None: party-button/NODE
    discovery_prefix: str = "homeassistant"
    keepalive: int = 30

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


DEFAULTS = MqttConfig()


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


def _file(section: MapReader, key: str, base: Path) -> Path | None:
    raw = section.string(key, None)
    if raw is None:
        return None
    path = Path(os.path.normpath(base / os.path.expanduser(raw)))
    if not path.is_file():
        section.error(f"file {str(path)!r} does not exist", key)
    return path


def _checked(section: MapReader, key: str, problem: str | None, value: str) -> str | None:
    if problem:
        section.error(problem, key)
        return None
    return value


def read_mqtt(root: MapReader, base: Path) -> MqttConfig:
    """The ``mqtt`` section of ``root``; problems go to the reader's list."""
    section = root.map("mqtt")
    host = section.string("host", DEFAULTS.host)
    host = _checked(section, "host", _host_problem(host), host) if host else None
    protocol = section.string("protocol", DEFAULTS.protocol, choices=PROTOCOLS)
    username = section.string("username", None)
    password_file = _file(section, "password_file", base)
    if password_file is not None:
        if username is None:
            section.error("needs mqtt.username", "password_file")
        elif password_file.is_file() and (problem := password_file_problem(password_file)):
            section.error(problem, "password_file")
    tls = section.boolean("tls", DEFAULTS.tls)
    ca_file = _file(section, "ca_file", base)
    if ca_file is not None and not tls:
        section.error("needs tls: true", "ca_file")
    client_id = section.string("client_id", None)
    if client_id is not None and not _CLIENT_ID.fullmatch(client_id):
        section.error("expected 1 to 64 of the characters A-Z a-z 0-9 . _ -", "client_id")
        client_id = None
    topics = {}
    for key, default in (("base_topic", None), ("discovery_prefix", DEFAULTS.discovery_prefix)):
        value = section.string(key, default)
        topics[key] = _checked(section, key, topic_problem(value), value) if value else default
    config = MqttConfig(
        enabled=section.boolean("enabled", DEFAULTS.enabled),
        host=host or DEFAULTS.host,
        port=section.number("port", None, minimum=1, maximum=65535, integer=True, optional=True),
        protocol=protocol or DEFAULTS.protocol,
        username=username,
        password_file=password_file,
        tls=tls,
        ca_file=ca_file,
        client_id=client_id,
        base_topic=topics["base_topic"],
        discovery_prefix=topics["discovery_prefix"] or DEFAULTS.discovery_prefix,
        keepalive=section.number(
            "keepalive", DEFAULTS.keepalive, minimum=5, maximum=600, integer=True
        ),
    )
    section.finish()
    return config


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
            with path.open("rb") as file:
                data = file.read(MAX_PASSWORD + 1)
        except OSError as exc:
            problem = f"cannot read {str(path)!r}: {exc.strerror}"
        else:
            password = data.split(b"\n", 1)[0].rstrip(b"\r")
            if len(data) > MAX_PASSWORD:
                problem = f"{str(path)!r} is longer than {MAX_PASSWORD} bytes"
            elif not password:
                problem = f"{str(path)!r} holds no password on its first line"
            else:
                try:
                    return password.decode()
                except UnicodeDecodeError:
                    problem = f"{str(path)!r} is not UTF-8 text"
    raise ConfigError([f"mqtt.password_file: {problem}"])


def load_mqtt_config(path: Path) -> MqttConfig:
    """Read only the ``mqtt`` section of the config file ``path``.

    Raises :class:`ConfigError` with ``FILE:LINE`` problems of this section (and of the
    file as a whole: unreadable, not YAML, beyond its limits).
    """
    problems = Problems(path)
    root = MapReader.load(path, problems)
    config = read_mqtt(root, path.resolve().parent)
    problems.raise_if_any()
    return config

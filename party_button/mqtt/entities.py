"""What Home Assistant sees: the topics of a node, its entities' discovery configs, states.

Everything here is a pure function of the config and the daemon's watch messages, so the
payloads can be checked without a broker. Topics of one node (``BASE`` is
``mqtt.base_topic``):

=============================  =============================================================
``BASE/availability``          the bridge: ``online``, or ``offline`` (also its last will)
``BASE/daemon``                the daemon: ``online`` while the bridge watches it
``BASE/command/start|stop``    commands from Home Assistant (``PRESS``); nothing else is read
``BASE/state/...``             states, retained: ``partying``, ``phase``, ``playing``,
                               ``playing/attributes``, ``relay/NAME``; with sync on
                               ``sync_role``, ``rooms`` and their ``.../attributes``
``BASE/event/button``          a press or hold, not retained
=============================  =============================================================
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from party_button import __version__
from party_button.config.mqtt import MqttConfig
from party_button.control import protocol

ONLINE, OFFLINE = "online", "offline"
ON, OFF = "ON", "OFF"
PRESS = "PRESS"
NOTHING = "None"  # Home Assistant reads this payload as "no value" (unknown)
PHASES = ("idle", "intro", "party", "ending", "cooldown")
PARTYING_PHASES = ("intro", "party", "ending")
EVENT_TYPES = ("press", "hold")
# The command topic's last level, and the control command it sends.
COMMANDS = {"start": protocol.PRESS, "stop": protocol.STOP}
DEVICE_NAME = "Party Button"
MODEL = "Emergency party button"
MAX_NAME = 64  # characters of a relay's entity name
SYNC_ROLES = ("leader", "room")
# The entities of the rooms (sync on), and the state topics each one reads.
SYNC_ENTITIES = {
    "sync_role": ("sync_role", "sync_role/attributes"),
    "rooms": ("rooms", "rooms/attributes"),
}
_SLUG = re.compile(r"[^a-z0-9]+")


def relay_slug(name: str) -> str:
    """A relay's name as a topic level and object id: ``a-z 0-9 _``, unique per name.

    A name that is not already such a slug gets six hex digits of its hash, so that ``a b``
    and ``a_b`` stay apart.
    """
    slug = _SLUG.sub("_", name.lower()).strip("_")[:32]
    if slug != name:
        slug = f"{slug}_{hashlib.sha1(name.encode()).hexdigest()[:6]}".lstrip("_")
    return slug


@dataclass(frozen=True)
class Topics:
    """The topics of one node."""

    base: str
    discovery_prefix: str
    node: str

    @classmethod
    def of(cls, config: MqttConfig) -> Topics:
        return cls(config.topic_base(), config.discovery_prefix, config.node())

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def daemon(self) -> str:
        return f"{self.base}/daemon"

    @property
    def commands(self) -> str:
        """The filter the bridge subscribes to: its command topics and nothing else."""
        return f"{self.base}/command/+"

    def command(self, name: str) -> str:
        return f"{self.base}/command/{name}"

    def state(self, name: str) -> str:
        return f"{self.base}/state/{name}"

    def relay(self, name: str) -> str:
        return self.state(f"relay/{relay_slug(name)}")

    @property
    def button_event(self) -> str:
        return f"{self.base}/event/button"

    @property
    def birth(self) -> str:
        """Home Assistant's own status topic, ``online`` when it (re)starts."""
        return f"{self.discovery_prefix}/status"

    @property
    def node_id(self) -> str:
        return f"party_button_{self.node}"

    def discovery(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{self.node_id}/{object_id}/config"

    @property
    def discovered(self) -> str:
        """A filter that matches the discovery config of each entity of this node."""
        return f"{self.discovery_prefix}/+/{self.node_id}/+/config"


def discovery_configs(
    topics: Topics, relays: Iterable[str], *, sync: bool = False
) -> dict[str, dict[str, Any]]:
    """Each entity's discovery topic and its config, for a daemon with ``relays``; with
    ``sync`` also this Pi's sync role and the rooms in the party."""
    shared = {
        "device": {
            "identifiers": [topics.node_id],
            "name": DEVICE_NAME,
            "model": MODEL,
            "sw_version": __version__,
            "serial_number": topics.node,
        },
        "origin": {"name": "party-button", "sw_version": __version__},
        "availability": [{"topic": topics.availability}, {"topic": topics.daemon}],
        "availability_mode": "all",
    }
    entities: list[tuple[str, str, dict[str, Any]]] = [
        (
            "button",
            "start",
            {
                "name": "Start party",
                "command_topic": topics.command("start"),
                "icon": "mdi:party-popper",
            },
        ),
        (
            "button",
            "stop",
            {"name": "Stop party", "command_topic": topics.command("stop"), "icon": "mdi:stop"},
        ),
        (
            "binary_sensor",
            "partying",
            {
                "name": "Partying",
                "state_topic": topics.state("partying"),
                "icon": "mdi:party-popper",
            },
        ),
        (
            "sensor",
            "now_playing",
            {
                "name": "Now playing",
                "state_topic": topics.state("playing"),
                "json_attributes_topic": topics.state("playing/attributes"),
                "icon": "mdi:music",
            },
        ),
        (
            "sensor",
            "phase",
            {
                "name": "Phase",
                "state_topic": topics.state("phase"),
                "device_class": "enum",
                "options": list(PHASES),
            },
        ),
        (
            "event",
            "button",
            {
                "name": "Button",
                "state_topic": topics.button_event,
                "event_types": list(EVENT_TYPES),
                "device_class": "button",
            },
        ),
    ]
    for relay in relays:
        entities.append(
            (
                "binary_sensor",
                f"relay_{relay_slug(relay)}",
                {
                    "name": f"Relay {relay}"[:MAX_NAME],
                    "state_topic": topics.relay(relay),
                    "icon": "mdi:electric-switch",
                },
            )
        )
    if sync:
        entities.extend(_sync_entities(topics))
    configs = {}
    for component, object_id, entity in entities:
        if component == "button":
            entity["payload_press"] = PRESS
        elif component == "binary_sensor":
            entity.update(payload_on=ON, payload_off=OFF)
        unique_id = f"{topics.node_id}_{object_id}"
        configs[topics.discovery(component, object_id)] = {
            **entity,
            "unique_id": unique_id,
            **shared,
        }
        if object_id in SYNC_ENTITIES:  # the rooms go on while this Pi's daemon is away
            configs[topics.discovery(component, object_id)]["availability"] = [
                {"topic": topics.availability}
            ]
    return configs


def _sync_entities(topics: Topics) -> list[tuple[str, str, dict[str, Any]]]:
    """The sync role (its room and leader as attributes) and the number of rooms in the
    party (every room's state as attributes)."""
    return [
        (
            "sensor",
            "sync_role",
            {
                "name": "Sync role",
                "state_topic": topics.state("sync_role"),
                "json_attributes_topic": topics.state("sync_role/attributes"),
                "device_class": "enum",
                "options": list(SYNC_ROLES),
                "icon": "mdi:lan",
                "entity_category": "diagnostic",
            },
        ),
        (
            "sensor",
            "rooms",
            {
                "name": "Rooms in the party",
                "state_topic": topics.state("rooms"),
                "json_attributes_topic": topics.state("rooms/attributes"),
                "unit_of_measurement": "rooms",
                "icon": "mdi:speaker-multiple",
            },
        ),
    ]


def sync_payloads(topics: Topics, view: Mapping[str, Any]) -> dict[str, str]:
    """The retained states of the rooms' entities for a view of
    :func:`~party_button.sync_status.rooms_view`: the role, how many rooms are in the party
    (unknown while the sync service does not answer), each room's state (one of
    ``party_button.sync_status.ROOM_STATES``) and why, where a room says."""
    rooms = view.get("rooms") or []
    error = view.get("error")
    in_party = sum(room["state"] == "party" for room in rooms)
    role = view.get("role")
    attributes = {"room": view.get("room"), "leader": view.get("leader"), "error": error}
    return {
        topics.state("sync_role"): role if role in SYNC_ROLES else NOTHING,
        topics.state("sync_role/attributes"): json.dumps(attributes),
        topics.state("rooms"): NOTHING if error else str(in_party),
        topics.state("rooms/attributes"): json.dumps(
            {
                "rooms": {room["name"]: room["state"] for room in rooms},
                "why": {room["name"]: room["why"] for room in rooms if room["why"]},
            }
        ),
    }


def state_payloads(topics: Topics, state: Mapping[str, Any]) -> dict[str, str]:
    """The retained state messages that a watch ``state`` line gives, by topic."""
    phase = state.get("phase")
    playing = state.get("playing")
    position = state.get("position")
    payloads = {
        topics.state("phase"): str(phase),
        topics.state("partying"): ON if phase in PARTYING_PHASES else OFF,
        topics.state("playing"): str(playing) if playing else NOTHING,
        topics.state("playing/attributes"): json.dumps(
            {"position": int(position) if isinstance(position, int | float) else 0, "phase": phase}
        ),
    }
    relays = state.get("relays")
    for name, on in (relays if isinstance(relays, dict) else {}).items():
        payloads[topics.relay(str(name))] = ON if on else OFF
    return payloads


def event_payload(message: Mapping[str, Any]) -> str | None:
    """The button event entity's payload for a watch ``event`` line, or ``None``."""
    event = message.get("event")
    if event not in EVENT_TYPES:
        return None
    payload = {"event_type": event, "source": message.get("source", "")}
    if "uid" in message:
        payload["uid"] = message["uid"]
    return json.dumps(payload)

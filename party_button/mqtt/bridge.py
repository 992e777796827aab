"""The bridge: the daemon's watch stream to MQTT states, Home Assistant's buttons to commands.

Three threads feed one loop: paho's network thread (connected, lost, a message), the
:class:`~party_button.watch_follower.WatchFollower` (the daemon's messages, its loss) and
the signal handler (stop); with sync on a fourth, the
:class:`~party_button.sync_status.SyncFollower` (the rooms as this Pi's sync service sees
them). The loop alone decides and publishes, so retained states go out in the order they
happened. Commands run in a thread of their own, one at a time, so a slow
daemon never holds up the states; a flood beyond :data:`COMMAND_BACKLOG` is dropped here,
and the daemon's own limits (cooldown, one press each 0.25 s) apply to the rest.

What was announced is read back from the broker: the bridge subscribes to its own
discovery topics, and a retained config of an entity the daemon no longer has (a relay
removed from the config) is cleared with an empty retained message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from party_button.config.mqtt import MqttConfig
from party_button.config.sync import SyncConfig
from party_button.control.client import send_command
from party_button.control.watch_follower import WatchFollower
from party_button.errors import ControlError
from party_button.log_limit import RateLimitedLog
from party_button.mqtt.entities import (
    COMMANDS,
    OFFLINE,
    ONLINE,
    PRESS,
    SYNC_ENTITIES,
    Topics,
    discovery_configs,
    event_payload,
    relay_slug,
    state_payloads,
    sync_payloads,
)
from party_button.sync_status import LOCAL_HOST, SyncFollower

log = logging.getLogger(__name__)

COMMAND_BACKLOG = 4  # commands waiting for the daemon; more are dropped
ANNOUNCE_EVERY = 10.0  # seconds between two announcements for Home Assistant's births
FIRST_RECONNECT, LAST_RECONNECT = 1, 30  # seconds between attempts to reach the broker
MAX_QUEUED = 256  # QoS 1 messages paho may hold while the broker is away
SHUTDOWN_PUBLISH = 2.0  # seconds to get the last "offline" out
WARN_EVERY = 60.0


@dataclass(frozen=True)
class _Item:
    """One thing for the loop: ``kind`` and what came with it."""

    kind: str
    topic: str = ""
    payload: Any = None
    retain: bool = False


class CommandRunner:
    """Sends control commands to the daemon from a thread, :data:`COMMAND_BACKLOG` at most."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._queue: queue.Queue[str | None] = queue.Queue(COMMAND_BACKLOG)
        self._thread = threading.Thread(target=self._run, name="mqtt-commands")
        self.refusals = RateLimitedLog(log, WARN_EVERY)

    def start(self) -> None:
        self._thread.start()

    def submit(self, command: str) -> None:
        """Queue ``command``; dropped (and logged) when the backlog is full.

        A ``stop`` is never dropped: the commands still waiting give way to it.
        """
        if command == "stop":
            self._drain()
        try:
            self._queue.put_nowait(command)
        except queue.Full:
            self.refusals.warning(
                "dropped", "dropped an MQTT %s command: %d are waiting", command, COMMAND_BACKLOG
            )

    def _run(self) -> None:
        while (command := self._queue.get()) is not None:
            try:
                answer = send_command(self.socket_path, command)
            except ControlError as exc:
                self.refusals.warning(
                    "not delivered", "MQTT %s command not delivered: %s", command, exc
                )
                continue
            if answer.get("ok"):
                log.info("MQTT %s command: %s", command, answer.get("status", "done"))
            else:
                error = answer.get("error")
                kind = f"refused {command}"
                self.refusals.info(kind, "MQTT %s command refused: %s", command, error)

    def close(self) -> None:
        """Forget the waiting commands, finish the current one and stop; safe to call twice."""
        if self._thread.is_alive():
            self._drain()
            self._queue.put(None)
            self._thread.join()

    def _drain(self) -> None:
        """Forget the commands that wait."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return


def make_client(config: MqttConfig, password: str | None, topics: Topics) -> mqtt.Client:
    """A paho client for ``config``, its last will set (nothing connects yet)."""
    version5 = config.protocol == "5"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=config.client(),
        protocol=mqtt.MQTTv5 if version5 else mqtt.MQTTv311,
        clean_session=None if version5 else True,
    )
    client.will_set(topics.availability, OFFLINE, qos=1, retain=True)
    if config.username is not None:
        client.username_pw_set(config.username, password)
    if config.tls:
        client.tls_set(ca_certs=str(config.ca_file) if config.ca_file else None)
    client.on_socket_open = _no_delay
    client.reconnect_delay_set(FIRST_RECONNECT, LAST_RECONNECT)
    client.max_queued_messages_set(MAX_QUEUED)
    return client


def stop_client(client: mqtt.Client) -> None:
    """Disconnect ``client`` (the broker drops its last will) and wait for its network thread.

    After ``disconnect()`` that thread ends by itself and clears paho's handle to it, which
    ``loop_stop()`` may read between its check and its join (paho 2.2 raises
    ``AttributeError``; seen under load): the thread is then over already.
    """
    client.disconnect()
    with contextlib.suppress(AttributeError):
        client.loop_stop()


def _no_delay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    """Send each message at once: a change publishes several small ones in a row, and
    Nagle's algorithm would hold the later ones back until the broker acknowledges."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Bridge:
    """Runs between the daemon at ``socket_path`` and the broker of ``config``."""

    def __init__(
        self,
        config: MqttConfig,
        socket_path: Path,
        *,
        password: str | None = None,
        on_status: Callable[[str], None] = lambda text: None,
        sync: SyncConfig | None = None,
    ) -> None:
        self.config = config
        self.topics = Topics.of(config)
        self.on_status = on_status
        self._items: queue.Queue[_Item] = queue.Queue()
        self._connected = False
        self._unreachable: str | None = None  # why the last attempt to connect failed
        self._failed_attempts = 0  # since the last warning about it
        self._warned_unreachable_at = -WARN_EVERY
        self._daemon_online = False
        self._state: dict[str, Any] | None = None
        self._relays: tuple[str, ...] | None = None  # None until the daemon has said
        self._published: dict[str, str] = {}  # retained payloads sent on this connection
        self._found: set[str] = set()  # retained discovery topics of this node on the broker
        self._announced_at = -ANNOUNCE_EVERY  # monotonic seconds
        self._announce_due: float | None = None  # a birth came too soon after the last one
        self.notes = RateLimitedLog(log, WARN_EVERY)
        self.client = make_client(config, password, self.topics)
        self.client.on_connect = self._mqtt_connected
        self.client.on_disconnect = self._mqtt_lost
        self.client.on_connect_fail = self._mqtt_unreachable
        self.client.on_message = self._mqtt_message
        self.follower = WatchFollower(
            socket_path,
            lambda message: self._items.put(_Item("watch", payload=message)),
            lambda reason: self._items.put(_Item("daemon lost", payload=reason)),
        )
        self.commands = CommandRunner(socket_path)
        self.sync: SyncFollower | None = None
        self._sync_view: dict[str, Any] | None = None
        if sync is not None and sync.enabled:
            self.sync = SyncFollower(
                LOCAL_HOST,
                sync.port,
                sync.role,
                sync.room_name(),
                lambda view: self._items.put(_Item("sync", payload=view)),
            )

    # -- threads that only put items on the loop's queue -----------------------------------

    def _mqtt_connected(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("the broker refused the connection: %s", reason_code)
            return
        self._items.put(_Item("connected"))

    def _mqtt_unreachable(self, client, userdata) -> None:
        # paho calls this while it handles the OSError of its attempt: the error says why.
        error = sys.exc_info()[1]
        reason = (error.strerror or str(error)) if isinstance(error, OSError) else None
        self._items.put(_Item("unreachable", payload=reason or "the connection failed"))

    def _mqtt_lost(self, client, userdata, flags, reason_code, properties) -> None:
        self._items.put(_Item("disconnected", payload=str(reason_code)))

    def _mqtt_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        self._items.put(_Item("message", message.topic, bytes(message.payload), message.retain))

    def stop(self) -> None:
        """Make :meth:`run` return (from any thread or a signal handler)."""
        self._items.put(_Item("stop"))

    # -- the loop --------------------------------------------------------------------------

    def run(self, ready: Callable[[], None] = lambda: None) -> int:
        """Bridge until :meth:`stop`; 0. Never waits for the broker nor the daemon."""
        config = self.config
        log.info(
            "MQTT bridge: broker %s:%d (MQTT %s%s), topics %s/..., discovery %s/...",
            config.host,
            config.broker_port,
            config.protocol,
            ", TLS" if config.tls else "",
            self.topics.base,
            config.discovery_prefix,
        )
        self.client.connect_async(config.host, config.broker_port, config.keepalive)
        self.client.loop_start()
        self.commands.start()
        self.follower.start()
        if self.sync is not None:
            self.sync.start()
        ready()
        self._report()
        try:
            while (item := self._next_item()).kind != "stop":
                self._handle(item)
        finally:
            self._shut_down()
        return 0

    def _next_item(self) -> _Item:
        """The next item; meanwhile the announcement a birth asked for, once it is due."""
        while True:
            wait = None
            if self._announce_due is not None:
                wait = max(0.0, self._announce_due - time.monotonic())
            try:
                return self._items.get(timeout=wait)
            except queue.Empty:
                self._announce_due = None
                self._announce()

    def _handle(self, item: _Item) -> None:
        if item.kind == "watch":
            self._watched(item.payload)
        elif item.kind == "sync":
            self._sync_view = item.payload
            self._publish_rooms()
        elif item.kind == "daemon lost":
            self._daemon_gone()
        elif item.kind == "message":
            self._received(item.topic, item.payload, item.retain)
        elif item.kind == "unreachable":
            self._broker_unreachable(item.payload)
        elif item.kind == "connected":
            log.info("connected to the broker %s:%d", self.config.host, self.config.broker_port)
            self._connected = True
            self._unreachable = None
            self._failed_attempts = 0
            self._published.clear()
            self.client.subscribe(
                [(self.topics.commands, 1), (self.topics.birth, 1), (self.topics.discovered, 1)]
            )
            self._announce()
            self._report()
        elif item.kind == "disconnected" and self._connected:
            log.warning("lost the broker (%s); reconnecting", item.payload)
            self._connected = False
            self._report()

    def _broker_unreachable(self, reason: str) -> None:
        """Say why the broker cannot be reached: in the status at once, in the journal at
        most once each :data:`WARN_EVERY` seconds, with the number of attempts since."""
        self._failed_attempts += 1
        now = time.monotonic()
        if reason != self._unreachable or now - self._warned_unreachable_at >= WARN_EVERY:
            log.warning(
                "cannot reach the broker %s:%d: %s (%d attempt(s) since the last message); "
                "retrying",
                self.config.host,
                self.config.broker_port,
                reason,
                self._failed_attempts,
            )
            self._warned_unreachable_at = now
            self._failed_attempts = 0
        if reason != self._unreachable:
            self._unreachable = reason
            self._report()

    def _report(self) -> None:
        broker = "connected" if self._connected else "not connected"
        if not self._connected and self._unreachable:
            broker += f" ({self._unreachable})"
        daemon = "online" if self._daemon_online else "offline"
        self.on_status(
            f"broker {self.config.host}:{self.config.broker_port} {broker}, daemon {daemon}"
        )

    def _publish(
        self, topic: str, payload: str, *, retain: bool = True, force: bool = False
    ) -> None:
        """Send one message while connected; a retained one only when it changed."""
        if not self._connected:
            return
        if retain and not force and self._published.get(topic) == payload:
            return
        self.client.publish(topic, payload, qos=1, retain=retain)
        if retain:
            self._published[topic] = payload

    def _announce(self) -> None:
        """Availability, every discovery config and every state, as if for the first time."""
        self._announced_at = time.monotonic()
        self._publish(self.topics.availability, ONLINE, force=True)
        for topic, config in self._configs().items():
            self._publish(topic, _json(config), force=True)
        self._publish(self.topics.daemon, ONLINE if self._daemon_online else OFFLINE, force=True)
        if self._state is not None:
            for topic, payload in state_payloads(self.topics, self._state).items():
                self._publish(topic, payload, force=True)
        self._publish_rooms(force=True)
        self._sweep()

    def _publish_rooms(self, *, force: bool = False) -> None:
        """The rooms' states, once the sync service's view is known."""
        if self._sync_view is not None:
            for topic, payload in sync_payloads(self.topics, self._sync_view).items():
                self._publish(topic, payload, force=force)

    def _configs(self) -> dict[str, dict[str, Any]]:
        return discovery_configs(self.topics, self._relays or (), sync=self.sync is not None)

    def _sweep(self) -> None:
        """Clear the retained configs of entities the daemon no longer has."""
        if self._relays is None:
            return  # what is stale is known once the daemon has said which relays it has
        for topic in sorted(self._found - set(self._configs())):
            log.info("clearing the discovery config of a removed entity: %s", topic)
            self._publish(topic, "", force=True)
            object_id = topic.split("/")[-2]
            if object_id.startswith("relay_"):
                self._publish(self.topics.state(f"relay/{object_id[6:]}"), "", force=True)
            for state in SYNC_ENTITIES.get(object_id, ()):
                self._publish(self.topics.state(state), "", force=True)
        self._found &= set(self._configs())

    def _received(self, topic: str, payload: bytes, retain: bool) -> None:
        topics = self.topics
        if topic == topics.birth:
            if payload == ONLINE.encode():
                self._born()
        elif topic.startswith(topics.command("")):
            command = COMMANDS.get(topic[len(topics.command("")) :])
            if retain:
                self._clear_retained_command(topic, payload)
            elif command is not None and payload == PRESS.encode():
                self.commands.submit(command)
            else:
                log.debug("ignored %r on %s", payload[:40], topic)
        elif retain and payload:  # a discovery config as the broker keeps it
            self._found.add(topic)
            self._sweep()

    def _born(self) -> None:
        """Home Assistant (re)started: announce again, at most once each
        :data:`ANNOUNCE_EVERY` seconds (a storm of births gets one more, when it is due)."""
        self.notes.info("birth", "Home Assistant is online: announcing again")
        since = time.monotonic() - self._announced_at
        if since >= ANNOUNCE_EVERY:
            self._announce_due = None
            self._announce()
        elif self._announce_due is None:
            self._announce_due = self._announced_at + ANNOUNCE_EVERY

    def _clear_retained_command(self, topic: str, payload: bytes) -> None:
        """A command the broker kept (retained) is never run: it would run again at every
        reconnect. It is cleared with an empty retained message."""
        if not payload:
            return
        self.notes.warning(
            f"retained {topic}",
            "ignored and cleared a retained command on %s: commands must not be retained",
            topic,
        )
        self._publish(topic, "", force=True)

    def _watched(self, message: dict[str, Any]) -> None:
        if message.get("type") == "event":
            payload = event_payload(message)
            if payload is not None:
                self._publish(self.topics.button_event, payload, retain=False)
            return
        if message.get("type") != "state":
            return
        self._state = message
        relays = tuple(str(name) for name in message.get("relays") or {})
        if relays != self._relays:
            self._relays_changed(relays)
        if not self._daemon_online:
            log.info("the daemon is online")
            self._daemon_online = True
            self._publish(self.topics.daemon, ONLINE)
            self._report()
        for topic, payload in state_payloads(self.topics, message).items():
            self._publish(topic, payload)

    def _relays_changed(self, relays: tuple[str, ...]) -> None:
        before = set(self._relays or ())
        for name in sorted(before - set(relays)):
            self._publish(self.topics.discovery("binary_sensor", f"relay_{relay_slug(name)}"), "")
            self._publish(self.topics.relay(name), "")
        self._relays = relays
        for topic, config in self._configs().items():
            self._publish(topic, _json(config))
        self._sweep()

    def _daemon_gone(self) -> None:
        if self._daemon_online:
            self._daemon_online = False
            self._publish(self.topics.daemon, OFFLINE)
            self._report()

    def _shut_down(self) -> None:
        self.follower.close()
        if self.sync is not None:
            self.sync.close()
        self.commands.close()
        if self._connected:
            info = self.client.publish(self.topics.availability, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(SHUTDOWN_PUBLISH)
            except (RuntimeError, ValueError) as exc:
                log.debug("the last offline did not go out: %s", exc)
        stop_client(self.client)


def _json(config: dict[str, Any]) -> str:
    return json.dumps(config, separators=(",", ":"))

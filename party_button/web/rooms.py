"""The rooms on the page: this Pi's sync service's view, as ``rooms`` messages of the stream.

With ``sync.enabled`` the service asks its own sync service (over loopback, see
:mod:`party_button.sync_status`) and sends the view to every browser when it changes, and
to each new one first; with sync off there is no view and no ``rooms`` message.
"""

from __future__ import annotations

import asyncio
from typing import Any

from party_button.config.sync import SyncConfig
from party_button.sync_status import LOCAL_HOST, SyncFollower
from party_button.web.daemon_link import DaemonLink, Subscriber


class Rooms:
    """The rooms' view of the sync service for ``sync``, published through ``link``."""

    def __init__(self, sync: SyncConfig, link: DaemonLink) -> None:
        self.link = link
        self.view: dict[str, Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._follower: SyncFollower | None = None
        if sync.enabled:
            self._follower = SyncFollower(
                LOCAL_HOST, sync.port, sync.role, sync.room_name(), self._from_thread
            )

    def start(self) -> None:
        """Start following (in the running event loop); nothing with sync off."""
        self._loop = asyncio.get_running_loop()
        if self._follower is not None:
            self._follower.start()

    def close(self) -> None:
        """Stop following; safe to call twice."""
        if self._follower is not None:
            self._follower.close()

    def greet(self, subscriber: Subscriber) -> None:
        """Give a new browser the view as it stands."""
        if self.view is not None:
            subscriber.offer(self.message())

    def message(self) -> dict[str, Any]:
        return {"type": "rooms", **(self.view or {})}

    def _from_thread(self, view: dict[str, Any]) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._show, view)

    def _show(self, view: dict[str, Any]) -> None:
        self.view = view
        self.link.publish(self.message())

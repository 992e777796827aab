"""A sync room's daemon plays no sound of its own (its snapclient plays the leader's stream),
yet its party, light show and end run for as long as its song lasts."""

from __future__ import annotations

from collections.abc import Callable

import pygame
from gpiozero.pins.mock import MockFactory

from party_button.config.schema import Config
from party_button.media.room_player import RoomPlayer
from party_button.testing import history, press, running_daemon


def test_a_rooms_daemon_parties_silently(
    make_config: Callable[..., Config], mock_factory: MockFactory
) -> None:
    config = make_config({"sync": {"enabled": True, "role": "room", "leader": "10.0.0.2"}})
    with running_daemon(config, mock_factory) as daemon:
        assert isinstance(daemon.conductor.player.audio, RoomPlayer)
        press(mock_factory)
        party = history(daemon).wait(lambda s: s.phase == "party")
        assert party.relays == {"lights": True, "beacon": True}
        assert "snapclient" in party.audio
        assert pygame.mixer.get_init() is None  # the mixer was never opened
        later = history(daemon).wait(lambda s: s.phase == "party" and s.position > 0.3)
        assert later.position < 0.7  # the test songs last 0.6 s
        over = history(daemon).wait(lambda s: s.phase == "cooldown", timeout=5)
        assert not any(over.relays.values())

"""Where a party stands: the one phase that the state machine, the lights and status share."""

from __future__ import annotations

import enum


class Phase(enum.Enum):
    """Where a party stands."""

    IDLE = "idle"
    INTRO = "intro"
    PARTY = "party"
    ENDING = "ending"
    COOLDOWN = "cooldown"

"""Reloading the configuration: judging the new file, and what differs from the old one.

An invalid file is reported line by line, like ``check-config``, and the daemon keeps the
configuration it has. A valid one waits in :attr:`Reloader.pending` until the daemon is
idle; then :meth:`Reloader.plan` says what must be set up anew (the pins always are), and
the daemon does it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from party_button.config.schema import Config, load_config
from party_button.errors import ConfigError

log = logging.getLogger(__name__)

# How many problems of a refused reload go to the log and the answer (check-config has all).
RELOAD_PROBLEMS_SHOWN = 20


@dataclass(frozen=True)
class ReloadPlan:
    """What switching from ``previous`` to ``config`` sets up anew, besides the pins."""

    config: Config
    previous: Config
    pin_factory: bool  # the gpio section changed: a new pin factory
    player: bool  # the audio or clips sections or the library changed: a new player

    @classmethod
    def between(cls, previous: Config, config: Config) -> ReloadPlan:
        """The plan that switches from ``previous`` to ``config``.

        A new library comes with a new player: the old one holds a pick of the old library
        (a song of a folder no longer used, say), which the next press would play.
        """
        player = (
            config.audio != previous.audio
            or config.clips != previous.clips
            or library_changed(previous, config)
        )
        return cls(config, previous, config.gpio != previous.gpio, player)

    def back(self) -> ReloadPlan:
        """The plan that returns to the previous configuration."""
        return ReloadPlan.between(self.config, self.previous)


class Reloader:
    """A validated config waiting to be applied, and why the last reload failed, if it did."""

    def __init__(self) -> None:
        self.pending: Config | None = None
        self.error: str | None = None

    def read(self, path: Path) -> dict[str, Any]:
        """Read and validate ``path``: ``{"ok": True}`` with it pending, or its problems."""
        log.info("reloading %s", path, extra={"EVENT": "reload"})
        try:
            self.pending = load_config(path)
        except ConfigError as exc:
            shown = exc.problems[:RELOAD_PROBLEMS_SHOWN]
            if len(exc.problems) > len(shown):
                more = len(exc.problems) - len(shown)
                shown.append(f"... and {more} more (party-button check-config {path})")
            for problem in shown:
                log.error("%s", problem)
            self.error = f"{len(exc.problems)} problem(s) in {path}"
            log.error(
                "reload refused (%s): still running on the previous configuration", self.error
            )
            return {"ok": False, "errors": shown}
        self.error = None
        return {"ok": True}

    def plan(self, current: Config) -> ReloadPlan:
        """Take the pending config: the plan that switches from ``current`` to it."""
        config, self.pending = self.pending, None
        assert config is not None
        return ReloadPlan.between(current, config)

    def refused(self, reason: str) -> None:
        """The pending config could not be applied (``reason``): the previous one stays."""
        self.error = reason


def library_changed(old: Config, new: Config) -> bool:
    """Whether the songs library must be made anew (it is kept, with what it scanned, else)."""
    return _library_settings(old) != _library_settings(new)


def _library_settings(config: Config) -> tuple[object, ...]:
    """What the songs library depends on in ``config``."""
    clips = config.clips
    return (config.songs, config.effect_sounds, clips.enabled, clips.extensions, clips.chance)

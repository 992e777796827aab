"""Exceptions of party-button.

Each one also inherits the matching built-in, so callers that only know Python's own
exceptions still catch them.
"""

from __future__ import annotations


class PartyButtonError(Exception):
    """Base of every error that party-button raises on purpose."""


class ConfigError(PartyButtonError, ValueError):
    """The configuration is invalid; ``problems`` holds one ``FILE:LINE: key: message`` each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class AudioError(PartyButtonError, RuntimeError):
    """The audio output could not be opened or a sound could not be played."""


class SongError(PartyButtonError, OSError):
    """A song file is missing, unreadable or corrupt."""


class VideoError(PartyButtonError, RuntimeError):
    """The mpv program that shows clips is missing, cannot start, or does not answer."""


class HardwareError(PartyButtonError, RuntimeError):
    """A GPIO pin or pin factory could not be set up."""


class ControlError(PartyButtonError, ConnectionError):
    """The daemon's control socket could not be reached or answered badly."""


class StlError(PartyButtonError, ValueError):
    """An STL file is missing, truncated or not STL at all."""

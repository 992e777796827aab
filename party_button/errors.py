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


class CommandError(PartyButtonError, ValueError):
    """A command cannot do what it was asked: an unknown name, a file it cannot write."""


class MissingExtraError(PartyButtonError, ImportError):
    """An optional extra (``beats``, ``render``, ``cluster``) is not installed."""


# -- the workstation's render job --------------------------------------------------------


class RenderError(PartyButtonError):
    """Base of every error the render job raises on purpose; its text is one line."""


class InputVideoError(RenderError, ValueError):
    """The input is missing, not a video, or has no video stream."""


class OutputError(RenderError, OSError):
    """The clip, its metadata file or the work folder could not be written."""

    @classmethod
    def writing(cls, path: object, error: BaseException) -> OutputError:
        """The error for a failed write of ``path``."""
        return cls(f"cannot write {path}: {reason(error)}")


class WeightsError(RenderError, OSError):
    """Model weights are missing, cannot be downloaded, or do not fit the model."""


class SettingsError(RenderError, ValueError):
    """Options that contradict each other, the input, or an unfinished render."""


class DeviceError(RenderError, RuntimeError):
    """The requested compute device is not available."""


def reason(error: BaseException) -> str:
    """What an OS or FFmpeg error says, without its number."""
    return getattr(error, "strerror", None) or str(error)

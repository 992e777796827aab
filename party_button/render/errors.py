"""Exceptions of the render job; each also inherits the matching built-in."""

from __future__ import annotations

from party_button.errors import PartyButtonError


class RenderError(PartyButtonError):
    """Base of every error the render job raises on purpose; its text is one line."""


class MissingExtraError(RenderError, ImportError):
    """torch, torchvision, PyAV or numpy is not installed."""


class InputVideoError(RenderError, ValueError):
    """The input is missing, not a video, or has no video stream."""


class OutputError(RenderError, OSError):
    """The clip, its sidecar or the work folder could not be written."""

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

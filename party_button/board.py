"""Which board this is, and the pin header used to check pin names."""

from __future__ import annotations

from pathlib import Path

from gpiozero.pins.pi import PiBoardInfo, pi_info

DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
DEVICE_TREE_REVISION = Path("/proc/device-tree/system/linux,revision")
# A 40-pin Raspberry Pi 4 Model B: the header every current board shares, used to check
# pin names when the checker does not run on a Pi.
REFERENCE_REVISION = "c03111"


def board_model(model_file: Path = DEVICE_TREE_MODEL) -> str | None:
    """The board's model string (e.g. ``Raspberry Pi 5 Model B Rev 1.0``), or ``None``."""
    try:
        return model_file.read_bytes().rstrip(b"\0").decode(errors="replace").strip() or None
    except OSError:
        return None


def is_raspberry_pi(model: str | None) -> bool:
    """Whether ``model`` names a Raspberry Pi."""
    return model is not None and "Raspberry Pi" in model


def board_info() -> PiBoardInfo:
    """This Raspberry Pi's header, or the 40-pin reference board anywhere else."""
    try:
        revision = f"{int.from_bytes(DEVICE_TREE_REVISION.read_bytes()[:4], 'big'):x}"
        return pi_info(revision)
    except (OSError, ValueError):
        return pi_info(REFERENCE_REVISION)

"""Which board this is, its pin header, and the gpiozero pin factory that drives it.

The factory is chosen per board (lgpio on a Raspberry Pi 5, RPi.GPIO on older boards)
unless the config names one; with ``auto`` in the config, gpiozero's own
``GPIOZERO_PIN_FACTORY`` names it as gpiozero users expect (``mock``: no pins at all,
for containers and service tests).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from gpiozero.exc import GPIOZeroError
from gpiozero.pins import Factory
from gpiozero.pins.mock import MockFactory, MockPWMPin
from gpiozero.pins.pi import PiBoardInfo, pi_info

from party_button.errors import HardwareError

DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
DEVICE_TREE_REVISION = Path("/proc/device-tree/system/linux,revision")
# A 40-pin Raspberry Pi 4 Model B: the header every current board shares, used to check
# pin names when the checker does not run on a Pi.
REFERENCE_REVISION = "c03111"
# The pin factories party-button can drive its pins with (``auto`` chooses per board).
PIN_FACTORIES = ("auto", "lgpio", "rpigpio", "mock")
FACTORY_ENV = "GPIOZERO_PIN_FACTORY"


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


def choose_factory_name(
    requested: str, model: str | None, environ: Mapping[str, str] | None = None
) -> str:
    """Resolve ``auto`` to a concrete factory name: ``$GPIOZERO_PIN_FACTORY`` when set,
    else the one for the board ``model``."""
    if requested != "auto":
        return requested
    from_env = (os.environ if environ is None else environ).get(FACTORY_ENV, "").strip()
    if from_env:
        if from_env.lower() not in PIN_FACTORIES[1:]:
            raise HardwareError(
                f"{FACTORY_ENV}={from_env!r} is not a pin factory party-button can use "
                f"(use {', '.join(PIN_FACTORIES[1:])})"
            )
        return from_env.lower()
    if not is_raspberry_pi(model):
        raise HardwareError(
            "this is not a Raspberry Pi (no board model in /proc/device-tree); "
            "use 'party-button run --simulate' or set gpio.pin_factory: mock"
        )
    if "Raspberry Pi 5" in model or "Compute Module 5" in model:
        return "lgpio"
    return "rpigpio"


def make_pin_factory(
    requested: str, model: str | None = None, environ: Mapping[str, str] | None = None
) -> Factory:
    """Build the gpiozero pin factory named by the config (``auto``: see
    :func:`choose_factory_name`)."""
    name = choose_factory_name(requested, board_model() if model is None else model, environ)
    try:
        if name == "mock":
            return MockFactory(pin_class=MockPWMPin)
        if name == "lgpio":
            from gpiozero.pins.lgpio import LGPIOFactory

            return LGPIOFactory()
        from gpiozero.pins.rpigpio import RPiGPIOFactory

        return RPiGPIOFactory()
    except ImportError as exc:
        raise HardwareError(
            f"the {name} pin factory needs {exc.name or 'its library'}: "
            "pip install 'party-button[pi]'"
        ) from None
    except (GPIOZeroError, OSError, RuntimeError) as exc:
        raise HardwareError(f"cannot start the {name} pin factory: {exc}") from None

"""Facts about the Raspberry Pi 40-pin header, and which pins other hardware claims.

The header map (physical pin <-> BCM GPIO, power and ground pins) comes from gpiozero's own
board data, so it cannot drift from what the daemon's GPIO library believes. All 40-pin boards
(B+, 2, 3, 4, 5, Zero) share the same J8 layout; a Pi 4B is used as the reference.

Example::

    >>> physical_pin(17)
    11
    >>> pin_clashes(2, ["i2c"], None)
    ['GPIO2 is I2C1 SDA (i2c is enabled)']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from gpiozero import pi_info

from party_button.gpio.board import REFERENCE_REVISION

#: Interfaces that claim fixed pins when enabled in ``config.txt`` (``dtparam=i2c_arm=on``,
#: ``dtparam=spi=on``, ``enable_uart=1``).
INTERFACES = ("i2c", "spi", "uart")

INTERFACE_PINS: dict[str, dict[int, str]] = {
    "i2c": {2: "I2C1 SDA", 3: "I2C1 SCL"},
    "spi": {7: "SPI0 CE1", 8: "SPI0 CE0", 9: "SPI0 MISO", 10: "SPI0 MOSI", 11: "SPI0 SCLK"},
    "uart": {14: "UART TXD", 15: "UART RXD"},
}

#: GPIO0/1 carry the HAT ID EEPROM bus; the firmware reads it at boot, nothing else may use them.
RESERVED_PINS = {0: "ID_SD (HAT ID EEPROM)", 1: "ID_SC (HAT ID EEPROM)"}

_I2S = {18: "I2S BCLK", 19: "I2S LRCLK", 20: "I2S DIN", 21: "I2S DOUT"}
_I2C = {2: "I2C SDA (codec control)", 3: "I2C SCL (codec control)"}


@dataclass(frozen=True)
class AudioHat:
    """An audio add-on board and the GPIOs it needs for itself."""

    title: str
    pins: dict[int, str]


#: Audio boards that sit on the header, keyed by the name used in the config's
#: ``board.audio_hat``. Pin use from the makers' documentation.
KNOWN_AUDIO_HATS: dict[str, AudioHat] = {
    "hifiberry-dac": AudioHat("HiFiBerry DAC+ Light / DAC+ Zero", dict(_I2S)),
    "hifiberry-dacplus": AudioHat("HiFiBerry DAC+ / DAC+ Pro / Amp2", _I2S | _I2C),
    "hifiberry-miniamp": AudioHat(
        "HiFiBerry MiniAmp", _I2S | {16: "amplifier MUTE", 26: "amplifier SHUTDOWN"}
    ),
    "rpi-dacplus": AudioHat("Raspberry Pi (IQaudio) DAC+ / DAC Pro", _I2S | _I2C),
    "rpi-digiampplus": AudioHat(
        "Raspberry Pi (IQaudio) DigiAMP+", _I2S | _I2C | {22: "amplifier mute"}
    ),
    "pimoroni-phat-dac": AudioHat("Pimoroni pHAT DAC", dict(_I2S)),
    "adafruit-speaker-bonnet": AudioHat("Adafruit I2S 3W Stereo Speaker Bonnet", dict(_I2S)),
}


@cache
def header() -> dict[int, str]:
    """Every physical pin 1-40 of the header and its name: ``GPIO17``, ``GND``, ``3V3``, ``5V``."""
    pins = pi_info(REFERENCE_REVISION).headers["J8"].pins
    return {number: info.name for number, info in sorted(pins.items())}


def gpio_number(name: str) -> int | None:
    """The BCM number in a header pin name (``"GPIO17"`` -> 17), None for power and ground."""
    return int(name[4:]) if name.startswith("GPIO") else None


@cache
def _bcm_to_physical() -> dict[int, int]:
    return {
        bcm: number for number, name in header().items() if (bcm := gpio_number(name)) is not None
    }


def header_gpios() -> tuple[int, ...]:
    """The BCM numbers that appear on the header, in ascending order."""
    return tuple(sorted(_bcm_to_physical()))


def physical_pin(bcm: int) -> int:
    """The physical header pin (1-40) of BCM GPIO ``bcm``; ValueError if it is not on the header."""
    try:
        return _bcm_to_physical()[bcm]
    except KeyError:
        raise ValueError(
            f"GPIO{bcm} is not on the 40-pin header (valid: GPIO0 to GPIO27)"
        ) from None


def pins_named(name: str) -> tuple[int, ...]:
    """The physical pins called ``name`` (``"GND"``, ``"3V3"``, ``"5V"``), in ascending order."""
    return tuple(number for number, pin in header().items() if pin == name)


def header_row(physical: int) -> int:
    """The row (1-20) of a physical pin; pins 1 and 2 are row 1."""
    return (physical + 1) // 2


def nearest_pin(physical: int, name: str, avoid: Iterable[int] = ()) -> int:
    """The pin called ``name`` closest to ``physical``, preferring pins not in ``avoid``.

    Closeness is the row distance on the header; a tie goes to the lower pin number.
    """
    avoided = set(avoid)
    candidates = pins_named(name)
    free = [pin for pin in candidates if pin not in avoided] or list(candidates)
    return min(free, key=lambda pin: (abs(header_row(pin) - header_row(physical)), pin))


def boot_gpio_line(bcm: int, drive_high: bool) -> str:
    """The ``config.txt`` line that makes GPIO ``bcm`` an output at a fixed level from boot."""
    return f"gpio={bcm}=op,{'dh' if drive_high else 'dl'}"


def pin_clashes(bcm: int, interfaces: Iterable[str], audio_hat: str | None) -> list[str]:
    """Human messages for every reason GPIO ``bcm`` is not free; empty when it is free.

    ``interfaces`` are the enabled entries of :data:`INTERFACES`; ``audio_hat`` is a key of
    :data:`KNOWN_AUDIO_HATS` or None. Unknown names raise ValueError.
    """
    enabled = list(interfaces)
    unknown = [name for name in enabled if name not in INTERFACE_PINS]
    if unknown:
        raise ValueError(f"unknown interface {unknown[0]!r}; expected one of {INTERFACES}")
    if audio_hat is not None and audio_hat not in KNOWN_AUDIO_HATS:
        raise ValueError(
            f"unknown audio HAT {audio_hat!r}; expected one of {sorted(KNOWN_AUDIO_HATS)}"
        )
    problems = []
    if bcm in RESERVED_PINS:
        problems.append(f"GPIO{bcm} is {RESERVED_PINS[bcm]}, reserved for add-on boards")
    for name in INTERFACES:
        if name in enabled and bcm in INTERFACE_PINS[name]:
            problems.append(f"GPIO{bcm} is {INTERFACE_PINS[name][bcm]} ({name} is enabled)")
    if audio_hat is not None:
        hat = KNOWN_AUDIO_HATS[audio_hat]
        if bcm in hat.pins:
            problems.append(f"GPIO{bcm} is {hat.pins[bcm]} of the {hat.title} ({audio_hat})")
    return problems

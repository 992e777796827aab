"""Header facts and pin clash detection."""

from __future__ import annotations

import pytest
from gpiozero import pi_info

from party_button.gpio.pinout import (
    INTERFACE_PINS,
    INTERFACES,
    KNOWN_AUDIO_HATS,
    boot_gpio_line,
    header,
    header_gpios,
    nearest_pin,
    physical_pin,
    pin_clashes,
    pins_named,
)


@pytest.mark.parametrize(
    ("bcm", "physical"),
    [
        (2, 3),
        (3, 5),
        (4, 7),
        (5, 29),
        (6, 31),
        (12, 32),
        (13, 33),
        (14, 8),
        (16, 36),
        (17, 11),
        (18, 12),
        (21, 40),
        (26, 37),
        (27, 13),
    ],
)
def test_physical_pin_of_known_gpios(bcm: int, physical: int) -> None:
    assert physical_pin(bcm) == physical


def test_every_header_gpio_maps_back() -> None:
    assert header_gpios() == tuple(range(28))
    for bcm in header_gpios():
        assert header()[physical_pin(bcm)] == f"GPIO{bcm}"


def test_gpio_off_the_header_is_rejected() -> None:
    with pytest.raises(ValueError, match="GPIO28 is not on the 40-pin header"):
        physical_pin(28)


def test_power_and_ground_pins() -> None:
    assert len(header()) == 40
    assert pins_named("GND") == (6, 9, 14, 20, 25, 30, 34, 39)
    assert pins_named("3V3") == (1, 17)
    assert pins_named("5V") == (2, 4)


@pytest.mark.parametrize("revision", ["c03111", "a02082", "d04170"])  # Pi 4B, 3B, 5B
def test_header_is_the_same_on_other_boards(revision: str) -> None:
    pins = pi_info(revision).headers["J8"].pins
    assert {number: info.name for number, info in pins.items()} == header()


def test_interface_pins_agree_with_gpiozero() -> None:
    pins = pi_info("c03111").headers["J8"].pins
    for interface in INTERFACES:
        for bcm in INTERFACE_PINS[interface]:
            assert interface in pins[physical_pin(bcm)].interfaces, (interface, bcm)
    for bcm in (18, 19, 20, 21):  # I2S is the PCM function in gpiozero's data
        assert "pcm" in pins[physical_pin(bcm)].interfaces


def test_audio_hats_all_use_i2s() -> None:
    for key, hat in KNOWN_AUDIO_HATS.items():
        assert {18, 19, 20, 21} <= set(hat.pins), key


@pytest.mark.parametrize(
    ("bcm", "interfaces", "expected"),
    [
        (2, ["i2c"], "GPIO2 is I2C1 SDA (i2c is enabled)"),
        (3, ["i2c", "spi"], "GPIO3 is I2C1 SCL (i2c is enabled)"),
        (9, ["spi"], "GPIO9 is SPI0 MISO (spi is enabled)"),
        (7, ["spi"], "GPIO7 is SPI0 CE1 (spi is enabled)"),
        (14, ["uart"], "GPIO14 is UART TXD (uart is enabled)"),
        (15, ["uart"], "GPIO15 is UART RXD (uart is enabled)"),
    ],
)
def test_enabled_interface_clashes(bcm: int, interfaces: list[str], expected: str) -> None:
    assert pin_clashes(bcm, interfaces, None) == [expected]


def test_disabled_interfaces_leave_their_pins_free() -> None:
    for bcm in (2, 3, 7, 8, 9, 10, 11, 14, 15):
        assert pin_clashes(bcm, [], None) == []


def test_audio_hat_clashes() -> None:
    assert pin_clashes(18, [], "hifiberry-dac") == [
        "GPIO18 is I2S BCLK of the HiFiBerry DAC+ Light / DAC+ Zero (hifiberry-dac)"
    ]
    assert pin_clashes(16, [], "hifiberry-miniamp") == [
        "GPIO16 is amplifier MUTE of the HiFiBerry MiniAmp (hifiberry-miniamp)"
    ]
    assert pin_clashes(16, [], "hifiberry-dac") == []
    # A codec board needs I2C even when the config does not enable it for other devices.
    assert pin_clashes(2, [], "rpi-dacplus")[0].startswith("GPIO2 is I2C SDA (codec control)")
    assert pin_clashes(22, [], "rpi-digiampplus") == [
        "GPIO22 is amplifier mute of the Raspberry Pi (IQaudio) DigiAMP+ (rpi-digiampplus)"
    ]


def test_several_reasons_are_all_reported() -> None:
    problems = pin_clashes(2, ["i2c"], "hifiberry-dacplus")
    assert len(problems) == 2
    assert "i2c is enabled" in problems[0]
    assert "hifiberry-dacplus" in problems[1]


def test_eeprom_pins_are_always_reserved() -> None:
    assert pin_clashes(0, [], None) == [
        "GPIO0 is ID_SD (HAT ID EEPROM), reserved for add-on boards"
    ]


def test_free_pins_of_the_shipped_layout() -> None:
    for bcm in (17, 12, 5, 6, 13, 16):
        assert pin_clashes(bcm, INTERFACES, "hifiberry-dacplus") == []


def test_unknown_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown interface 'i2s'"):
        pin_clashes(4, ["i2s"], None)
    with pytest.raises(ValueError, match="unknown audio HAT 'boombox'"):
        pin_clashes(4, [], "boombox")


def test_nearest_ground_and_supply() -> None:
    assert nearest_pin(11, "GND") == 9
    assert nearest_pin(32, "GND") == 30
    assert nearest_pin(11, "GND", avoid=[9]) == 14
    assert nearest_pin(29, "3V3") == 17
    assert nearest_pin(11, "GND", avoid=pins_named("GND")) == 9  # all taken: share one


def test_boot_lines() -> None:
    assert boot_gpio_line(5, drive_high=True) == "gpio=5=op,dh"
    assert boot_gpio_line(27, drive_high=False) == "gpio=27=op,dl"

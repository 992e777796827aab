"""Choosing the pin factory per board, and claiming pins."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from party_button.config.schema import Config
from party_button.errors import HardwareError
from party_button.gpio.board import (
    board_model,
    choose_factory_name,
    is_raspberry_pi,
    make_pin_factory,
)
from party_button.gpio.devices import PartyHardware


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("Raspberry Pi 5 Model B Rev 1.0", "lgpio"),
        ("Raspberry Pi Compute Module 5 Rev 1.0", "lgpio"),
        ("Raspberry Pi 4 Model B Rev 1.4", "rpigpio"),
        ("Raspberry Pi 3 Model B Plus Rev 1.3", "rpigpio"),
    ],
)
def test_auto_picks_the_factory_per_board(model: str, expected: str) -> None:
    assert choose_factory_name("auto", model, environ={}) == expected


def test_the_config_overrides_the_board() -> None:
    assert choose_factory_name("lgpio", "Raspberry Pi 4 Model B Rev 1.4") == "lgpio"
    assert choose_factory_name("mock", None) == "mock"


def test_auto_off_a_pi_is_refused() -> None:
    with pytest.raises(HardwareError, match="this is not a Raspberry Pi"):
        choose_factory_name("auto", "Generic x86 PC", environ={})


@pytest.mark.parametrize(
    ("named", "model", "expected"),
    [
        ("mock", "Generic x86 PC", "mock"),
        ("RPiGPIO", "Raspberry Pi 5 Model B Rev 1.0", "rpigpio"),
        ("lgpio", None, "lgpio"),
    ],
)
def test_gpiozero_pin_factory_names_the_factory_when_the_config_says_auto(
    named: str, model: str | None, expected: str
) -> None:
    environ = {"GPIOZERO_PIN_FACTORY": named}
    assert choose_factory_name("auto", model, environ=environ) == expected


def test_the_config_wins_over_gpiozero_pin_factory() -> None:
    assert choose_factory_name("lgpio", None, environ={"GPIOZERO_PIN_FACTORY": "mock"}) == "lgpio"


def test_a_gpiozero_pin_factory_that_party_button_cannot_use_is_a_clear_error() -> None:
    with pytest.raises(HardwareError, match=r"GPIOZERO_PIN_FACTORY='pigpio' is not a pin factory"):
        choose_factory_name(
            "auto", "Raspberry Pi 4 Model B Rev 1.4", {"GPIOZERO_PIN_FACTORY": "pigpio"}
        )


@pytest.mark.skipif(importlib.util.find_spec("lgpio") is not None, reason="lgpio is installed")
def test_missing_gpio_library_names_the_install_command() -> None:
    with pytest.raises(HardwareError, match=r"pip install 'party-button\[pi\]'"):
        make_pin_factory("lgpio", "Raspberry Pi 5 Model B Rev 1.0")


def test_board_model_reads_the_device_tree(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\0")
    assert board_model(model) == "Raspberry Pi 4 Model B Rev 1.4"
    assert board_model(tmp_path / "absent") is None
    assert is_raspberry_pi(board_model(model)) and not is_raspberry_pi(None)


def test_relays_are_claimed_at_their_off_level_and_released_off(
    make_config: Callable[..., Config], mock_factory: MockFactory
) -> None:
    config = make_config()
    with PartyHardware(
        mock_factory, config.button, config.relays, config.status_led, on_edge=lambda _: None
    ) as hardware:
        assert mock_factory.pin(5).state == 1 and mock_factory.pin(6).state == 0
        hardware.set_relay("lights", True)
        hardware.set_relay("beacon", True)
        assert hardware.relay_states() == {"lights": True, "beacon": True}
    assert mock_factory.pin(5).state == 1 and mock_factory.pin(6).state == 0
    hardware.close()  # a second close is harmless


def test_a_pin_in_use_is_a_clear_error(
    make_config: Callable[..., Config], mock_factory: MockFactory
) -> None:
    config = make_config()
    from gpiozero import LED

    with LED(6, pin_factory=mock_factory), pytest.raises(HardwareError, match="GPIO6"):
        PartyHardware(mock_factory, config.button, config.relays, None, on_edge=lambda _: None)
    assert mock_factory.pin(5).state == 1  # the relay claimed before the failure is off again


@pytest.mark.skipif(not is_raspberry_pi(board_model()), reason="needs a Raspberry Pi")
def test_the_real_pin_factory_starts_on_this_pi() -> None:
    factory = make_pin_factory("auto")
    try:
        assert type(factory).__name__ in ("LGPIOFactory", "RPiGPIOFactory")
    finally:
        factory.close()

"""Wiring table, clash warnings, the SVG diagram and the ``wiring`` command."""

from __future__ import annotations

import argparse
import functools
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from party_button.cli import wiring as wiring_command
from party_button.cli.common import call
from party_button.config.schema import BoardConfig, ButtonConfig, RelayConfig, StatusLedConfig
from party_button.maker.wiring import (
    clash_warnings,
    render_markdown,
    render_svg,
    render_table,
    wiring_rows,
)

SVG = "{http://www.w3.org/2000/svg}"


# The config's own sections, with the shipped layout's pins as defaults.
Board = BoardConfig
Button = functools.partial(ButtonConfig, pin=17)
Led = functools.partial(StatusLedConfig, pin=12)


def Relay(name: str, pin: int, **changes: object) -> RelayConfig:
    return RelayConfig(name, pin, **{"drives": "party lights (230 V lamp)", **changes})


SHIPPED_RELAYS = (
    Relay("lights", 5),
    Relay("beacon", 6, drives="rotating beacon (12 V)"),
    Relay("fog", 13, drives="fog machine"),
    Relay("strobe", 16, drives="strobe"),
)


@dataclass(frozen=True)
class Config:
    """The part of :class:`party_button.config.schema.Config` that the wiring reads."""

    button: Button = field(default_factory=Button)
    status_led: Led | None = field(default_factory=Led)
    relays: tuple[Relay, ...] = SHIPPED_RELAYS
    board: Board = field(default_factory=Board)
    path: Path = Path("/etc/party-button/config.yaml")


def by_what(config: Config) -> dict[str, object]:
    return {row.what: row for row in wiring_rows(config)}


def test_rows_of_the_shipped_layout() -> None:
    rows = by_what(Config())
    pins = {what: (row.gpio, row.physical) for what, row in rows.items()}
    assert pins == {
        "Button switch NO": (17, 11),
        "Button switch COM": (None, 9),
        "Lamp driver IN": (12, 32),
        "Lamp driver GND": (None, 30),
        "Relay board GND": (None, 34),
        "Relay board IN1 (lights)": (5, 29),
        "Relay board IN2 (beacon)": (6, 31),
        "Relay board IN3 (fog)": (13, 33),
        "Relay board IN4 (strobe)": (16, 36),
        "Relay board VCC": (None, 17),
        "Relay board JD-VCC": (None, None),
        "Relay board JD-GND": (None, None),
    }
    assert rows["Relay board JD-VCC"].other_end == ("5 V relay supply", "+")


def test_active_low_relays_are_explained() -> None:
    row = by_what(Config())["Relay board IN1 (lights)"]
    assert "active-low: LOW = relay on, HIGH = off" in row.notes
    assert "boot line gpio=5=op,dh" in row.notes
    assert "party lights (230 V lamp)" in row.notes
    assert "3.3 V" in by_what(Config())["Relay board VCC"].notes


def test_active_high_board_has_no_opto_supply_rows() -> None:
    rows = by_what(Config(relays=(Relay("lights", 27, active_high=True),)))
    assert "active-high: HIGH = relay on, LOW = off" in rows["Relay board IN1 (lights)"].notes
    assert "gpio=27=op,dl" in rows["Relay board IN1 (lights)"].notes
    assert rows["Relay board VCC"].physical in (2, 4)  # 5 V
    assert "Relay board JD-VCC" not in rows


def test_pull_down_button_goes_to_3v3() -> None:
    rows = by_what(Config(button=Button(pin=4, pull_up=False)))
    assert rows["Button switch NO"].physical == 7
    assert "pressed = HIGH" in rows["Button switch NO"].notes
    assert rows["Button switch COM"].physical == 1
    assert rows["Button switch COM"].role == "3v3"


def test_optional_parts_leave_no_rows() -> None:
    rows = by_what(Config(status_led=None, relays=()))
    assert sorted(rows) == ["Button switch COM", "Button switch NO"]


def test_active_low_status_led() -> None:
    rows = by_what(Config(status_led=Led(pin=26, active_high=False)))
    assert rows["Lamp driver IN"].physical == 37
    assert "active-low: LOW = lit" in rows["Lamp driver IN"].notes


def test_pin_off_the_header_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="GPIO30 is not on the 40-pin header"):
        wiring_rows(Config(button=Button(pin=30)))


def test_no_clashes_in_the_shipped_layout() -> None:
    assert clash_warnings(Config()) == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            Config(button=Button(pin=3), board=Board(interfaces=("i2c",))),
            "button: GPIO3 is I2C1 SCL (i2c is enabled)",
        ),
        (
            Config(status_led=Led(pin=10), board=Board(interfaces=("spi",))),
            "status LED: GPIO10 is SPI0 MOSI (spi is enabled)",
        ),
        (
            Config(relays=(Relay("fog", 15),), board=Board(interfaces=("uart", "i2c"))),
            "relay 'fog': GPIO15 is UART RXD (uart is enabled)",
        ),
        (
            Config(board=Board(audio_hat="hifiberry-miniamp")),
            "relay 'strobe': GPIO16 is amplifier MUTE of the HiFiBerry MiniAmp (hifiberry-miniamp)",
        ),
        (
            Config(relays=(Relay("lights", 21),), board=Board(audio_hat="pimoroni-phat-dac")),
            "relay 'lights': GPIO21 is I2S DOUT of the Pimoroni pHAT DAC (pimoroni-phat-dac)",
        ),
    ],
)
def test_clash_warnings(config: Config, expected: str) -> None:
    assert clash_warnings(config) == [expected]


def test_table_has_a_line_per_row_and_aligned_columns() -> None:
    rows = wiring_rows(Config())
    table = render_table(rows).splitlines()
    assert table[0].startswith("| Wire ")
    assert set(table[1]) == {"|", "-"}
    assert len(table) == 2 + len(rows)
    assert len({len(line) for line in table}) == 1
    assert "| GPIO5  | 29 (GPIO5) " in table[table.index(next(t for t in table if "IN1" in t))]
    assert any("| 5 V relay supply + |" in line for line in table)


def test_markdown_lists_clashes_only_when_there_are_some() -> None:
    assert "Pin clashes" not in render_markdown(Config())
    clashing = render_markdown(Config(board=Board(audio_hat="hifiberry-miniamp")))
    assert "## Pin clashes" in clashing
    assert "- relay 'strobe': GPIO16 is amplifier MUTE" in clashing
    assert "Audio: HiFiBerry MiniAmp stacked on the header." in clashing


def svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg.encode())
    assert root.tag == f"{SVG}svg"
    return ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def test_svg_is_well_formed_and_names_every_relay_and_pin() -> None:
    texts = svg_texts(render_svg(Config()))
    for relay in SHIPPED_RELAYS:
        assert relay.name in texts
    for label in (
        "GPIO5 (29)",
        "GPIO6 (31)",
        "GPIO13 (33)",
        "GPIO16 (36)",
        "GPIO17 (11)",
        "GPIO12 (32)",
        "GND (9)",
        "3V3 (17)",
        "IN1",
        "IN4",
        "JD-VCC",
        "Relay board",
    ):
        assert label in texts, label
    assert sum(text.isdigit() for text in texts) == 40  # every header pin is numbered


def test_svg_escapes_names() -> None:
    config = Config(relays=(Relay("fog & <smoke>", 5),))
    assert "fog & <smoke>" in svg_texts(render_svg(config))


def test_svg_marks_pins_taken_by_enabled_interfaces() -> None:
    def reserved_marks(config: Config) -> int:
        return render_svg(config).count("stroke='#ff4fd8'")

    # GPIO0/1 (HAT EEPROM) plus the legend's sample are always there.
    assert reserved_marks(Config()) == 3
    assert reserved_marks(Config(board=Board(interfaces=("spi",)))) == 3 + 5
    assert reserved_marks(Config(board=Board(audio_hat="hifiberry-dac"))) == 3 + 4


def test_svg_is_deterministic_and_independent_of_the_config_folder() -> None:
    first = render_svg(Config())
    assert render_svg(Config()) == first
    assert render_svg(Config(path=Path("config/config.yaml"))) == first
    assert render_svg(Config(relays=SHIPPED_RELAYS[:2])) != first


def run_wiring(argv: list[str], config: Any) -> int:
    parser = argparse.ArgumentParser()
    wiring_command.add_arguments(parser)
    args = parser.parse_args(argv)
    args.run = lambda parsed: wiring_command.show(parsed, config)
    return call(args)


def test_command_prints_table_and_writes_svg(tmp_path: Path, capsys) -> None:
    target = tmp_path / "wiring.svg"
    assert run_wiring(["--svg", str(target)], Config()) == 0
    out, err = capsys.readouterr()
    assert out == render_markdown(Config())
    assert err == ""
    assert target.read_text(encoding="utf-8") == render_svg(Config())


def test_command_warns_about_clashes_on_stderr(capsys) -> None:
    config = Config(board=Board(audio_hat="hifiberry-miniamp"))
    assert run_wiring([], config) == 0
    err = capsys.readouterr().err
    assert err == (
        "party-button wiring: warning: relay 'strobe': GPIO16 is amplifier MUTE of the "
        "HiFiBerry MiniAmp (hifiberry-miniamp)\n"
    )


def test_command_unwritable_svg_is_one_line_error(tmp_path: Path, capsys) -> None:
    target = tmp_path / "missing-folder" / "wiring.svg"
    assert run_wiring(["--svg", str(target)], Config()) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"party-button wiring: cannot write {target}: ")


def test_command_pin_off_the_header_is_one_line_error(capsys) -> None:
    config = replace(Config(), relays=(Relay("lights", 40),))
    assert run_wiring([], config) == 1
    err = capsys.readouterr().err
    assert err == (
        "party-button wiring: /etc/party-button/config.yaml: GPIO40 is not on the 40-pin "
        "header (valid: GPIO0 to GPIO27)\n"
    )

"""``party-button boot-config``: config.txt lines that hold every output off from power-on."""

from __future__ import annotations

from party_button.cli.main import main
from party_button.config.location import SHIPPED_CONFIG
from party_button.config.schema import load_config
from party_button.maker.boot_config import boot_config_lines


def gpio_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("gpio=")]


def test_each_output_is_held_at_its_off_level(make_config):
    config = make_config()
    assert gpio_lines(boot_config_lines(config)) == [
        "gpio=5=op,dh",  # lights: active-low, off = high
        "gpio=6=op,dl",  # beacon: active-high, off = low
        "gpio=12=op,dl",  # status LED: active-high
        "gpio=17=ip,pu",  # button with its pull-up
    ]


def test_board_pin_names_become_gpio_numbers(make_config):
    config = make_config(
        {
            "relays": [{"name": "lights", "pin": "BOARD29"}],
            "status_led": None,
            "button": {"pin": "BOARD11", "pull_up": False},
        }
    )
    assert gpio_lines(boot_config_lines(config)) == ["gpio=5=op,dh", "gpio=17=ip,pd"]


def test_shipped_config_holds_its_active_low_board_off():
    lines = boot_config_lines(load_config(SHIPPED_CONFIG))
    assert [line for line in gpio_lines(lines) if line.endswith(",dh")] == [
        "gpio=5=op,dh",
        "gpio=6=op,dh",
        "gpio=13=op,dh",
        "gpio=16=op,dh",
    ]
    assert "[all]" in lines
    assert all(line.startswith(("#", "[", "gpio=")) for line in lines)


def test_cli_prints_the_lines(make_config, capsys):
    config = make_config()
    assert main(["boot-config", "--config", str(config.path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == boot_config_lines(config)


def test_cli_reports_a_bad_config(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text("button: {}\nrelays: []\n")
    assert main(["boot-config", "--config", str(path)]) == 1
    assert f"{path}:1: button.pin: is required" in capsys.readouterr().err

"""The ``web:`` section of the config: defaults, and FILE:LINE problems for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from party_button.config.schema import load_config
from party_button.config.web import WebConfig, parse_listen
from party_button.errors import ConfigError
from party_button.testing import MOCK_CONFIG as BASE_CONFIG
from party_button.testing.web import refused_web
from party_button.web.page_config import PageConfig, load_page_config


def config_with(tmp_path: Path, web_lines: str):
    """Load BASE_CONFIG with ``web_lines`` (YAML text) appended at the end."""
    (tmp_path / "songs").mkdir(exist_ok=True)
    path = tmp_path / "config.yaml"
    base = yaml.safe_dump(BASE_CONFIG, sort_keys=False)
    path.write_text(base + web_lines)
    return load_config(path), base.count("\n")


def problems(tmp_path: Path, web_lines: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_with(tmp_path, web_lines)
    return caught.value.problems


def test_without_a_web_section_the_defaults_hold(tmp_path):
    config, _lines = config_with(tmp_path, "")
    assert config.web == WebConfig()
    assert (config.web.enabled, config.web.listen) == (False, (None, 8080))


def test_a_good_section(tmp_path):
    config, _lines = config_with(
        tmp_path,
        'web:\n  enabled: true\n  listen: "127.0.0.1:9000"\n  pin: "0420"\n'
        "  token: abcdefghijklmnop-1234\n  max_upload_mb: 50\n",
    )
    assert config.web.listen.host == "127.0.0.1" and config.web.listen.port == 9000
    assert config.web.pin == "0420" and config.web.token == "abcdefghijklmnop-1234"
    assert config.web.max_upload_mb == 50


def test_every_problem_is_named_with_its_line(tmp_path):
    found = problems(
        tmp_path,
        "web:\n"
        "  enabled: yes please\n"
        "  listen: localhost:http\n"
        "  pin: 0420\n"
        "  token: short\n"
        "  max_upload_mb: 0\n"
        "  pni: '1234'\n",
    )
    path = tmp_path / "config.yaml"
    first = yaml.safe_dump(BASE_CONFIG, sort_keys=False).count("\n") + 1
    assert found == [
        f"{path}:{first + 1}: web.enabled: expected true or false, got str 'yes please'",
        f"{path}:{first + 2}: web.listen: expected HOST:PORT such as 0.0.0.0:8080 or :8080: "
        "the port must be a number from 0 to 65535, got 'http'",
        f'{path}:{first + 3}: web.pin: write the PIN in quotes (pin: "0420"): YAML reads a bare '
        "number and loses its leading zeros",
        f"{path}:{first + 4}: web.token: expected 16 to 256 characters, got 5",
        f"{path}:{first + 5}: web.max_upload_mb: must be at least 1, got 0",
        f"{path}:{first + 6}: web.pni: unknown key (did you mean 'pin'?)",
    ]


def test_enabled_without_a_pin_or_token_is_refused(tmp_path):
    [problem] = problems(tmp_path, "web:\n  enabled: true\n")
    assert problem.endswith(
        "web.enabled: needs a pin or a token: without either nobody could use the page"
    )


@pytest.mark.parametrize(
    ("pin", "message"),
    [
        ('"12a4"', "expected 4 to 12 digits in quotes"),
        ('"123"', "expected 4 to 12 digits, got 3"),
        # fullwidth digits: digits to Python, not to a phone keypad
        ('"\uff11\uff12\uff13\uff14"', "expected 4 to 12 digits in quotes"),
        ("[1, 2]", "expected a quoted string, got a list"),
    ],
)
def test_a_pin_is_4_to_12_plain_digits(tmp_path, pin, message):
    [problem] = problems(tmp_path, f"web:\n  pin: {pin}\n")
    assert problem.endswith(f"web.pin: {message}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":8080", (None, 8080)),
        ("8080", (None, 8080)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:8081", ("::1", 8081)),
        ("party.local:8080", ("party.local", 8080)),
    ],
)
def test_listen_addresses(text, expected):
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["1.2.3.4:99999", "[nonsense]:80", "a b:80", ":", "host:-1"])
def test_bad_listen_addresses(text):
    with pytest.raises(ValueError):
        parse_listen(text)


def test_the_service_refuses_a_config_the_daemon_refuses_naming_each_line(make_config):
    """The whole config is checked (in a child process), not only the web section."""
    config = make_config({"web": {"pin": "2468"}})
    lines = config.path.read_text().splitlines()
    config.path.write_text("\n".join([*lines, "relayz: []", "party: {cooldown: -1}"]) + "\n")
    result = refused_web(config.path, "127.0.0.1:0")
    assert result.returncode == 1, result.stderr
    assert f"{config.path}:{len(lines) + 1}: relayz: unknown key" in result.stderr
    assert "party.cooldown" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_page_reads_the_same_settings_as_the_whole_config(make_config):
    config = make_config({"web": {"pin": "2468"}, "sync": {"enabled": True, "room": "hall"}})
    assert load_page_config(config.path) == PageConfig.of(config)

"""The command line's help stands alone: version, -v anywhere, defaults, environment, examples,
warnings; and ``party-button config`` shows the effective configuration, secrets masked."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest
import yaml

from party_button import __version__
from party_button.cli import main as cli
from party_button.config.effective import MASK
from party_button.config.schema import Config


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"party-button {__version__}\n"


@pytest.mark.parametrize(
    ("argv", "verbose"),
    [
        (["status"], False),
        (["-v", "status"], True),
        (["status", "-v"], True),
        (["check-config", "--verbose", "x.yaml"], True),
    ],
)
def test_verbose_is_accepted_before_and_after_the_command(argv: list[str], verbose: bool) -> None:
    assert cli.build_parser().parse_args(argv).verbose is verbose


def test_every_command_help_gives_an_example_and_where_its_config_and_socket_come_from() -> None:
    for name, parser in subcommands().items():
        text = parser.format_help()
        options = {option for action in parser._actions for option in action.option_strings}
        assert f"example:\n  party-button {name}" in text, name
        assert "exit codes: 0 ok" in text, name
        assert ("$PARTY_BUTTON_CONFIG" in text) == ("--config" in options), name
        assert ("$PARTY_BUTTON_SOCKET" in text) == ("--socket" in options), name


@pytest.mark.parametrize(
    ("command", "warned"),
    [
        ("test-relays", "mains loads"),
        ("relays-off", "mains loads"),
        ("run", "mains loads"),
        ("mqtt", "mqtt.enabled: true"),
        ("web", "web.pin or web.token"),
    ],
)
def test_commands_that_switch_loads_or_need_a_setting_warn(command: str, warned: str) -> None:
    text = " ".join(subcommands()[command].format_help().split())
    assert "warning: " in text and warned in text


def test_every_example_in_the_help_parses() -> None:
    parser = cli.build_parser()
    for name, sub in subcommands().items():
        example = sub.epilog.split("example:\n", 1)[1].split("\n\n", 1)[0]
        for line in example.splitlines():
            args = parser.parse_args(line.split()[1:])
            assert args.command == name, line


def test_config_shows_defaults_and_masks_the_secrets(
    make_config: Callable[..., Config],
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret_pin, secret_token = "908172", "a-token-nobody-may-see-0123456789"
    config = make_config({"web": {"pin": secret_pin, "token": secret_token}})
    assert cli.main(["config", "--config", str(config.path)]) == 0
    out = capsys.readouterr().out
    assert secret_pin not in out and secret_token not in out
    shown = yaml.safe_load(out)
    assert shown["web"]["pin"] == shown["web"]["token"] == MASK
    # defaults that the file does not write are filled in
    assert shown["web"]["session_hours"] == config.web.session_hours
    assert shown["audio"]["fade_out"] == config.audio.fade_out
    assert shown["songs"]["folders"] == [str(folder) for folder in config.songs.folders]
    assert set(shown["shows"]) == set(config.lights.shows)


def test_config_without_secrets_shows_none_as_null(
    make_config: Callable[..., Config], capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config({"web": None})
    assert cli.main(["config", "--config", str(config.path)]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["web"]["pin"] is None and shown["web"]["token"] is None


def test_check_config_counts_one_relay_in_the_singular(
    make_config: Callable[..., Config], capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config({"relays": [{"name": "lamp", "pin": 5}]})
    assert cli.main(["check-config", str(config.path)]) == 0
    assert capsys.readouterr().out == f"{config.path}: OK (1 relay)\n"

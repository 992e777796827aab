"""The rooms page: its config fragments load, its command lines parse, its error is real."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from party_button.cli.main import build_parser
from party_button.config.schema import load_config
from party_button.testing.config import GOOD, problems_of

PAGE = Path(__file__).resolve().parents[2] / "docs" / "howto" / "rooms.md"
TEXT = PAGE.read_text()
FRAGMENTS = re.findall(r"```yaml\n(.*?)```", TEXT, re.DOTALL)
COMMANDS = sorted(set(re.findall(r"`(party-button [^`]+)`", TEXT)))


@pytest.mark.parametrize("fragment", FRAGMENTS)
def test_each_config_fragment_loads(tmp_path: Path, song_folder: Path, fragment: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD + fragment)
    assert load_config(path).sync.enabled


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_line_parses(command: str) -> None:
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert args.run is not None


def test_the_error_shown_is_the_one_check_config_gives(tmp_path: Path, song_folder: Path) -> None:
    shown = re.search(r"`config\.yaml:\d+: (sync\.leader: [^`]+)`", TEXT.replace("\n", " "))
    assert shown is not None
    fragment = FRAGMENTS[1].replace("  leader: party-pi.lan\n", "")
    problems = problems_of(tmp_path, GOOD + fragment)
    assert [problem.split(": ", 1)[1] for problem in problems] == [" ".join(shown[1].split())]

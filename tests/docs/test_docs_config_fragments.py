"""Every YAML fragment the docs show as config loads with the real loader, merged into the
shipped config; a fragment that is meant to be wrong says so on its first line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from party_button.config.schema import load_config
from party_button.errors import ConfigError
from tests.docs.markdown_pages import SHIPPED, Block, blocks, pages

WRONG = "# wrong:"  # a deliberate error: its problems are shown, not loaded
OTHER_FILE = "not party-button's config"  # YAML of another program (Home Assistant's)
# A path that only the Raspberry Pi has (a password file, the installed songs): the loader
# may say it does not exist here, and nothing else.
ON_THE_PI = re.compile(
    r"(file|folder) '(/etc/party-button|/var/lib/party-button)/[^']*' does not exist$"
)


def fragments() -> list[Block]:
    return [
        block
        for page in pages()
        for block in blocks(page, "yaml", "yml")
        if OTHER_FILE not in block.text.partition("\n")[0]
    ]


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in, mapping by mapping."""
    result = dict(base)
    for key, value in changes.items():
        both = isinstance(value, dict) and isinstance(result.get(key), dict)
        result[key] = merged(result[key], value) if both else value
    return result


def shipped_with_absolute_paths() -> dict[str, Any]:
    """The shipped config as data, its relative paths made absolute (it moves to tmp)."""
    data = yaml.safe_load(SHIPPED.read_text())
    base = SHIPPED.parent
    data["songs"]["folders"] = [
        str((base / folder).resolve()) for folder in data["songs"]["folders"]
    ]
    for key in ("intro_sound", "fallback_sound"):
        if data["party"].get(key):
            data["party"][key] = str((base / data["party"][key]).resolve())
    return data


def problems_of(fragment: str, folder: Path) -> list[str]:
    """What the loader says against the shipped config with ``fragment`` merged in."""
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(merged(shipped_with_absolute_paths(), yaml.safe_load(fragment))))
    try:
        load_config(path)
    except ConfigError as error:
        return [problem for problem in error.problems if not ON_THE_PI.search(problem)]
    return []


def test_the_docs_show_config_fragments() -> None:
    assert len(fragments()) >= 2


@pytest.mark.parametrize("block", fragments(), ids=Block.where)
def test_every_config_fragment_loads(block: Block, tmp_path: Path) -> None:
    if block.text.startswith(WRONG):
        assert problems_of(block.text, tmp_path), "a fragment marked wrong loads cleanly"
    else:
        assert problems_of(block.text, tmp_path) == []


def test_a_fragment_with_a_mistake_is_noticed(tmp_path: Path) -> None:
    problems = problems_of(
        "audio:\n  volume: 2.5\nmqtt:\n  password_file: /etc/party-button/pw\n", tmp_path
    )
    assert len(problems) == 2  # the volume, and the password file without a user name
    assert "audio.volume" in problems[0] and "needs mqtt.username" in problems[1]

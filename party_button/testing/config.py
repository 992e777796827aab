"""Config helpers for tests: a small good config, its problems, the command in a process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from party_button.config.schema import load_config
from party_button.errors import ConfigError

# A small valid config: mock pins, one relay, songs in ``songs/`` beside the file.
GOOD = """\
gpio: {pin_factory: mock}
button:
  pin: GPIO17
relays:
  - name: lights
    pin: 5
songs:
  folders: [songs]
"""


def problems_of(tmp_path: Path, text: str) -> list[str]:
    """The problems of a config file holding ``text``, each without its ``FILE:`` prefix."""
    path = tmp_path / "config.yaml"
    path.write_text(text)
    try:
        load_config(path)
    except ConfigError as caught:
        problems = caught.problems
    else:
        raise AssertionError(f"{path} was accepted")
    prefix = f"{path}:"
    assert all(line.startswith(prefix) for line in problems)
    return [line[len(prefix) :] for line in problems]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``party-button ARGS`` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "party_button", *args], capture_output=True, text=True, timeout=60
    )

"""What the web service needs of the config, without the schema or gpiozero in its process.

The web service refuses a config that the daemon refuses, as before: it checks the whole
config (songs, button, pins) before it serves. It does so in a child process
(``python -m party_button.web.page_config PATH``), so that the schema and gpiozero (some
5 MB) leave with the child instead of staying in the service for its whole life. The child
prints, as JSON, the few settings the page needs from beyond the ``web`` and ``sync``
sections, which the service reads itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from party_button.config.sync import SyncConfig, load_sync_config
from party_button.config.web import WebConfig, load_web_config
from party_button.errors import ConfigError

if TYPE_CHECKING:
    from party_button.config.schema import Config

CHECK_SECONDS = 60.0
"""How long the child may take to check the config (a slow Pi under load)."""


@dataclass(frozen=True)
class PageConfig:
    """The settings of the web service: its own section, sync, and what the page shows."""

    path: Path
    web: WebConfig
    sync: SyncConfig
    folders: tuple[Path, ...]  # the songs folders; uploads go to the first
    extensions: tuple[str, ...]
    effect_sounds: tuple[Path, ...]  # sounds the config uses, which cannot be deleted
    hold_time: float  # the button's hold for the panic stop (the page's big button too)

    @classmethod
    def of(cls, config: Config) -> PageConfig:
        """The page's settings of a whole, checked ``config``."""
        return cls(
            config.path,
            config.web,
            config.sync,
            tuple(config.songs.folders),
            tuple(config.songs.extensions),
            tuple(config.effect_sounds),
            config.button.hold_time,
        )

    def beyond_sections(self) -> dict[str, Any]:
        """What the child hands over: the settings from beyond ``web`` and ``sync``."""
        return {
            "folders": [str(folder) for folder in self.folders],
            "extensions": list(self.extensions),
            "effect_sounds": [str(sound) for sound in self.effect_sounds],
            "hold_time": self.hold_time,
        }


def load_page_config(path: Path) -> PageConfig:
    """Check the whole config at ``path`` in a child process and read what the page needs;
    :class:`~party_button.errors.ConfigError` with the child's ``FILE:LINE`` problems."""
    command = [sys.executable, "-P", "-s", "-m", __name__, str(path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=CHECK_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError([f"{path}: the config could not be checked: {exc}"]) from None
    if done.returncode != 0:
        problems = done.stderr.strip().splitlines()
        raise ConfigError(problems or [f"{path}: the config check ended with {done.returncode}"])
    given = json.loads(done.stdout)
    return PageConfig(
        path,
        load_web_config(path),
        load_sync_config(path),
        tuple(Path(folder) for folder in given["folders"]),
        tuple(given["extensions"]),
        tuple(Path(sound) for sound in given["effect_sounds"]),
        float(given["hold_time"]),
    )


def main(argv: list[str]) -> int:
    """The child: check the config ``argv[1]``; print what the page needs (0) or the
    problems, one a line on standard error (1)."""
    from party_button.config.schema import load_config

    try:
        config = load_config(Path(argv[1]))
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 1
    print(json.dumps(PageConfig.of(config).beyond_sections()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

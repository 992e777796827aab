"""The build step that carries the top-level ``config/config.yaml`` and the demo songs into a wheel.

The shipped configuration lives in ``config/``, beside ``songs/``, where an admin reads and copies
it. A wheel carries both inside the package, as ``party_button/config/config.yaml`` and
``party_button/songs/``, so that the config's relative songs paths (``../songs``) hold in an
installed copy too. An editable install reads the checkout's own files instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# Not songs: the demo songs' generator and its ground truth stay in the checkout.
NOT_SONGS = ("make_demo_songs.py", "demo-songs.json", "__pycache__")


class BuildPyWithConfig(build_py):
    """``build_py`` that also copies the shipped config and the demo songs into the package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        package = Path(self.build_lib) / "party_button"
        shutil.copy2(HERE / "config" / "config.yaml", package / "config" / "config.yaml")
        shutil.copytree(
            HERE / "songs",
            package / "songs",
            ignore=shutil.ignore_patterns(*NOT_SONGS),
            dirs_exist_ok=True,
        )


setup(cmdclass={"build_py": BuildPyWithConfig})

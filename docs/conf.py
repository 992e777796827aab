"""Sphinx configuration of the party-button documentation (``make docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from party_button import __version__  # noqa: E402

project = "party-button"
author = "the party-button authors"
copyright = "the party-button authors, MIT licence"
release = version = __version__

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 4
smartquotes = False  # options stay --simulate, not an en dash
# Everything is built offline: no intersphinx, no remote images.
intersphinx_mapping: dict = {}

html_theme = "furo"
html_title = f"party-button {release}"
html_static_path: list[str] = []

# `man party-button` (installed by systemd/install.sh): the command-line reference page.
man_pages = [
    ("reference/cli", "party-button", "the emergency party button", [author], 1),
]
man_show_urls = False
today = f"party-button {release}"  # not the build's date: the committed man page stays current

"""Where the page's files are: package data, served as they are (no build step, no CDN).

The API's OpenAPI 3.1 description is package data too, written by hand next to the code.
"""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
PAGE = STATIC / "index.html"
LOGIN_PAGE = STATIC / "login.html"
OPENAPI = Path(__file__).resolve().parent / "openapi.json"


def page_bytes() -> int:
    """What the page weighs in all: every file a browser loads."""
    return sum(path.stat().st_size for path in STATIC.iterdir() if path.is_file())

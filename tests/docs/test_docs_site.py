"""The documentation builds with warnings as errors, nitpicky, without the network; the
generated reference pages and the man page are current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.docs.markdown_pages import DOCS, REPO

# Sphinx, in a process where every attempt to reach the network raises: the build is offline.
OFFLINE_SPHINX = """
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("the docs build tried to reach the network")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = socket.getaddrinfo = refuse
from sphinx.cmd.build import build_main
sys.exit(build_main(sys.argv[1:]))
"""


def sphinx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", OFFLINE_SPHINX, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_site_builds_offline_with_warnings_as_errors(tmp_path: Path) -> None:
    out = tmp_path / "html"
    result = sphinx("-q", "-W", "-n", "--keep-going", "-b", "html", str(DOCS), str(out))
    assert result.returncode == 0, result.stderr
    # every page of the five folders is in the site (a page left out of the toctrees warns)
    for page in DOCS.glob("*/*.md"):
        if "_build" not in page.parts:
            assert (out / page.relative_to(DOCS)).with_suffix(".html").is_file(), page


def test_a_broken_reference_fails_the_build(tmp_path: Path) -> None:
    source = tmp_path / "docs"
    source.mkdir()
    (source / "conf.py").write_text(
        (DOCS / "conf.py")
        .read_text()
        .replace("Path(__file__).resolve().parent.parent", repr(str(REPO)))
    )
    (source / "index.md").write_text("# Index\n\n[gone](nowhere.md)\n")
    result = sphinx("-q", "-W", "-n", "-b", "html", str(source), str(tmp_path / "out"))
    assert result.returncode != 0 and "nowhere.md" in result.stderr


def test_the_generated_reference_and_the_man_page_are_current() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "docs.generate", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr

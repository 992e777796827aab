"""Every relative link and anchor in README.md, docs/ and hardware/*.md resolves, and every
repository path written in backticks exists."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.docs.markdown_pages import (
    REPO,
    anchors,
    inline_code,
    links,
    pages,
)

# Where a path in backticks names a file of this repository: it starts with one of these.
TOP_LEVEL = (
    "party_button",
    "docs",
    "tests",
    "systemd",
    "hardware",
    "songs",
    "benchmarks",
    "config",
)
_INCLUDE = re.compile(r"```\{include\} (\S+)")


def page_anchors(page: Path) -> frozenset[str]:
    """The anchors of ``page``, or of the file it includes whole."""
    included = _INCLUDE.match(page.read_text())
    return anchors((page.parent / included.group(1)).resolve()) if included else anchors(page)


def broken_links(page: Path) -> list[str]:
    problems = []
    for line, target in links(page):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue  # a web address: not checked offline
        path = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        where = f"{page.name}:{line}: {target}"
        if not path.exists():
            problems.append(f"{where}: {path} does not exist")
        elif parts.fragment and parts.fragment not in page_anchors(path):
            problems.append(f"{where}: no heading #{parts.fragment} in {path.name}")
    return problems


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    assert broken_links(page) == []


def repo_paths(page: Path) -> list[tuple[int, str]]:
    """The backticked spans of ``page`` that name a file or folder of the repository."""
    found = []
    for line, code in inline_code(page):
        path = code.rstrip("/").split(":")[0]
        if (
            path.split("/")[0] in TOP_LEVEL
            and "/" in path
            and re.fullmatch(r"[\w./@-]+", path)
            and not path.startswith("docs/_build")  # what make docs writes
        ):
            found.append((line, path))
    return found


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(REPO)))
def test_every_repository_path_in_backticks_exists(page: Path) -> None:
    missing = [
        f"{page.relative_to(REPO)}:{line}: {path}"
        for line, path in repo_paths(page)
        if not (REPO / path).exists()
    ]
    assert missing == []


def test_the_checks_see_links_anchors_and_paths(tmp_path: Path) -> None:
    """The checks above find what is broken (so that they cannot pass by seeing nothing)."""
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## A part\n\n[ok](#a-part) [gone](#no-such-part) [file](missing.md)\n"
        "[web](https://example.org/x) `party_button/no_such_module.py` `party_button/cli`\n"
    )
    assert [problem.split(": ", 2)[1] for problem in broken_links(page)] == [
        "#no-such-part",
        "missing.md",
    ]
    assert [path for _line, path in repo_paths(page)] == [
        "party_button/no_such_module.py",
        "party_button/cli",
    ]

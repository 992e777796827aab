"""The Markdown pages of the project and what they show: code blocks, links, anchors, paths.

Read with markdown-it (MyST's parser), so that what is a code block, a link or a heading
here is what it is on the site and on GitHub.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
# The shipped config, where the pages say it is.
SHIPPED_NAME = "config/config.yaml"
SHIPPED = REPO / SHIPPED_NAME


def pages() -> list[Path]:
    """README.md, CONTRIBUTING.md, every page of docs/ (not the built site), the hardware guide."""
    docs = [page for page in sorted(DOCS.rglob("*.md")) if "_build" not in page.parts]
    hardware = sorted((REPO / "hardware").glob("*.md"))
    return [REPO / "README.md", REPO / "CONTRIBUTING.md", *docs, *hardware]


@dataclass(frozen=True)
class Block:
    """A fenced code block: its page, first line (1-based), language and text."""

    page: Path
    line: int
    lang: str
    text: str

    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


@cache
def _tokens(page: Path) -> list[Token]:
    return MarkdownIt("commonmark").enable("table").parse(page.read_text())


def blocks(page: Path, *langs: str) -> list[Block]:
    """The fenced blocks of ``page`` in one of ``langs``."""
    return [
        Block(page, token.map[0] + 2 if token.map else 0, token.info.split()[0], token.content)
        for token in _tokens(page)
        if token.type == "fence" and token.info and token.info.split()[0] in langs
    ]


def _inline(page: Path) -> list[tuple[int, Token]]:
    found = []
    for token in _tokens(page):
        if token.type == "inline":
            line = token.map[0] + 1 if token.map else 0
            found.extend((line, child) for child in token.children or [])
    return found


def links(page: Path) -> list[tuple[int, str]]:
    """Every link and image target of ``page`` (``<img src>`` included), with its line."""
    found = []
    for line, child in _inline(page):
        if child.type == "link_open":
            found.append((line, str(child.attrs["href"])))
        elif child.type == "image":
            found.append((line, str(child.attrs["src"])))
    for number, text in enumerate(page.read_text().splitlines(), 1):
        found.extend((number, src) for src in re.findall(r'<img [^>]*src="([^"]+)"', text))
    return found


def inline_code(page: Path) -> list[tuple[int, str]]:
    """Every inline code span of ``page``, with its line."""
    return [(line, child.content) for line, child in _inline(page) if child.type == "code_inline"]


def slug(title: str) -> str:
    """A heading's anchor as GitHub (and MyST) make it."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    """The anchors of ``page``'s headings; a repeated one gets ``-1``, ``-2``... as on GitHub."""
    seen: dict[str, int] = {}
    tokens = _tokens(page)
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            text = "".join(
                child.content
                for child in tokens[index + 1].children or []
                if child.type in ("text", "code_inline")
            )
            base = slug(text)
            count = seen.get(base, 0)
            seen[base] = count + 1
            if count:
                seen[f"{base}-{count}"] = 1
    return frozenset(seen)

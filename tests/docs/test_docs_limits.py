"""The limits page says the limits the code has: each row's value against its constant."""

from __future__ import annotations

import pytest

from party_button.beats.analysis import MAX_ANALYSIS_SECONDS
from party_button.config import yaml_guard
from party_button.control import server
from party_button.media import scan
from party_button.song_file import MAX_SONG_BYTES
from tests.docs.markdown_pages import DOCS

PAGE = DOCS / "reference" / "limits.md"
RULES = DOCS / "reference" / "config-file-rules.md"

# The first cell of a row of the page, and the value the code gives it.
EXPECTED = {
    "songs and clips in all": f"{scan.MAX_FILES:,}",
    "folders walked": f"{scan.MAX_FOLDERS:,}",
    "depth": f"{scan.MAX_DEPTH} folders below a songs folder",
    "size of a song file": f"{MAX_SONG_BYTES // 1024**3} GiB",
    "files that are not songs remembered": f"{scan.MAX_PROBLEMS:,}",
    "problems named in the log per pass": f"{scan.LOGGED_PROBLEMS}",
    "length of a song for the beat analysis": f"{MAX_ANALYSIS_SECONDS // 60} minutes",
    "a command line": f"{server.MAX_REQUEST} bytes",
    "a `follow` line": f"{server.MAX_FOLLOW_REQUEST // 1024} KiB",
    "`follow`": f"one each {server.COMMAND_INTERVALS['follow']:g} s",
    "from connecting to a whole command line": f"{server.REQUEST_TIMEOUT:g} s",
    "to read an answer": f"{server.ANSWER_TIMEOUT:g} s",
    "connections in all": f"{server.MAX_CONNECTIONS}",
    "connections of one client process": f"{server.MAX_PER_PROCESS}",
    "watchers": f"{server.MAX_WATCHERS}",
    "unread watch lines": f"{server.WATCH_BACKLOG // 1024} KiB, besides what the kernel's "
    "socket buffer holds",
    "`press`, `next`": f"one each {server.COMMAND_INTERVALS['press']:g} s"
    if server.COMMAND_INTERVALS["press"] == server.COMMAND_INTERVALS["next"]
    else "?",
    "`reload`": "one each second" if server.COMMAND_INTERVALS["reload"] == 1 else "?",
}


def rows() -> dict[str, str]:
    """The page's table rows: first cell to second."""
    found = {}
    for line in PAGE.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 2:
            found[cells[0]] = cells[1]
    return found


@pytest.mark.parametrize("limit", EXPECTED)
def test_each_limit_on_the_page_is_the_codes(limit: str) -> None:
    assert rows().get(limit) == EXPECTED[limit]


def test_the_config_file_rules_are_the_readers() -> None:
    rules = [line.split("|")[1].strip() for line in RULES.read_text().splitlines() if "|" in line]
    assert f"a regular file of at most {yaml_guard.MAX_BYTES // 1024} KiB, UTF-8 text" in rules
    assert f"at most {yaml_guard.MAX_DEPTH} levels of nesting" in rules
    values = f"at most {yaml_guard.MAX_VALUES:,} values"
    assert any(rule.startswith(values) for rule in rules), rules

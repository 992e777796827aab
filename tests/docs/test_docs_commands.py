"""Every ``party-button`` command shown in the docs parses with the real parser; the ones
without side effects run against the shipped config, and where a page shows their output
(a ``console`` block: ``$ COMMAND`` and what it prints), they print exactly that."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from party_button.cli.main import build_parser
from tests.docs.markdown_pages import REPO, SHIPPED, SHIPPED_NAME, blocks, inline_code, pages

# The commands that only read: they run against the shipped config.
READ_ONLY = {"check-config", "config", "songs", "wiring", "boot-config", "preview"}
WRITES = {"--svg", "--png"}  # options that write a file: parsed, not run
SHELLS = ("sh", "shell", "bash", "console")
OPERATORS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>"}
THE_PI_CONFIG = "/etc/party-button/config.yaml"


@dataclass(frozen=True)
class Shown:
    """A ``party-button`` command line on a page, and its output where the page shows it."""

    where: str
    argv: tuple[str, ...]
    output: str | None = None


def _commands_in(line: str) -> list[list[str]]:
    """The ``party-button`` commands of one shell line (pipes, ``&&``, redirections apart)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    segments: list[list[str]] = [[]]
    skip = False
    for token in lexer:
        if token in OPERATORS:
            skip = token in {">", ">>", "<", "2>"}
            segments.append([])
        elif skip:
            skip = False  # the file of a redirection
        else:
            segments[-1].append(token)
    commands = []
    for words in segments:
        while words and (words[0] == "sudo" or ("=" in words[0] and not words[0].startswith("-"))):
            words = words[1:]
        if words and Path(words[0]).name == "party-button":
            commands.append(words[1:])
    return commands


def shown_commands() -> list[Shown]:
    """Every ``party-button`` command in the pages' shell blocks and inline code."""
    found = []
    for page in pages():
        name = str(page.relative_to(REPO))
        for block in blocks(page, *SHELLS):
            lines = block.text.replace("\\\n", " ").splitlines()
            for offset, line in enumerate(lines):
                if block.lang == "console" and not line.startswith("$ "):
                    continue
                output = None
                if block.lang == "console":
                    rest = lines[offset + 1 :]
                    end = next((i for i, text in enumerate(rest) if text.startswith("$ ")), None)
                    output = "".join(f"{text}\n" for text in rest[:end])
                    line = line[2:]
                for argv in _commands_in(line):
                    found.append(Shown(f"{name}:{block.line + offset}", tuple(argv), output))
        for line, code in inline_code(page):
            if code.startswith("party-button "):
                found.extend(Shown(f"{name}:{line}", tuple(argv)) for argv in _commands_in(code))
    return found


SHOWN = shown_commands()


def parse_problem(argv: tuple[str, ...]) -> str | None:
    """What the real parser says against ``argv`` (``None``: it parses)."""
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(list(argv))
    except SystemExit as stop:
        return None if stop.code == 0 else errors.getvalue().strip().splitlines()[-1]
    return None


def test_the_pages_show_commands_of_every_kind() -> None:
    commands = {shown.argv[0] for shown in SHOWN if shown.argv}
    assert {"run", "check-config", "status", "web", "mqtt", "render", "test-relays"} <= commands
    assert any(shown.output for shown in SHOWN), "no console block with output"


def command_names() -> set[str]:
    parser = build_parser()
    return set(next(a for a in parser._actions if a.dest == "command").choices)


@pytest.mark.parametrize("shown", SHOWN, ids=lambda shown: f"{shown.where} {' '.join(shown.argv)}")
def test_every_shown_command_parses(shown: Shown) -> None:
    # a command named in the text, such as `party-button render`, needs no arguments
    named = len(shown.argv) == 1 and shown.output is None and shown.argv[0] in command_names()
    assert named or parse_problem(shown.argv) is None


def test_a_wrong_command_is_noticed() -> None:
    assert parse_problem(("check-config", "--frobnicate")) is not None
    assert _commands_in("sudo PB=1 party-button songs --count 2 | head > x # note") == [
        ["songs", "--count", "2"]
    ]


def runnable(shown: Shown) -> bool:
    """Read-only, writes no file, and holds no placeholder (a word such as PATH or SHOW)."""
    argv = shown.argv
    placeholder = any(re.fullmatch(r"[A-Z][A-Z_:-]*", word) for word in argv)
    helps = "--help" in argv or "-h" in argv or argv == ("--version",)
    return (
        bool(argv)
        and (argv[0] in READ_ONLY or helps)
        and not WRITES & set(argv)
        and not (placeholder)
    )


def run_shown(argv: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """Run ``party-button ARGV`` in the repository with the shipped config (the Pi's path
    taken for it), as a user would."""
    shipped = str(SHIPPED.relative_to(REPO))
    args = [shipped if arg in (THE_PI_CONFIG, SHIPPED_NAME) else arg for arg in argv]
    env = {**os.environ, "PARTY_BUTTON_CONFIG": shipped, "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "party_button", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


RUNNABLE = [shown for shown in SHOWN if runnable(shown)]


@pytest.mark.parametrize(
    "shown", RUNNABLE, ids=lambda shown: f"{shown.where} {' '.join(shown.argv)}"
)
def test_read_only_commands_run_and_print_what_the_page_shows(shown: Shown) -> None:
    result = run_shown(shown.argv)
    assert result.returncode == 0, result.stderr
    if shown.output is not None:
        shipped = str(SHIPPED.relative_to(REPO))
        named = THE_PI_CONFIG if THE_PI_CONFIG in shown.argv else SHIPPED_NAME
        assert result.stdout.replace(shipped, named) == shown.output

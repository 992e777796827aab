"""The package's docstring examples run: every module with a ``>>>`` example, but the render
job's (they would need its extra, torch)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "party_button"
LEFT_OUT = ("render",)


def with_examples() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[1] not in LEFT_OUT and ">>>" in path.read_text():
            found.append(".".join(parts))
    return found


def test_modules_with_examples_are_found() -> None:
    assert {"party_button.daemon.party", "party_button.media.library"} <= set(with_examples())


@pytest.mark.parametrize("name", with_examples())
def test_the_examples_of(name: str) -> None:
    results = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert results.failed == 0

"""The shipped wiring docs match the shipped config, so docs and daemon never disagree."""

from __future__ import annotations

from pathlib import Path

import pytest

from party_button.maker.wiring import clash_warnings, render_markdown, render_svg

config_module = pytest.importorskip("party_button.config.schema")

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "regenerate with `make -C hardware wiring`"


@pytest.fixture(scope="module")
def shipped_config():
    return config_module.load_config(ROOT / "config" / "config.yaml")


def test_shipped_wiring_table_is_up_to_date(shipped_config) -> None:
    shipped = (ROOT / "hardware" / "wiring.md").read_text(encoding="utf-8")
    assert shipped == render_markdown(shipped_config), REGENERATE


def test_shipped_wiring_diagram_is_up_to_date(shipped_config) -> None:
    shipped = (ROOT / "hardware" / "wiring.svg").read_text(encoding="utf-8")
    assert shipped == render_svg(shipped_config), REGENERATE


def test_shipped_config_has_no_pin_clashes(shipped_config) -> None:
    assert clash_warnings(shipped_config) == []

"""Every JSON example of the control socket and the HTTP API has the real fields: those a
running daemon sends, and those that ``openapi.json`` (and the web service) name."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from party_button.config.schema import Config
from party_button.control.client import send_command, watch
from party_button.control.watch import EVENTS
from party_button.testing import running_daemon, wait_for
from party_button.web.daemon_link import DaemonLink
from tests.docs.markdown_pages import DOCS, REPO, blocks, inline_code

CONTROL_PAGES = (
    DOCS / "reference" / "control-socket.md",
    DOCS / "howto" / "control-from-a-shell.md",
)
API_PAGES = (DOCS / "howto" / "web-page.md",)
OPENAPI = REPO / "party_button" / "web" / "openapi.json"


def readable(text: str) -> str:
    """An example as JSON: ``...`` for a value is null, elided items and ``...status`` go,
    ``true|false`` is one of them, a bare NAME is a string."""
    text = re.sub(r":\s*\.\.\.(?=\s*[,}\]])", ": null", text)
    text = re.sub(r",?\s*\.\.\.\w*(?=\s*[,}\]])", "", text)
    text = re.sub(r"\[\s*,?\s*", "[", text).replace("true|false", "true")
    return re.sub(r"(?<=: )([A-Z][A-Z_]*)(?=\s*[,}])", r'"\1"', text)


def examples(pages: tuple[Path, ...]) -> list[tuple[str, dict[str, Any]]]:
    """Every JSON object a page shows: lines of its json blocks and inline ``{...}`` spans."""
    found = []
    for page in pages:
        for block in blocks(page, "json"):
            for offset, line in enumerate(block.text.splitlines()):
                if line.strip():
                    found.append((f"{page.name}:{block.line + offset}", json.loads(line)))
        for line, code in inline_code(page):
            if code.startswith("{"):
                found.append((f"{page.name}:{line}: {code}", json.loads(readable(code))))
    return found


class RealMessages:
    """The keys a running daemon really sends: answers, state lines, event lines."""

    def __init__(self) -> None:
        self.answers: set[str] = set()
        self.states: set[str] = set()
        self.events: set[str] = set()
        self.next_phase: set[str] = set()


@pytest.fixture
def recorded(make_config: Callable[..., Config], mock_factory: Any, tmp_path: Path) -> RealMessages:
    """Drive a daemon through a party over its socket and record every key it sends: a
    ``next`` while idle is refused, and a reload of a broken file."""
    real = RealMessages()
    path = tmp_path / "run" / "control.sock"
    seen: list[dict[str, Any]] = []
    config = make_config()
    with running_daemon(config, mock_factory, control_path=path):
        stream = watch(path)
        seen.append(next(stream))
        reader = threading.Thread(target=lambda: seen.extend(stream), daemon=True)
        reader.start()
        for command in ("status", "next", "press", "grid", "next", "reload", "hold", "stop"):
            real.answers |= set(send_command(path, command))
        config.path.write_text("button: {pin: GPIO17}\nrelays: []\n")

        def broken_reload() -> bool:  # one reload a second at most: ask until it is read
            answer = send_command(path, "reload")
            real.answers |= set(answer)
            return "errors" in answer

        wait_for(broken_reload, timeout=20, every=0.1)
        wait_for(lambda: sum(m.get("event") == "reload" for m in seen) == 2, timeout=20)
    reader.join(timeout=10)
    for message in seen:
        keys = set(message)
        if message.get("type") == "state":
            real.states |= keys
            if isinstance(message.get("next_phase"), dict):
                real.next_phase |= set(message["next_phase"])
        else:
            real.events |= keys
    return real


def test_control_socket_examples_have_the_daemons_fields(recorded: RealMessages) -> None:
    found = examples(CONTROL_PAGES)
    assert len(found) >= 5
    assert recorded.next_phase, "no next_phase was seen"
    for where, example in found:
        keys = set(example)
        if example.get("type") == "state":
            assert keys <= recorded.states, where
        elif example.get("type") == "event":
            assert example["event"] in EVENTS and keys <= recorded.events, where
        elif "in" in keys:
            assert keys <= recorded.next_phase, where
        else:
            assert keys <= recorded.answers | recorded.states, where


def api_fields() -> set[str]:
    """Every property name in ``openapi.json``, and the web service's own link message."""
    names: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            names.update(node.get("properties", {}))
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(json.loads(OPENAPI.read_text()))
    return names | set(DaemonLink(Path("control.sock")).link_message())


def test_http_api_examples_have_the_apis_fields() -> None:
    found = examples(API_PAGES)
    assert len(found) >= 5
    fields = api_fields()
    for where, example in found:
        assert set(example) <= fields, where
        for value in example.values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    assert set(item) <= fields, where


def test_the_examples_are_read_as_json() -> None:
    assert json.loads(readable('{"ok": true, ...status}')) == {"ok": True}
    assert json.loads(readable('{"ok": false, "errors": ["FILE:LINE: x", ...], ...}')) == {
        "ok": False,
        "errors": ["FILE:LINE: x"],
    }
    assert json.loads(readable('{"deleted": NAME}')) == {"deleted": "NAME"}
    assert json.loads(readable('{"daemon": true|false, "problem": ...}')) == {
        "daemon": True,
        "problem": None,
    }

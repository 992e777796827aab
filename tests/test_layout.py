"""The package's layout holds: the daemon's import graph leaves out the maker's tools, the
render job and torch, and no module of the daemon package grows a long method."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

DAEMON = Path(__file__).resolve().parents[1] / "party_button" / "daemon"


def imported_after(code: str) -> set[str]:
    """The modules that a fresh Python has loaded after running ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; {code}; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_the_daemon_imports_neither_the_makers_tools_nor_the_render_job_nor_torch() -> None:
    loaded = imported_after("import party_button.daemon.daemon")
    assert (
        sorted(
            name
            for name in loaded
            if name.split(".")[0] in ("torch", "ray")
            or name.startswith(("party_button.maker", "party_button.render", "party_button.cli"))
        )
        == []
    )


def test_the_daemon_and_its_command_line_never_import_torch() -> None:
    loaded = imported_after(
        "import party_button.cli.main, party_button.daemon.daemon, party_button.cli.simulation; "
        "party_button.cli.main.build_parser()"
    )
    assert sorted({"torch", "torchvision", "av", "librosa"} & loaded) == []


def test_the_daemons_command_line_leaves_out_what_only_other_commands_use() -> None:
    """Memory the daemon never uses: numpy, which pygame imports for its array modules (some
    16 MB), asyncio for the web command, urllib with ssl for the wiring page (some 4 MB)."""
    loaded = imported_after(
        "import party_button.cli.main, party_button.daemon.daemon; "
        "party_button.cli.main.build_parser()"
    )
    assert "pygame.mixer" in loaded
    assert sorted({"numpy", "asyncio", "ssl", "urllib.request"} & loaded) == []
    later = imported_after("import party_button.daemon.daemon, numpy, pygame.sndarray")
    assert {"numpy", "pygame.sndarray"} <= later


def test_the_daemon_class_is_short_and_no_method_of_the_daemon_package_is_long() -> None:
    long_functions = []
    for module in sorted(DAEMON.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno >= 40:
                long_functions.append(f"{module.name}:{node.name}")
            if isinstance(node, ast.ClassDef) and node.name == "Daemon":
                assert node.end_lineno - node.lineno < 200
    assert long_functions == []

"""The installer and uninstaller run into a temporary root, and systemd's checks of a unit.

For the tests of the units and of what the installer puts in place (the daemon's, the web
page's, the rooms sync's): a copy of the source tree (:func:`source_tree`), the scripts run
against it, the files they leave, ``systemd-analyze``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "party-button.service"
STATE = "/var/lib/party-button"
needs_systemctl = pytest.mark.skipif(not shutil.which("systemctl"), reason="needs systemctl")
needs_analyze = pytest.mark.skipif(
    not shutil.which("systemd-analyze"), reason="needs systemd-analyze"
)


SONGS = {
    f"{STATE}/songs/song0.ogg",
    f"{STATE}/songs/song1.ogg",
    f"{STATE}/songs/song2.ogg",
    f"{STATE}/songs/intro/siren.ogg",
    f"{STATE}/songs/intro/fallback.ogg",
}

# What the installer puts into a DESTDIR for the daemon alone (no web page, no MQTT bridge).
DAEMON_FILES = {
    "/etc/party-button/config.yaml",
    "/etc/systemd/system/party-button.service",
    "/etc/systemd/system/party-button-beats.socket",
    "/etc/systemd/system/party-button-beats@.service",
    "/etc/systemd/system/multi-user.target.wants/party-button.service",
    "/etc/systemd/system/sockets.target.wants/party-button-beats.socket",
    "/etc/sysusers.d/party-button.conf",
    "/etc/tmpfiles.d/party-button.conf",
    *SONGS,
}


def source_tree(tmp_path: Path, song_folder: Path) -> Path:
    """A copy of the source tree in ``tmp_path`` with ``song_folder`` as its songs folder (and
    the sounds beside it as its intro folder); the ``source`` fixture of the tests."""
    tree = tmp_path / "src"
    tree.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, tree / name)
    shutil.copytree(REPO / "docs", tree / "docs", ignore=shutil.ignore_patterns("_build"))
    for folder in ("party_button", "config", "systemd"):
        shutil.copytree(REPO / folder, tree / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(song_folder, tree / "songs")
    shutil.copytree(song_folder.parent / "sounds", tree / "songs" / "intro")
    for maker in ("make_demo_songs.py", "demo-songs.json"):  # not songs: never installed
        shutil.copy(REPO / "songs" / maker, tree / "songs" / maker)
    return tree


def run_script(
    source: Path, script: str, *args: str, status: int = 0
) -> subprocess.CompletedProcess[str]:
    """Run ``systemd/SCRIPT ARGS`` of ``source``; it must exit with ``status``."""
    result = subprocess.run(
        ["sh", str(source / "systemd" / script), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHON": sys.executable},  # --no-venv: this one has the package
    )
    assert result.returncode == status, result.stdout + result.stderr
    return result


def files_under(root: Path) -> set[str]:
    """Every file and link under ``root``, as absolute paths inside it."""
    return {
        "/" + str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() or path.is_symlink()
    }


def installed_config(root: Path) -> Path:
    """The installed config with its absolute paths moved into ``root``, ready to load."""
    text = (root / "etc/party-button/config.yaml").read_text()
    moved = root / "config-in-root.yaml"
    moved.write_text(text.replace(STATE, f"{root}{STATE}"))
    return moved


def unit_for_verify(tmp_path: Path, unit: Path = UNIT) -> Path:
    """``unit`` with its ExecStart= binary moved to one that exists on this machine."""
    cli = Path(sys.executable).with_name("party-button")
    assert cli.exists(), "the package's console script, from pip install -e ."
    copy = tmp_path / "unit" / unit.name
    copy.parent.mkdir()
    copy.write_text(unit.read_text().replace("/opt/party-button/venv/bin/party-button", str(cli)))
    return copy


def verify(*units: Path) -> str:
    """What ``systemd-analyze verify`` says about ``units`` (nothing when they are clean)."""
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(unit) for unit in units)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def exposure(unit: Path) -> tuple[float, str, str]:
    """``systemd-analyze security``'s overall exposure of ``unit``, its word, and the report."""
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    name = re.escape(unit.name)
    match = re.search(rf"Overall exposure level for {name}: ([\d.]+) (\w+)", result.stdout)
    assert match, result.stdout + result.stderr
    return float(match.group(1)), match.group(2), result.stdout


def adapter_files(name: str) -> set[str]:
    """What the installer adds for the adapter ``name`` (its unit, enabled, and its user)."""
    return {
        f"/etc/systemd/system/party-button-{name}.service",
        f"/etc/systemd/system/multi-user.target.wants/party-button-{name}.service",
        f"/etc/sysusers.d/party-button-{name}.conf",
    }


def set_enabled(root: Path, name: str, enabled: bool) -> None:
    """Turn the adapter ``name`` on or off in the installed config."""
    config = root / "etc/party-button/config.yaml"
    text = config.read_text()
    now = re.sub(
        rf"^{name}:\n  enabled: (true|false)$",
        f"{name}:\n  enabled: {str(enabled).lower()}",
        text,
        flags=re.MULTILINE,
    )
    assert f"\n{name}:\n  enabled: {str(enabled).lower()}\n" in now
    config.write_text(now)

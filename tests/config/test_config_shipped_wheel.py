"""The shipped configuration: config/config.yaml in the checkout, and in a wheel installed into
a fresh virtual environment (not editable), where check-config finds and passes it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from party_button.config.location import SHIPPED_CONFIG, SYSTEM_CONFIG
from party_button.config.schema import load_config

REPO = Path(__file__).resolve().parents[2]
# What a build reads: the package, the shipped config and songs, the build's own files.
SOURCES = ("party_button", "config", "songs", "pyproject.toml", "setup.py", "MANIFEST.in")


def test_the_checkout_uses_the_top_level_config_with_the_songs_beside_it() -> None:
    assert SHIPPED_CONFIG == REPO / "config" / "config.yaml"
    config = load_config(SHIPPED_CONFIG)
    assert config.songs.folders == (REPO / "songs",)
    assert config.party.intro_sound == REPO / "songs" / "intro" / "siren.ogg"


def run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(arg) for arg in argv], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no system site packages) with the package's wheel installed, not
    editable; its dependencies come from the test run's own environment through a .pth file."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:
        origin = REPO / name
        if origin.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(origin, source / name, ignore=ignore)
        else:
            shutil.copy(origin, source / name)
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        "-w", tmp / "dist", source, cwd=tmp)  # fmt: skip
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp)
    Path(site.strip(), "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (wheel,) = (tmp / "dist").glob("party_button-*.whl")
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
        "--no-index", wheel, cwd=tmp)  # fmt: skip
    return venv


def clean_environment() -> dict[str, str]:
    """This process's environment without what would point at the checkout or a config."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PARTY_BUTTON_CONFIG")}


def test_an_installed_wheel_carries_the_config_and_the_songs(installed: Path, tmp_path: Path):
    code = (
        "import party_button; from party_button.config.location import SHIPPED_CONFIG as c; "
        "print(party_button.__file__); print(c)"
    )
    out = run(installed / "bin" / "python", "-c", code, cwd=tmp_path, env=clean_environment())
    package_file, shipped = out.split()
    package = Path(package_file).parent
    assert package.is_relative_to(installed) and Path(shipped) == package / "config/config.yaml"
    assert Path(shipped).read_bytes() == (REPO / "config" / "config.yaml").read_bytes()
    songs = {p.relative_to(package / "songs") for p in (package / "songs").rglob("*.ogg")}
    assert songs == {p.relative_to(REPO / "songs") for p in (REPO / "songs").rglob("*.ogg")}
    assert not (package / "songs" / "make_demo_songs.py").exists()


@pytest.mark.skipif(SYSTEM_CONFIG.exists(), reason=f"{SYSTEM_CONFIG} would be found first")
def test_check_config_in_an_installed_wheel_finds_and_passes_the_shipped_config(
    installed: Path, tmp_path: Path
) -> None:
    out = run(
        installed / "bin" / "party-button", "check-config", cwd=tmp_path, env=clean_environment()
    )
    assert out.startswith(str(installed)) and out.rstrip().endswith(
        "config/config.yaml: OK (4 relays)"
    )

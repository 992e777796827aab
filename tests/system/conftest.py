"""Fixtures of the system tests: a Debian 12 root with party-button installed by its installer.

They need root, debootstrap, systemd-nspawn (and qemu-user-static for the arm64 root), and
the network to reach deb.debian.org and PyPI. Where something is missing they skip with one
line that says what; ``PARTY_BUTTON_SYSTEM_TESTS=0`` skips them on purpose.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.debian import (
    SOURCE_IN_ROOT,
    SystemTestUnavailable,
    WorkRoot,
    base_root,
    download_caches,
    ensure_binfmt,
    missing_tools,
    native_architecture,
    temporary_log,
)

REPO = Path(__file__).resolve().parents[2]


def require(architecture: str) -> None:
    """Skip (one line saying what is missing) unless ``architecture``'s root can be made."""
    if os.environ.get("PARTY_BUTTON_SYSTEM_TESTS") == "0":
        pytest.skip("system tests skipped: PARTY_BUTTON_SYSTEM_TESTS=0")
    missing = missing_tools(architecture)
    if missing:
        pytest.skip(f"system tests ({architecture}) skipped: they need {', '.join(missing)}")
    if architecture != native_architecture():
        try:
            ensure_binfmt(architecture)
        except SystemTestUnavailable as exc:
            pytest.skip(f"system tests ({architecture}) skipped: {exc}")


def installed_root(architecture: str, *install_args: str) -> Iterator[WorkRoot]:
    """A throw-away root of ``architecture`` with party-button installed as the README says:
    from a checkout, ``systemd/install.sh`` as root (with the host's network, for apt and pip).
    """
    require(architecture)
    log = temporary_log(f"{architecture}-install")
    with WorkRoot(base_root(architecture, log), architecture) as root:
        root.put_source(REPO)
        root.trust_host_certificate_authorities()
        script = f"cd {SOURCE_IN_ROOT} && systemd/install.sh {' '.join(install_args)}"
        root.run(["sh", "-c", script], log=log, binds=download_caches(architecture))
        yield root


@pytest.fixture(scope="session")
def native_root() -> Iterator[WorkRoot]:
    """This machine's architecture, installed with the beats extra (for the beat grid test)."""
    yield from installed_root(native_architecture(), "EXTRAS=beats")


@pytest.fixture(scope="session")
def arm64_root() -> Iterator[WorkRoot]:
    """The Raspberry Pi's architecture, run under qemu-user-static."""
    yield from installed_root("arm64")

"""Fixtures of the system tests: a Debian 12 root with party-button installed by its installer.

They need root, debootstrap, systemd-nspawn (and qemu-user-static for the arm64 root), and
the network to reach deb.debian.org and PyPI. Where something is missing they are left out
(deselected) and one line in the run's summary says what; ``PARTY_BUTTON_SYSTEM_TESTS=0``
leaves them out on purpose.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.containers import SOURCE_IN_ROOT, WorkRoot
from tests.system.roots import (
    SystemTestUnavailable,
    base_root,
    download_caches,
    ensure_binfmt,
    missing_tools,
    native_architecture,
    temporary_log,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def unavailable(architecture: str) -> str | None:
    """Why the system tests of ``architecture`` cannot run here, or ``None`` if they can."""
    if os.environ.get("PARTY_BUTTON_SYSTEM_TESTS") == "0":
        return "system tests skipped: PARTY_BUTTON_SYSTEM_TESTS=0"
    missing = missing_tools(architecture)
    if architecture == native_architecture():
        return f"system tests skipped: they need {', '.join(missing)}" if missing else None
    if missing:
        return f"{architecture} system tests skipped: they need {', '.join(missing)}"
    return None


SKIPPED = pytest.StashKey[list[str]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out what this machine cannot run; one line each in the summary says why."""
    reasons: list[str] = []
    left_out: list[pytest.Item] = []
    for architecture, folder_or_module in (
        (native_architecture(), HERE),
        ("arm64", HERE / "test_arm64_install.py"),
    ):
        reason = unavailable(architecture)
        chosen = [item for item in items if item.path.is_relative_to(folder_or_module)]
        if reason is None or not chosen or reason in reasons:
            continue
        reasons.append(reason)
        left_out += chosen
        items[:] = [item for item in items if item not in chosen]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
    config.stash[SKIPPED] = reasons


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config):
    for reason in config.stash.get(SKIPPED, []):
        terminalreporter.write_line(reason)


def installed_root(architecture: str, *install_args: str) -> Iterator[WorkRoot]:
    """A throw-away root of ``architecture`` with party-button installed as the docs say:
    from a checkout, ``systemd/install.sh`` as root (with the host's network, for apt and pip).
    """
    if architecture != native_architecture():
        try:
            ensure_binfmt(architecture)
        except SystemTestUnavailable as exc:
            pytest.skip(f"{architecture} system tests skipped: {exc}")
    log = temporary_log(f"{architecture}-install")
    with WorkRoot(base_root(architecture, log), architecture) as root:
        root.put_source(REPO)
        root.trust_host_certificate_authorities()
        install(root, architecture, log, *install_args)
        yield root


APT_LOCKED = "Could not get lock /var/cache/apt/archives/lock"


def install(root: WorkRoot, architecture: str, log: Path, *install_args: str) -> None:
    """Run ``systemd/install.sh`` in ``root`` with the shared download caches.

    Another test session's apt may hold the shared archive's lock: then wait until it lets
    go (an fcntl lock, as apt takes it) and install again.
    """
    script = f"cd {SOURCE_IN_ROOT} && systemd/install.sh {' '.join(install_args)}"
    binds = download_caches(architecture)
    for _attempt in range(10):
        result = root.run(["sh", "-c", script], log=log, binds=binds, check=False)
        if result.returncode == 0:
            return
        if APT_LOCKED not in result.stdout + result.stderr:
            break
        with (binds[0][0] / "lock").open("a") as lock:
            fcntl.lockf(lock, fcntl.LOCK_EX)  # waits for the other apt
    raise RuntimeError(
        f"{script} failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    )


@pytest.fixture(scope="session")
def native_root() -> Iterator[WorkRoot]:
    """This machine's architecture, installed with the beats extra (for the beat grid test)."""
    yield from installed_root(native_architecture(), "EXTRAS=beats")


@pytest.fixture(scope="session")
def arm64_root() -> Iterator[WorkRoot]:
    """The Raspberry Pi's architecture, run under qemu-user-static."""
    yield from installed_root("arm64")

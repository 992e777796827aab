"""Debian 12 roots for the system tests: made with debootstrap and cached.

A *base root* is a minimal Debian (``debootstrap --variant=minbase``) with systemd, D-Bus,
Python and the CA certificates: what a fresh Raspberry Pi OS Lite or Debian server has
before party-button. It is built once per architecture and kept in the cache folder
(:func:`cache_folder`) under a name made from everything that goes into it; a change of the
package list, the suite, the mirror or :data:`BUILDER_VERSION` builds a new one. Other
architectures run under qemu-user-static (:func:`ensure_binfmt`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "ca-certificates")
BUILDER_VERSION = 1
"""Raised whenever :func:`build_base_root` changes what it makes."""

QEMU_ARCHITECTURES = {"arm64": "aarch64"}
KEPT_LOGS = 20


class SystemTestUnavailable(RuntimeError):
    """Something the system tests need is not on this machine; the message says what."""


def native_architecture() -> str:
    """This machine's Debian architecture name."""
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def cache_folder() -> Path:
    """Where roots, pip's and apt's downloads are kept between runs.

    ``$PARTY_BUTTON_SYSTEM_CACHE``, else ``$XDG_CACHE_HOME/party-button/system``, else
    ``~/.cache/party-button/system``.
    """
    if os.environ.get("PARTY_BUTTON_SYSTEM_CACHE"):
        return Path(os.environ["PARTY_BUTTON_SYSTEM_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "party-button" / "system"


def missing_tools(architecture: str) -> list[str]:
    """What this machine lacks to build and run a root of ``architecture``, in words."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    for tool, package in (
        ("debootstrap", "debootstrap"),
        ("systemd-nspawn", "systemd-container"),
        ("nsenter", "util-linux"),
    ):
        if not shutil.which(tool):
            missing.append(f"{tool} ({package})")
    if architecture != native_architecture():
        qemu = QEMU_ARCHITECTURES.get(architecture, architecture)
        if not shutil.which(f"qemu-{qemu}-static"):
            missing.append(f"qemu-{qemu}-static (qemu-user-static)")
    return missing


def ensure_binfmt(architecture: str) -> None:
    """Make sure the kernel runs ``architecture``'s programs through qemu-user-static.

    Registers the handler (binfmt-support's ``update-binfmts``) when it is missing, mounting
    ``binfmt_misc`` first if needed: a fresh CI machine has it, a container may not.
    """
    qemu = QEMU_ARCHITECTURES[architecture]
    folder = Path("/proc/sys/fs/binfmt_misc")
    entry = folder / f"qemu-{qemu}"
    if entry.exists() and entry.read_text().startswith("enabled"):
        return
    if not (folder / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(folder)], check=False)
    if shutil.which("update-binfmts"):
        subprocess.run(["update-binfmts", "--enable", f"qemu-{qemu}"], check=False)
    elif shutil.which("systemd-binfmt"):
        subprocess.run(["systemd-binfmt"], check=False)
    if not (entry.exists() and entry.read_text().startswith("enabled")):
        raise SystemTestUnavailable(
            f"the kernel cannot run {architecture} programs: no binfmt_misc handler "
            f"qemu-{qemu} (apt-get install qemu-user-static binfmt-support)"
        )


def root_key(architecture: str) -> str:
    """The name of the base root for ``architecture``: it changes with what goes into it."""
    inputs = {
        "builder": BUILDER_VERSION,
        "suite": SUITE,
        "mirror": MIRROR,
        "architecture": architecture,
        "packages": sorted(BASE_PACKAGES),
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    return f"{SUITE}-{architecture}-{digest[:12]}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (two test runs never build the same root at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def base_root(architecture: str, log: Path) -> Path:
    """The cached base root of ``architecture``, built first if it is missing or outdated.

    debootstrap's output goes to ``log``. Older roots of the same architecture are removed.
    """
    roots = cache_folder() / "roots"
    root = roots / root_key(architecture)
    with _locked(roots / f".lock-{architecture}"):
        if (root / ".complete").exists():
            return root
        if architecture != native_architecture():
            ensure_binfmt(architecture)
        building = roots / f".building-{root.name}"
        shutil.rmtree(building, ignore_errors=True)
        build_base_root(architecture, building, log)
        (building / ".complete").write_text(json.dumps({"built": time.time()}))
        building.rename(root)
        for old in roots.glob(f"{SUITE}-{architecture}-*"):
            if old != root:
                shutil.rmtree(old, ignore_errors=True)
    return root


def build_base_root(architecture: str, target: Path, log: Path) -> None:
    """Run debootstrap into ``target``; raise with the end of its output if it fails."""
    command = [
        "debootstrap",
        "--variant=minbase",
        f"--arch={architecture}",
        f"--include={','.join(BASE_PACKAGES)}",
        SUITE,
        str(target),
        MIRROR,
    ]
    with log.open("a") as output:
        output.write(f"$ {' '.join(command)}\n")
        output.flush()
        result = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise RuntimeError(f"debootstrap failed ({result.returncode}); see {log}:\n{tail}")
    # Not kept in the root: installs get apt's archive from the cache folder (download_caches).
    for deb in (target / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()


def download_caches(architecture: str) -> list[tuple[Path, str]]:
    """Host folders for apt's and pip's downloads, to bind into a root while installing."""
    folder = cache_folder() / "downloads" / architecture
    (folder / "apt" / "partial").mkdir(parents=True, exist_ok=True)
    return [(folder / "apt", "/var/cache/apt/archives"), (folder / "pip", "/root/.cache/pip")]


def temporary_log(name: str) -> Path:
    """A log file for one session's root building, installing and booting."""
    folder = cache_folder() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    for old in sorted(folder.glob("*.log"), key=lambda log: log.stat().st_mtime)[:-KEPT_LOGS]:
        old.unlink(missing_ok=True)
    handle, path = tempfile.mkstemp(prefix=f"{name}-", suffix=".log", dir=folder)
    os.close(handle)
    return Path(path)

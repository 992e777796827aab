"""The installer on a fresh Debian 12, where the service's Debian packages are missing."""

from __future__ import annotations

from tests.system.conftest import REPO
from tests.system.containers import SOURCE_IN_ROOT, WorkRoot
from tests.system.roots import base_root, native_architecture, temporary_log


def test_without_apt_the_installer_names_the_missing_packages_and_stops():
    log = temporary_log("no-apt")
    with WorkRoot(base_root(native_architecture(), log), "no-apt") as root:
        root.put_source(REPO)
        script = f"cd {SOURCE_IN_ROOT} && systemd/install.sh --no-apt"
        result = root.run(["sh", "-c", script], log=log, network=False, check=False)
        assert result.returncode == 1
        # (systemd-nspawn may add lines of its own)
        assert [line for line in result.stderr.splitlines() if "install" in line] == [
            "install.sh: missing Debian packages: python3-venv python3-systemd libasound2 "
            "libglib2.0-0",
            "install them first: apt-get install python3-venv python3-systemd libasound2 "
            "libglib2.0-0",
        ]
        assert not (root.path / "opt/party-button").exists()  # nothing was installed

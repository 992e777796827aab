"""The installer with sync enabled: the sync unit and user, and Debian's Snapcast set up from
the sync section (into a DESTDIR: no packages are installed there)."""

from __future__ import annotations

import os
from pathlib import Path

from party_button.config.sync import SyncConfig
from party_button.sync.snapserver import SAVED_SUFFIX, SNAPSERVER_DROP_IN, snapserver_conf
from party_button.testing.installer import (
    DAEMON_FILES,
    adapter_files,
    files_under,
    needs_systemctl,
    run_script,
    set_enabled,
)

SNAPCAST_FILES = {
    "/etc/default/snapclient",
    "/etc/snapserver.conf",
    "/etc/systemd/system/snapserver.service.d/party-button.conf",
}


@needs_systemctl
def test_sync_installs_its_unit_and_snapcasts_settings(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    set_enabled(root, "sync", True)
    result = run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    assert "rooms sync" in result.stdout
    kept = DAEMON_FILES | {"/etc/party-button/config.yaml.dist"}
    assert files_under(root) == kept | adapter_files("sync") | SNAPCAST_FILES
    wants = root / "etc/systemd/system/multi-user.target.wants/party-button-sync.service"
    assert os.readlink(wants) == "/etc/systemd/system/party-button-sync.service"
    leader = SyncConfig(enabled=True)
    assert (root / "etc/snapserver.conf").read_text() == snapserver_conf(leader)
    drop_in = root / "etc/systemd/system/snapserver.service.d/party-button.conf"
    assert drop_in.read_text() == SNAPSERVER_DROP_IN
    options = (root / "etc/default/snapclient").read_text()
    assert f'SNAPCLIENT_OPTS="--host 127.0.0.1 --hostID {leader.room_name()}"' in options


@needs_systemctl
def test_uninstall_removes_the_sync_unit_and_snapservers_drop_in(
    source: Path,
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    set_enabled(root, "sync", True)
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    run_script(source, "uninstall.sh", f"DESTDIR={root}")
    left = files_under(root)
    assert not left & adapter_files("sync")
    # Nothing of Snapcast's was there before the install: nothing of it is left.
    assert not left & SNAPCAST_FILES
    assert not [name for name in left if name.endswith(SAVED_SUFFIX)]


@needs_systemctl
def test_uninstall_puts_back_the_snapcast_settings_that_were_there(
    source: Path,
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    # Debian's packages came first, with their own settings.
    debians = {
        "etc/snapserver.conf": "[stream]\nsource = pipe:///tmp/snapfifo?name=default\n",
        "etc/default/snapclient": 'START_SNAPCLIENT=true\nSNAPCLIENT_OPTS=""\n',
    }
    for name, text in debians.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    set_enabled(root, "sync", True)
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")  # an upgrade
    assert (root / "etc/snapserver.conf").read_text() == snapserver_conf(SyncConfig(enabled=True))
    run_script(source, "uninstall.sh", f"DESTDIR={root}")
    for name, text in debians.items():
        assert (root / name).read_text() == text
    left = files_under(root)
    assert not [name for name in left if name.endswith(SAVED_SUFFIX)]
    assert "/etc/systemd/system/snapserver.service.d/party-button.conf" not in left

"""The web page's unit: its sandbox rated by systemd-analyze, installed only when enabled."""

from __future__ import annotations

import re
from pathlib import Path

from party_button.config.schema import load_config
from party_button.testing.installer import (
    DAEMON_FILES,
    REPO,
    SONGS,
    exposure,
    files_under,
    installed_config,
    needs_analyze,
    needs_systemctl,
    run_script,
    unit_for_verify,
    verify,
)

WEB_UNIT = REPO / "systemd" / "party-button-web.service"
WEB_FILES = {
    "/etc/systemd/system/party-button-web.service",
    "/etc/systemd/system/multi-user.target.wants/party-button-web.service",
    "/etc/sysusers.d/party-button-web.conf",
}


def enable_web(tree: Path) -> None:
    config = tree / "config" / "config.yaml"
    text = config.read_text()
    assert "web:\n  enabled: false\n" in text
    config.write_text(text.replace("web:\n  enabled: false\n", "web:\n  enabled: true\n"))


@needs_systemctl
def test_the_web_unit_is_left_out_while_the_config_does_not_enable_it(source, tmp_path):
    root = tmp_path / "root"
    result = run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    assert files_under(root) == DAEMON_FILES
    pin = re.search(r"the web page's PIN is (\d{6}) ", result.stdout)
    assert pin, result.stdout
    config = load_config(installed_config(root))
    assert config.web.pin == pin.group(1) and not config.web.enabled


@needs_systemctl
def test_enabled_it_is_installed_enabled_and_removed_again(source, tmp_path):
    enable_web(source)
    root = tmp_path / "root"
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    assert files_under(root) == DAEMON_FILES | WEB_FILES
    installed = root / "etc/systemd/system/party-button-web.service"
    assert installed.read_text() == WEB_UNIT.read_text()
    sysusers = (root / "etc/sysusers.d/party-button-web.conf").read_text()
    assert "u party-button-web " in sysusers and "m party-button-web party-button" in sysusers
    # The admin turns it off: the next install takes the unit away.
    config = root / "etc/party-button/config.yaml"
    config.write_text(
        config.read_text().replace("web:\n  enabled: true\n", "web:\n  enabled: false\n")
    )
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    assert files_under(root) == DAEMON_FILES | {"/etc/party-button/config.yaml.dist"}
    config.write_text(
        config.read_text().replace("web:\n  enabled: false\n", "web:\n  enabled: true\n")
    )
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    run_script(source, "uninstall.sh", f"DESTDIR={root}")
    assert files_under(root) == {"/etc/party-button/config.yaml", *SONGS}


@needs_analyze
def test_systemd_analyze_rates_the_web_unit_at_most_2():
    level, _word, report = exposure(WEB_UNIT)
    assert level <= 2.0, report


@needs_analyze
def test_systemd_analyze_verify_is_clean(tmp_path):
    assert verify(unit_for_verify(tmp_path, WEB_UNIT)) == ""


def test_the_web_unit_has_network_but_no_devices_and_writes_only_songs():
    settings = [line.strip() for line in WEB_UNIT.read_text().splitlines()]
    for required in (
        "User=party-button-web",
        "Group=party-button",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/party-button/songs",
        "PrivateDevices=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "CapabilityBoundingSet=",
        "NoNewPrivileges=yes",
        "ExecStart=/opt/party-button/venv/bin/party-button web "
        "--config /etc/party-button/config.yaml",
    ):
        assert required in settings, required
    assert not any(line.startswith(("DeviceAllow=", "PrivateNetwork=yes")) for line in settings)
    writable = [
        line for line in settings if line.startswith(("ReadWritePaths=", "StateDirectory="))
    ]
    assert writable == ["ReadWritePaths=/var/lib/party-button/songs"]

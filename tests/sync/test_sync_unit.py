"""The sync service's unit: its own user, network but no devices, exposure at most 2.0."""

from __future__ import annotations

import re
from pathlib import Path

from party_button.testing.installer import REPO, exposure, needs_analyze, unit_for_verify, verify

SYNC_UNIT = REPO / "systemd" / "party-button-sync.service"


@needs_analyze
def test_the_sync_unit_verifies_clean(tmp_path: Path) -> None:
    assert verify(unit_for_verify(tmp_path, SYNC_UNIT)) == ""


@needs_analyze
def test_systemd_analyze_security_rates_the_sync_unit_at_most_2() -> None:
    level, _word, report = exposure(SYNC_UNIT)
    assert level <= 2.0, report


def test_the_sync_unit_has_its_own_user_network_and_no_devices() -> None:
    settings = [line.strip() for line in SYNC_UNIT.read_text().splitlines()]
    for required in (
        "User=party-button-sync",
        "SupplementaryGroups=party-button",
        "PrivateDevices=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "SocketBindAllow=tcp:1707",
        "SocketBindDeny=any",
        "ExecStart=/opt/party-button/venv/bin/party-button sync "
        "--config /etc/party-button/config.yaml --socket /run/party-button/control.sock",
    ):
        assert required in settings, required
    assert not any(line.startswith(("DeviceAllow=", "PrivateNetwork=")) for line in settings)
    sysusers = (REPO / "systemd" / "party-button-sync.sysusers").read_text()
    assert re.search(r"^u party-button-sync - ", sysusers, re.MULTILINE)
    assert re.search(r"^m party-button-sync party-button$", sysusers, re.MULTILINE)

"""The installer and uninstaller into a temporary root; the unit checked by systemd-analyze."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from party_button.config.schema import load_config
from party_button.testing.installer import (
    DAEMON_FILES,
    REPO,
    SONGS,
    STATE,
    UNIT,
    adapter_files,
    exposure,
    files_under,
    installed_config,
    needs_analyze,
    needs_systemctl,
    run_script,
    set_enabled,
    unit_for_verify,
    verify,
)

MQTT_UNIT = REPO / "systemd" / "party-button-mqtt.service"
BEATS_UNITS = (
    REPO / "systemd" / "party-button-beats.socket",
    REPO / "systemd" / "party-button-beats@.service",
)


@needs_systemctl
def test_install_into_a_destdir_puts_every_file_in_place(source, tmp_path):
    root = tmp_path / "root"
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    assert files_under(root) == DAEMON_FILES
    for unit in (UNIT, *BEATS_UNITS):
        assert (root / "etc/systemd/system" / unit.name).read_text() == unit.read_text()
    for wants in (
        "multi-user.target.wants/party-button.service",
        "sockets.target.wants/party-button-beats.socket",
    ):
        link = root / "etc/systemd/system" / wants
        assert os.readlink(link) == f"/etc/systemd/system/{link.name}"
    sysusers = (root / "etc/sysusers.d/party-button.conf").read_text()
    assert re.search(rf"^u party-button - .* {STATE}$", sysusers, re.MULTILINE)
    assert (root / "etc/systemd/system/party-button.service").stat().st_mode & 0o777 == 0o644
    # The config holds the web PIN: root's alone until systemd-tmpfiles gives it to the
    # service's group at boot (after systemd-sysusers has made the group).
    assert (root / "etc/party-button/config.yaml").stat().st_mode & 0o777 == 0o600
    assert (root / "etc/tmpfiles.d/party-button.conf").read_text().splitlines()[-1] == (
        "z /etc/party-button/config.yaml 0640 root party-button -"
    )

    config = load_config(installed_config(root))
    assert config.songs.folders == (root / STATE.lstrip("/") / "songs",)
    assert config.party.intro_sound == root / STATE.lstrip("/") / "songs/intro/siren.ogg"
    # Only the paths and the web PIN changed: comments and every other setting are the
    # shipped file's.
    shipped = (source / "config/config.yaml").read_text().splitlines()
    ours = (root / "etc/party-button/config.yaml").read_text().splitlines()
    changed = [(a, b) for a, b in zip(shipped, ours, strict=True) if a != b]
    assert [b.split(":")[0].strip() for _a, b in changed] == [
        "folders",
        "intro_sound",
        "fallback_sound",
        "pin",
    ]


@needs_systemctl
def test_reinstall_keeps_the_admins_config_and_songs(source, tmp_path):
    root = tmp_path / "root"
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    config = root / "etc/party-button/config.yaml"
    config.write_text(config.read_text().replace("volume: 0.8", "volume: 0.3"))
    song = root / STATE.lstrip("/") / "songs/song0.ogg"
    song.write_bytes(b"the admin's own recording")

    result = run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    assert "kept the existing config.yaml" in result.stdout
    assert "volume: 0.3" in config.read_text()
    assert "volume: 0.8" in (root / "etc/party-button/config.yaml.dist").read_text()
    assert song.read_bytes() == b"the admin's own recording"


@needs_systemctl
@pytest.mark.parametrize(
    "script", [["install.sh", "--no-venv"], ["uninstall.sh"]], ids=["upgrade", "uninstall"]
)
def test_an_earlier_versions_jit_cache_goes_at_upgrade_and_uninstall(source, tmp_path, script):
    root = tmp_path / "root"
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    cache = root / "var/cache/party-button-beats"
    (cache / "party_button").mkdir(parents=True)
    (cache / "party_button/analysis.nbi").write_bytes(b"what numba compiled")
    run_script(source, script[0], f"DESTDIR={root}", *script[1:])
    assert not cache.exists()
    assert (root / "var/cache").is_dir()


@needs_systemctl
def test_uninstall_leaves_config_and_songs(source, tmp_path):
    root = tmp_path / "root"
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")  # adds config.yaml.dist
    (root / "opt/party-button/venv/bin").mkdir(parents=True)
    run_script(source, "uninstall.sh", f"DESTDIR={root}")
    assert files_under(root) == {"/etc/party-button/config.yaml", *SONGS}
    assert not (root / "opt/party-button").exists()


def test_installer_refuses_unknown_arguments(source):
    result = subprocess.run(
        ["sh", str(source / "systemd/install.sh"), "--frobnicate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown argument '--frobnicate'" in result.stderr


@needs_systemctl
@pytest.mark.slow  # a real pip install: make check leaves it out
def test_install_with_a_virtual_environment_that_really_works(source, tmp_path):
    root = tmp_path / "root"
    run_script(source, "install.sh", f"DESTDIR={root}", f"PYTHON={sys.executable}")
    venv_cli = root / "opt/party-button/venv/bin/party-button"
    man_page = root / "usr/local/share/man/man1/party-button.1"
    assert man_page.read_text() == (source / "docs/party-button.1").read_text()
    unit = (root / "etc/systemd/system/party-button.service").read_text()
    assert "ExecStart=/opt/party-button/venv/bin/party-button run " in unit
    config = installed_config(root)
    checked = subprocess.run(
        [str(venv_cli), "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"{config}: OK (4 relays)")
    off = subprocess.run(
        [str(venv_cli), "boot-config", "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "gpio=5=op,dh" in off.stdout.splitlines()
    # The installed copy (not an editable one) carries the shipped config as package data.
    shipped = subprocess.run(
        [
            str(venv_cli.with_name("python")),
            "-c",
            "from party_button.config.location import SHIPPED_CONFIG as c; print(c, c.is_file())",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    path, found = shipped.stdout.split()
    assert found == "True" and "site-packages" in path
    # The uninstaller takes the command and its man page with the virtual environment.
    run_script(source, "uninstall.sh", f"DESTDIR={root}")
    assert not man_page.exists() and not (root / "usr/local/bin/party-button").is_symlink()


@needs_analyze
@pytest.mark.parametrize("unit", [UNIT, MQTT_UNIT], ids=lambda unit: unit.name)
def test_systemd_analyze_verify_is_clean(tmp_path, unit):
    assert verify(unit_for_verify(tmp_path, unit)) == ""


@needs_analyze
def test_systemd_analyze_security_rates_the_unit_safe():
    level, word, report = exposure(UNIT)
    assert level <= 1.0, report
    assert word == "SAFE"


@needs_analyze
def test_systemd_analyze_security_rates_the_mqtt_unit_at_most_2():
    level, _word, report = exposure(MQTT_UNIT)
    assert level <= 2.0, report


def test_mqtt_unit_has_network_but_no_devices_and_its_own_user():
    settings = [line.strip() for line in MQTT_UNIT.read_text().splitlines()]
    for required in (
        "User=party-button-mqtt",
        "SupplementaryGroups=party-button",
        "PrivateDevices=yes",
        "DevicePolicy=closed",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "SocketBindDeny=any",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=",
        "ExecStart=/opt/party-button/venv/bin/party-button mqtt "
        "--config /etc/party-button/config.yaml --socket /run/party-button/control.sock",
    ):
        assert required in settings, required
    assert not any(line.startswith(("DeviceAllow=", "PrivateNetwork=")) for line in settings)
    sysusers = (REPO / "systemd" / "party-button-mqtt.sysusers").read_text()
    assert re.search(r"^u party-button-mqtt - ", sysusers, re.MULTILINE)
    assert re.search(r"^m party-button-mqtt party-button$", sysusers, re.MULTILINE)


ADAPTERS = ("web", "mqtt")


@needs_systemctl
@pytest.mark.slow  # four installs with adapters, 10 s each: make check leaves it out
@pytest.mark.parametrize("mqtt", [False, True], ids=["mqtt-off", "mqtt-on"])
@pytest.mark.parametrize("web", [False, True], ids=["web-off", "web-on"])
def test_each_adapter_is_installed_when_enabled_and_removed_when_not(source, tmp_path, web, mqtt):
    root = tmp_path / "root"
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    assert files_under(root) == DAEMON_FILES  # the shipped config leaves both off
    kept = DAEMON_FILES | {"/etc/party-button/config.yaml.dist"}  # from the second install on
    on = {name for name, enabled in zip(ADAPTERS, (web, mqtt), strict=True) if enabled}

    for name in ADAPTERS:
        set_enabled(root, name, name in on)
    result = run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    assert files_under(root) == kept.union(*(adapter_files(name) for name in on))
    assert ("web page" in result.stdout, "MQTT bridge" in result.stdout) == (web, mqtt)
    for name in on:
        unit = f"party-button-{name}.service"
        wants = root / "etc/systemd/system/multi-user.target.wants" / unit
        assert os.readlink(wants) == f"/etc/systemd/system/{unit}"
        installed = root / "etc/systemd/system" / unit
        assert installed.read_text() == (REPO / "systemd" / unit).read_text()

    for name in ADAPTERS:
        set_enabled(root, name, False)
    result = run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    assert files_under(root) == kept
    for name in on:
        assert f"removing party-button-{name}.service" in result.stdout


@needs_systemctl
def test_uninstall_removes_the_adapters_too(source, tmp_path):
    root = tmp_path / "root"
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    for name in ADAPTERS:
        set_enabled(root, name, True)
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    assert files_under(root) >= adapter_files("web") | adapter_files("mqtt")
    run_script(source, "uninstall.sh", f"DESTDIR={root}")
    assert files_under(root) == {"/etc/party-button/config.yaml", *SONGS}


@needs_systemctl
@pytest.mark.parametrize(
    ("name", "wrong", "problem"),
    [
        ("mqtt", "  host: mqtt://broker", "mqtt.host: expected a host name or address, not a URL"),
        ("web", '  pin: "x"', "web.pin: expected 4 to 12 digits in quotes"),
    ],
)
def test_the_installer_stops_on_a_wrong_adapter_section(source, tmp_path, name, wrong, problem):
    root = tmp_path / "root"
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    config = root / "etc/party-button/config.yaml"
    right = {"mqtt": "  host: localhost", "web": r'  pin: "[0-9]+"'}[name]
    config.write_text(re.sub(rf"^{right}", wrong, config.read_text(), count=1, flags=re.M))
    result = run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv", status=1)
    assert problem in result.stderr
    assert "Traceback" not in result.stderr


def test_unit_has_the_required_settings():
    settings = [line.strip() for line in UNIT.read_text().splitlines()]
    for required in (
        "Type=notify",
        "NotifyAccess=main",
        "Restart=on-failure",
        "ExecReload=/opt/party-button/venv/bin/party-button reload",
        "StartLimitBurst=5",
        "ExecStopPost=/opt/party-button/venv/bin/party-button relays-off "
        "--config /etc/party-button/config.yaml",
        "User=party-button",
        "SupplementaryGroups=gpio audio video",
        "StateDirectory=party-button",
        "RuntimeDirectory=party-button",
        "ProtectSystem=strict",
        "DevicePolicy=closed",
        "PrivateNetwork=yes",
        "CapabilityBoundingSet=",
        "Nice=-5",  # the party before the other programs (benchmarks/latency.py runs at it)
    ):
        assert required in settings, required
    assert any(line.startswith("WatchdogSec=") for line in settings)
    assert any(line.startswith("SystemCallFilter=") for line in settings)


@needs_systemctl
def test_prefix_moves_the_virtual_environment_in_the_unit(source, tmp_path):
    root = tmp_path / "root"
    run_script(source, "install.sh", f"DESTDIR={root}", "PREFIX=/srv/pb", "--no-venv")
    unit = (root / "etc/systemd/system/party-button.service").read_text()
    assert "/opt/party-button" not in unit
    assert "ExecStart=/srv/pb/venv/bin/party-button run " in unit
    assert "ExecStopPost=/srv/pb/venv/bin/party-button relays-off " in unit
    beats = (root / "etc/systemd/system/party-button-beats@.service").read_text()
    assert "ExecStart=/srv/pb/venv/bin/python3 -m party_button.beats.worker" in beats


# A Debian or Ubuntu system's own groups (base-passwd): audio and video, but no gpio.
DEBIAN_GROUPS = "root:x:0:\naudio:x:29:\nvideo:x:44:\nusers:x:100:\n"


@pytest.mark.skipif(not shutil.which("systemd-sysusers"), reason="needs systemd-sysusers")
@needs_systemctl
def test_every_supplementary_group_exists_on_a_system_without_gpio(source, tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/group").write_text(DEBIAN_GROUPS)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    # What systemd-sysusers.service does at the next boot, before any unit starts.
    subprocess.run(
        ["systemd-sysusers", f"--root={root}", str(root / "etc/sysusers.d/party-button.conf")],
        check=True,
        capture_output=True,
    )
    groups = {line.split(":")[0] for line in (root / "etc/group").read_text().splitlines()}
    unit = (root / "etc/systemd/system/party-button.service").read_text()
    [wanted] = [line for line in unit.splitlines() if line.startswith("SupplementaryGroups=")]
    assert set(wanted.removeprefix("SupplementaryGroups=").split()) <= groups
    assert {"party-button", "gpio"} <= groups


def test_neither_the_beats_unit_nor_the_daemon_may_write_executable_memory():
    daemon = UNIT.read_text().splitlines()
    beats = BEATS_UNITS[1].read_text().splitlines()
    assert "MemoryDenyWriteExecute=yes" in daemon
    assert "Environment=PARTY_BUTTON_BEATS_SOCKET=/run/party-button-beats.sock" in daemon
    # The analysis compiles nothing at run time: no JIT allowance, no cache to write.
    assert not [line for line in beats if line.startswith(("CacheDirectory", "Environment=NUMBA"))]
    for setting in (
        "MemoryDenyWriteExecute=yes",
        "Nice=19",
        "CPUSchedulingPolicy=idle",
        "IOSchedulingClass=idle",
        "PrivateDevices=yes",
        "PrivateNetwork=yes",
        "ProtectSystem=strict",
    ):
        assert setting in beats, setting
    socket_unit = BEATS_UNITS[0].read_text().splitlines()
    assert "ListenStream=/run/party-button-beats.sock" in socket_unit
    assert "SocketMode=0600" in socket_unit and "SocketUser=party-button" in socket_unit


@needs_analyze
def test_systemd_analyze_verify_is_clean_for_the_beats_units(tmp_path):
    folder = tmp_path / "units"
    folder.mkdir()
    python = Path(sys.executable).with_name("python3")
    for unit in BEATS_UNITS:
        text = unit.read_text().replace("/opt/party-button/venv/bin/python3", str(python))
        (folder / unit.name).write_text(text)
    assert verify(*sorted(folder.iterdir())) == ""


@needs_systemctl
def test_the_demo_songs_generator_is_not_installed_with_the_songs(source, tmp_path):
    root = tmp_path / "root"
    run_script(source, "install.sh", f"DESTDIR={root}", "--no-venv")
    songs = root / STATE.lstrip("/") / "songs"
    assert (songs / "song0.ogg").is_file() and (songs / "intro/siren.ogg").is_file()
    assert not (songs / "make_demo_songs.py").exists()
    assert not (songs / "demo-songs.json").exists()

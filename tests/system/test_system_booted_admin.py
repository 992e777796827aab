"""The admin's day on a booted Debian 12: a config the service cannot use, the restart limit,
an upgrade during a party, and uninstall --purge.

One root, installed by ``systemd/install.sh`` as the README says, booted once; the tests run
in file order on it (the last one removes everything).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from party_button.testing import write_tone
from tests.system.booted import (
    CONFIG,
    MEMBER,
    UNIT,
    control,
    cursor,
    journal,
    lights_on,
    main_pid,
    wait_active,
    wait_idle,
    wait_until,
)
from tests.system.conftest import REPO, install
from tests.system.containers import SOURCE_IN_ROOT, Machine, WorkRoot
from tests.system.roots import base_root, download_caches, native_architecture, temporary_log

MUSIC = "/home/pi/Music"
GONE = "party_button/gone_upstream.py"
"""A module of the installed version that the next version no longer has."""
VENV_SITE = "/opt/party-button/venv/lib/python3.11/site-packages"
LONG = "/var/lib/party-button/long"
PARTY_SECONDS = 90
"""How long the party during the upgrade lasts (its one song is longer)."""
WHEELS = "/root/wheels"
OFFLINE_PIP = f"PIP_ARGS=--no-index --find-links={WHEELS} --no-deps"


@pytest.fixture(scope="module")
def root() -> Iterator[WorkRoot]:
    """Installed as the README says, from a checkout that has one more module than the next
    version; the build backend's wheels are fetched for the upgrade, which runs in the booted
    machine without a network."""
    log = temporary_log("admin-install")
    with WorkRoot(base_root(native_architecture(), log), "admin") as work:
        source = work.put_source(REPO)
        (source / GONE).write_text('"""A module the next version deletes."""\n')
        work.trust_host_certificate_authorities()
        install(work, native_architecture(), log)
        binds = download_caches(native_architecture())
        pip = ["/opt/party-button/venv/bin/pip", "download", "--quiet", "--dest", WHEELS]
        work.run([*pip, "setuptools>=68", "wheel"], log=log, binds=binds)
        yield work


@pytest.fixture(scope="module")
def machine(root: WorkRoot) -> Iterator[Machine]:
    config = root.path / CONFIG.relative_to("/")
    text = config.read_text().replace("pin_factory: auto", "pin_factory: mock")
    config.write_text(text.replace("max_duration: null", "max_duration: 40"))
    with Machine(root.path, temporary_log("admin-boot")) as booted:
        booted.run(["useradd", "--create-home", "--groups", "party-button", MEMBER])
        booted.run(["mkdir", "-p", "/etc/systemd/system/party-button.service.d"])
        booted.write(
            "/etc/systemd/system/party-button.service.d/audio.conf",
            "[Service]\nEnvironment=SDL_AUDIODRIVER=dummy\n",
        )
        booted.run(["systemctl", "daemon-reload"])
        booted.run(["systemctl", "restart", UNIT])
        yield booted


def with_music_folder(text: str) -> str:
    """The config with the admin's home music folder added to the songs' folders."""
    folders = "  folders: [/var/lib/party-button/songs]"
    assert folders in text
    return text.replace(folders, f"  folders: [/var/lib/party-button/songs, {MUSIC}]")


def test_check_config_sees_a_home_folder_as_the_service_does(machine):
    wait_active(machine)
    machine.run(["mkdir", "-p", MUSIC])
    machine.run(["cp", "/var/lib/party-button/songs/lift-off.ogg", MUSIC])
    machine.run(["chmod", "-R", "a+rX", "/home/pi"])
    good = machine.run(["cat", str(CONFIG)]).stdout
    machine.write("/root/music.yaml", with_music_folder(good))
    machine.run(["cp", "/root/music.yaml", "/etc/party-button/candidate.yaml"])
    # Root reads the folder: another file is checked as root, and a note says so.
    other = machine.run(["party-button", "check-config", "/etc/party-button/candidate.yaml"])
    assert "OK" in other.stdout
    machine.run(["cp", str(CONFIG), "/root/good.yaml"])
    machine.run(["cp", "/root/music.yaml", str(CONFIG)])
    result = machine.run(["party-button", "check-config"], check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"folder '{MUSIC}' cannot be reached" in result.stderr
    assert "(the service's sandbox hides /home: ProtectHome=yes)" in result.stderr
    machine.run(["cp", "/root/good.yaml", str(CONFIG)])
    ok = machine.run(["party-button", "check-config"])
    assert "note: checked as party-button.service sees the files" in ok.stdout


def test_the_journal_names_who_pressed_and_each_relay(machine):
    wait_idle(machine)
    before = cursor(machine)
    assert lights_on(control(machine, "press"))  # as the group member, through the socket
    uid = machine.run(["id", "-u", MEMBER]).stdout.strip()
    wait_until(
        lambda: f"press (control, uid {uid} ({MEMBER}) pid " in journal(machine, after=before),
        30,
        "the press with its sender's uid and name in the journal",
    )
    lights = machine.run(
        ["journalctl", "--no-pager", "--output=cat", "--unit=party-button", "RELAY=lights"]
    ).stdout.splitlines()
    assert "party lights on: lights" in lights
    wait_idle(machine)


def test_reload_of_a_folder_the_service_cannot_read_fails_and_keeps_the_daemon(machine):
    wait_idle(machine)
    pid = main_pid(machine)
    before = cursor(machine)
    machine.run(["cp", "/root/music.yaml", str(CONFIG)])
    reload = machine.run(["systemctl", "reload", UNIT], check=False)
    assert reload.returncode != 0
    messages = journal(machine, after=before)
    assert f"songs.folders: folder '{MUSIC}' cannot be reached" in messages
    status = machine.run(["systemctl", "status", "--no-pager", UNIT], check=False).stdout
    assert "reload failed (1 problem(s) in /etc/party-button/config.yaml)" in status
    assert main_pid(machine) == pid
    assert lights_on(control(machine, "press"))
    control(machine, "stop")
    wait_idle(machine)


def test_relays_end_off_with_the_broken_config_and_the_restarts_stop(machine):
    wait_idle(machine)
    machine.run(["cp", "/root/music.yaml", str(CONFIG)])
    assert lights_on(control(machine, "press"))
    before = cursor(machine)
    machine.run(["systemctl", "kill", "--kill-who=main", "--signal=KILL", UNIT])

    def gave_up() -> bool:
        said = "party-button.service: Start request repeated too quickly."
        active = machine.run(["systemctl", "is-active", UNIT], check=False).stdout.strip()
        return active == "failed" and said in journal(machine, after=before)

    wait_until(gave_up, 300, "systemd giving up after the start limit")
    messages = journal(machine, after=before)
    assert "Traceback" not in messages
    assert (
        "not started: fix the config, then: "
        "systemctl reset-failed party-button; systemctl restart party-button"
    ) in messages
    # ExecStopPost drove the relays off after every start, the broken config notwithstanding.
    starts = messages.count("Starting party-button.service")
    assert starts >= 4
    assert messages.count("relays off: lights, beacon, fog, strobe") == starts + 1
    status = machine.run(["systemctl", "status", "--no-pager", UNIT], check=False).stdout
    assert "Start request repeated too quickly" in status
    reload = machine.run(["systemctl", "reload", UNIT], check=False)
    assert reload.returncode != 0
    machine.run(["cp", "/root/good.yaml", str(CONFIG)])
    refused = machine.run(["systemctl", "restart", UNIT], check=False)
    assert refused.returncode != 0  # the start limit holds until reset
    machine.run(["systemctl", "reset-failed", UNIT])
    machine.run(["systemctl", "restart", UNIT])
    wait_active(machine)


def test_an_upgrade_waits_for_the_party_to_end_and_leaves_a_clean_checkout(machine, tmp_path):
    # A party of one long song, cut by max_duration long after the installer has reached its
    # wait (it copies the checkout and refreshes the venv first, seconds even under load).
    long_song = machine.root / "var/lib/party-button/long/long.wav"
    long_song.parent.mkdir()
    write_tone(tmp_path / "long.wav", 150.0, 330.0)  # (libsndfile crashes on long Ogg)
    long_song.write_bytes((tmp_path / "long.wav").read_bytes())
    machine.run(["chown", "-R", "party-button:party-button", str(LONG)])
    good = machine.run(["cat", str(CONFIG)]).stdout
    folders = "  folders: [/var/lib/party-button/songs]"
    party = good.replace(folders, f"  folders: [{LONG}]").replace(
        "max_duration: 40", f"max_duration: {PARTY_SECONDS}"
    )
    machine.write(str(CONFIG), party)
    machine.run(["systemctl", "reload", UNIT])
    wait_until(lambda: control(machine, "status")["songs"] == 1, 60, "the long song scanned")
    site = machine.root / VENV_SITE.lstrip("/")
    assert (site / GONE).is_file()  # the installed version had it
    (machine.root / SOURCE_IN_ROOT.lstrip("/") / GONE).unlink()  # the new one has not
    old = main_pid(machine)
    machine.run(["touch", "/root/before-upgrade"])
    assert lights_on(control(machine, "press"))
    script = f"cd {SOURCE_IN_ROOT} && systemd/install.sh --no-apt '{OFFLINE_PIP}'"
    upgrade = subprocess.Popen(
        machine.command(["sh", "-c", script]),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[tuple[int, str]] = []
    while upgrade.poll() is None:
        status = machine.run(["party-button", "status", "--json"], check=False)
        if '"phase"' in status.stdout:
            phase = status.stdout.split('"phase": "')[1].split('"')[0]
            seen.append((main_pid(machine), phase))
        time.sleep(0.5)
    output = upgrade.stdout.read() if upgrade.stdout else ""
    assert upgrade.returncode == 0, output
    assert "a party is on" in output and "waits for its end" in output
    old_phases = [phase for pid, phase in seen if pid == old]
    # The old daemon's party ran to its end (max_duration) and was idle before the restart.
    assert old_phases[0] in ("intro", "party") and "idle" in old_phases
    assert old_phases.index("idle") > old_phases.index(old_phases[0])
    new = wait_active(machine)
    assert new != old
    assert not (site / GONE).exists()
    checkout = machine.root / SOURCE_IN_ROOT.lstrip("/")
    assert not (checkout / "build").exists()
    assert not list(checkout.glob("*.egg-info"))
    written = machine.run(["find", SOURCE_IN_ROOT, "-newer", "/root/before-upgrade"])
    assert written.stdout == ""  # the installer wrote nothing into the checkout
    assert "What differs:" in output
    machine.write(str(CONFIG), good)
    machine.run(["systemctl", "reload", UNIT])


def test_uninstall_purge_leaves_nothing(machine):
    result = machine.run([f"{SOURCE_IN_ROOT}/systemd/uninstall.sh", "--purge"])
    assert "party-button removed" in result.stdout
    for path in ("/etc/party-button", "/var/lib/party-button", "/opt/party-button"):
        assert not (machine.root / path.lstrip("/")).exists(), path
    assert machine.run(["getent", "passwd", "party-button"], check=False).returncode == 2
    assert machine.run(["getent", "group", "party-button"], check=False).returncode == 2
    assert "party-button" not in machine.run(["id", "-nG", MEMBER]).stdout
    left = machine.run(
        ["find", "/etc", "/var/lib", "/opt", "/usr/local", "-name", "*party-button*"],
        check=False,
    ).stdout
    assert left == ""
    assert machine.run(["systemctl", "cat", UNIT], check=False).returncode != 0

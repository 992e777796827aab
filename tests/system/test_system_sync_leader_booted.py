"""The rooms leader, booted: the daemon feeds Debian's snapserver from under its shipped sandbox.

The installed root gets ``sync: {enabled: true, role: leader}`` and the installer is run again,
as ``docs/howto/rooms.md`` says: it installs Debian's snapserver, snapclient and sox, writes
``/etc/snapserver.conf`` and snapserver's drop-in, and enables ``party-button-sync``. The
machine then boots with the units as shipped: the daemon keeps ``PrivateNetwork=yes``,
``ProtectSystem=strict`` and the rest of its sandbox, and must still open snapserver's FIFO
and feed it. A snapclient of the test's own, writing what it would play into a file, hears
what the stream carries: silence while idle, the song after a press.

Its name sorts after the other booted modules that share the installed root: the leader's
daemon plays through Snapcast from then on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.booted import (
    CONFIG,
    UNIT,
    control,
    cursor,
    journal,
    wait_active,
    wait_idle,
    wait_until,
)
from tests.system.containers import SOURCE_IN_ROOT, Machine, WorkRoot
from tests.system.roots import download_caches, native_architecture, temporary_log

PIPE = Path("/run/snapserver/party-button")
HEARD = Path("/var/tmp/heard.raw")
LISTENER = "heard-in-the-test.service"
FRAME_BYTES = 4  # 16 bit, 2 channels: what snapserver.conf's sample format says
LEADER = "sync:\n  enabled: true\n"
OUTSIDER = "guest"


def as_leader(config: str) -> str:
    """The shipped config with mock pins (the container is not a Pi) and sync on, as leader."""
    config = config.replace("pin_factory: auto", "pin_factory: mock")
    assert "sync:\n  enabled: false\n" in config
    return config.replace("sync:\n  enabled: false\n", LEADER)


@pytest.fixture(scope="module")
def machine(native_root: WorkRoot) -> Iterator[Machine]:
    """The root with sync on as leader and the installer run again, booted."""
    config = native_root.path / CONFIG.relative_to("/")
    config.write_text(as_leader(config.read_text()))
    log = temporary_log("sync-install")
    script = f"cd {SOURCE_IN_ROOT} && systemd/install.sh EXTRAS=beats"
    native_root.run(["sh", "-c", script], log=log, binds=download_caches(native_architecture()))
    with Machine(native_root.path, temporary_log("sync-boot")) as booted:
        # The installed root is shared with the other booted tests: the user may be there.
        if booted.run(["id", OUTSIDER], check=False).returncode != 0:
            booted.run(["useradd", "--create-home", OUTSIDER])
        yield booted


def heard(machine: Machine) -> bytes:
    """What the test's snapclient has played so far (whole frames)."""
    path = machine.root / str(HEARD).lstrip("/")
    data = path.read_bytes() if path.exists() else b""
    return data[: len(data) - len(data) % FRAME_BYTES]


def loud_frames(data: bytes) -> int:
    """How many frames of ``data`` are not silence."""
    frames = (data[index : index + FRAME_BYTES] for index in range(0, len(data), FRAME_BYTES))
    return sum(frame != bytes(FRAME_BYTES) for frame in frames)


def test_the_leaders_daemon_opens_snapservers_fifo_under_its_sandbox(machine):
    wait_active(machine)
    wait_active(machine, unit="snapserver.service")
    shown = machine.run(["systemctl", "show", "--property=PrivateNetwork,ProtectSystem", UNIT])
    assert sorted(shown.stdout.split()) == ["PrivateNetwork=yes", "ProtectSystem=strict"]
    # The daemon may have started before snapserver made the FIFO: it retries the audio.
    expected = f"Snapcast stream {PIPE} (44100 Hz, 16 bit, 2 channels)"
    status = wait_until(
        lambda: (status := control(machine, "status", None))["audio"] == expected and status,
        60,
        "the daemon opening snapserver's stream",
    )
    # snapserver reads what the daemon writes.
    wait_until(
        lambda: control(machine, "status", None)["stream"]["server_reading"],
        30,
        "snapserver reading the daemon's stream",
    )
    assert status["stream"]["pipe"] == str(PIPE)
    booted = machine.run(["journalctl", "--no-pager", "--output=cat", "--boot", "--unit", UNIT])
    assert "audio retried" not in booted.stdout  # the daemon starts after snapserver
    # Only the party-button group reaches the FIFO (snapserver makes it writable by all).
    shown = machine.run(["stat", "--format=%F %G %a", str(PIPE.parent), str(PIPE)]).stdout
    folder, fifo = shown.splitlines()
    assert folder == "directory party-button 750"
    assert fifo.startswith("fifo party-button ")
    stranger = machine.run(["sh", "-c", f"exec 3>{PIPE}"], user=OUTSIDER, check=False)
    assert stranger.returncode != 0
    assert "Permission denied" in stranger.stderr


def test_a_press_on_the_leader_puts_the_song_into_the_stream(machine):
    wait_idle(machine, user=None)
    machine.run(["rm", "-f", str(HEARD)])
    machine.run(
        ["systemd-run", f"--unit={LISTENER}", "snapclient", "--host", "127.0.0.1", "--hostID",
         "heard-in-the-test", "--player", f"file:filename={HEARD}", "--logsink", "stderr"]
    )  # fmt: skip
    try:
        # Idle, the daemon keeps the stream going with silence.
        wait_until(lambda: len(heard(machine)) > 44100 * FRAME_BYTES, 60, "a second of stream")
        idle = heard(machine)
        assert loud_frames(idle) == 0
        before = cursor(machine)
        assert control(machine, "press", None)["phase"] in ("intro", "party")
        playing = wait_until(
            lambda: (status := control(machine, "status", None))["playing"] and status,
            30,
            "the song after the intro",
        )
        # The song is heard through Snapcast: loud frames after the press, a buffer later.
        wait_until(
            lambda: loud_frames(heard(machine)[len(idle) :]) > 44100,
            60,
            f"a second of {playing['playing']} in the stream",
        )
        assert f"playing {playing['playing']}" in journal(machine, after=before)
        control(machine, "stop", None)
        wait_idle(machine, user=None)
    finally:
        machine.run(["systemctl", "stop", LISTENER], check=False)


def test_uninstall_gives_snapcast_debians_settings_back(machine):
    # Last: the root has no party-button after it.
    machine.run([f"{SOURCE_IN_ROOT}/systemd/uninstall.sh"])
    shown = ["dpkg-query", "--show", "--showformat=${Conffiles}\n", "snapserver", "snapclient"]
    packaged = dict(line.split()[:2] for line in machine.run(shown).stdout.splitlines() if line)
    for path in ("/etc/snapserver.conf", "/etc/default/snapclient"):
        assert machine.run(["md5sum", path]).stdout.split()[0] == packaged[path], path
        assert machine.run(["test", "-e", f"{path}.party-button-saved"], check=False).returncode
    drop_in = "/etc/systemd/system/snapserver.service.d/party-button.conf"
    assert machine.run(["test", "-e", drop_in], check=False).returncode
    # snapserver goes on, restarted with Debian's settings (its FIFO where Debian puts it).
    wait_active(machine, unit="snapserver.service")
    wait_until(
        lambda: machine.run(["test", "-p", "/tmp/snapfifo"], check=False).returncode == 0,
        30,
        "snapserver's own FIFO",
    )

"""Helpers of the tests that run on a booted machine: waiting for units, the daemon's state."""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.system.containers import Machine

UNIT = "party-button.service"
CONFIG = Path("/etc/party-button/config.yaml")
RELAYS = ("lights", "beacon", "fog", "strobe")
MEMBER = "dj"
"""A shell user in the party-button group (made by the booted tests)."""


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something true; fail saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:g}s")
        time.sleep(0.2)
    return result


def main_pid(machine: Machine, unit: str = UNIT) -> int:
    shown = machine.run(["systemctl", "show", "--property=MainPID", "--value", unit])
    return int(shown.stdout.strip())


def wait_active(machine: Machine, timeout: float = 90, unit: str = UNIT) -> int:
    """Wait for ``unit`` to be active (READY=1 received); returns its main PID."""

    def active() -> bool:
        return machine.run(["systemctl", "is-active", unit], check=False).stdout.strip() == "active"

    wait_until(active, timeout, f"{unit} becoming active")
    return main_pid(machine, unit)


def wait_status(machine: Machine, text: str, timeout: float = 30, unit: str = UNIT) -> None:
    """Wait for ``systemctl status`` to show ``text`` (a service's STATUS= reaches systemd
    asynchronously, and the daemon's first scan of the songs may still be under way)."""

    def shown() -> bool:
        status = machine.run(["systemctl", "status", "--no-pager", unit], check=False)
        return text in status.stdout

    wait_until(shown, timeout, f"systemctl status {unit} showing {text}")


def cursor(machine: Machine) -> str:
    """Where the journal ends now: later reads start after it."""
    shown = machine.run(["journalctl", "--lines=0", "--show-cursor", "--no-pager"]).stdout
    [line] = [line for line in shown.splitlines() if line.startswith("-- cursor: ")]
    return line.removeprefix("-- cursor: ")


def journal(machine: Machine, *, after: str, unit: str = UNIT) -> str:
    """The messages of ``unit`` (a glob such as ``party-button-beats@*.service``) since the
    cursor ``after``, one a line.

    The unit is matched here, not by journalctl: ``--after-cursor`` with a match skips the
    first matching entry when the cursor's own entry does not match.
    """
    command = ["journalctl", "--no-pager", "--output=json", f"--after-cursor={after}"]
    fields = "--output-fields=MESSAGE,_SYSTEMD_UNIT,UNIT"
    lines = []
    for line in machine.run([*command, fields], check=False).stdout.splitlines():
        entry = json.loads(line)
        units = (entry.get("_SYSTEMD_UNIT", ""), entry.get("UNIT", ""))
        if any(fnmatch.fnmatchcase(name, unit) for name in units):
            message = entry.get("MESSAGE", "")
            lines.append(
                bytes(message).decode(errors="replace") if isinstance(message, list) else message
            )
    return "".join(f"{message}\n" for message in lines)


def control(machine: Machine, command: str, user: str | None = MEMBER) -> dict[str, Any]:
    """``party-button COMMAND --json`` as ``user`` (``None``: root), as a shell user runs it."""
    result = machine.run(["party-button", command, "--json"], user=user, check=False)
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


def lights_on(status: dict[str, Any]) -> bool:
    """Whether the status shows every relay, and the light show has some of them on."""
    return set(status["relays"]) == set(RELAYS) and any(status["relays"].values())


def wait_lit(machine: Machine, what: str, user: str | None = MEMBER) -> dict[str, Any]:
    """The daemon's status once its party has relays on: the shipped intro blinks, so one
    look may fall between two blinks."""

    def lit() -> dict[str, Any] | None:
        status = control(machine, "status", user)
        return status if lights_on(status) else None

    return wait_until(lit, 30, what)


def wait_idle(machine: Machine, timeout: float = 60, user: str | None = MEMBER) -> dict[str, Any]:
    """End any party and wait for the idle phase, relays off."""
    if control(machine, "status", user)["phase"] in ("intro", "party"):
        control(machine, "stop", user)

    def idle() -> dict[str, Any] | None:
        status = control(machine, "status", user)
        return status if status["phase"] == "idle" else None

    status = wait_until(idle, timeout, "the idle phase")
    assert not any(status["relays"].values())
    return status

"""``party-button check-config [PATH]``: validate a config file; every problem is one line.

The installed service reads its paths as its own user, inside its sandbox (``ProtectHome=``
hides /home, for one). Run as root on the system's config while the service is installed,
the check runs again in a transient unit with the service's user and sandbox, so that a
folder the admin can read and the service cannot is a problem here too; where that cannot
be done, a note says as whom the paths were checked.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

from party_button.cli.common import EXIT_OK, add_command, say_enabled
from party_button.config.paths import PathContext
from party_button.config.schema import SYSTEM_CONFIG, ClipsConfig, find_config, load_config
from party_button.config.walker import load_section, read_into

UNIT = "party-button.service"
# What decides how the service sees the files: copied from the installed unit.
SANDBOX = (
    "User",
    "Group",
    "SupplementaryGroups",
    "ProtectHome",
    "ProtectSystem",
    "PrivateTmp",
    "PrivateUsers",
    "InaccessiblePaths",
    "ReadOnlyPaths",
    "TemporaryFileSystem",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``check-config`` to the main command."""
    parser = add_command(subparsers, "check-config", run, "validate a config file")
    parser.add_argument("path", nargs="?", help="the file to check (default: the one in use)")
    parser.add_argument(
        "--is-enabled",
        choices=["clips"],
        help="check only that section, print whether its 'enabled' is true, and exit",
    )
    parser.add_argument(
        "--here",
        action="store_true",
        help="check the paths as this user sees them, not as the installed service does",
    )


def run(args: argparse.Namespace) -> int:
    """Validate the file; its problems are raised as one :class:`ConfigError`."""
    path = find_config(args.path or args.config)
    if args.is_enabled:
        context = PathContext(path.resolve().parent)
        clips = load_section(
            path, "clips", lambda section: read_into(ClipsConfig, section, context)
        )
        return say_enabled(path, "clips", clips.enabled)
    if not args.here and path.resolve() == SYSTEM_CONFIG:
        sandbox = _service_sandbox()
        if isinstance(sandbox, list):
            return _check_in(sandbox, path)
        note = sandbox
    else:
        note = None
    config = load_config(path)
    print(f"{config.path}: OK ({len(config.relays)} relays)")
    if note:
        print(f"note: {note}")
    return EXIT_OK


def _service_sandbox() -> list[str] | str:
    """``systemd-run``'s properties that give the installed service's view of the files, or
    why they cannot be had (then the note printed with the result)."""
    user = pwd.getpwuid(os.getuid()).pw_name
    checked = f"the paths were checked as {user}, not as {UNIT} sees them"
    if os.geteuid() != 0:
        return f"{checked} (its user and sandbox): run as root to check them that way"
    if not Path("/run/systemd/system").is_dir() or not shutil.which("systemd-run"):
        return f"{checked}: systemd is not running here"
    shown = subprocess.run(
        ["systemctl", "show", UNIT, "--property=LoadState", *(f"--property={p}" for p in SANDBOX)],
        capture_output=True,
        text=True,
        check=False,
    )
    values = dict(line.split("=", 1) for line in shown.stdout.splitlines() if "=" in line)
    if values.get("LoadState") != "loaded":
        return f"{checked}: {UNIT} is not installed"
    return [f"--property={name}={values[name]}" for name in SANDBOX if values.get(name)]


def _check_in(sandbox: list[str], path: Path) -> int:
    """Run this check again as the service's user, in its sandbox; its output is ours."""
    command = [sys.executable, "-I", "-m", "party_button", "check-config", "--here", str(path)]
    run = ["systemd-run", "--quiet", "--wait", "--pipe", "--collect", *sandbox, "--", *command]
    result = subprocess.run(run, stdin=subprocess.DEVNULL, check=False)
    if result.returncode == 0:
        print(f"note: checked as {UNIT} sees the files (its user and sandbox)")
    return result.returncode

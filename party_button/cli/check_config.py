"""``party-button check-config [PATH]``: validate a config file; every problem is one line.
``party-button config``: the effective configuration, every default filled in.

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

import yaml

from party_button.cli.common import EXIT_OK, add_command, config_of, say_enabled
from party_button.config.location import SYSTEM_CONFIG, find_config
from party_button.config.paths import PathContext
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
    text = "validate a config file"
    parser = add_command(subparsers, "check-config", run, text, example="config/config.yaml")
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
    text = "print the effective configuration: every setting after defaults, secrets masked"
    add_command(subparsers, "config", show, text, example="--config config/config.yaml")


def run(args: argparse.Namespace) -> int:
    """Validate the file; its problems are raised as one :class:`ConfigError`."""
    from party_button.config.schema import ClipsConfig, load_config  # the whole schema only here

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
    count = len(config.relays)
    print(f"{config.path}: OK ({count} relay{'' if count == 1 else 's'})")
    if note:
        print(f"note: {note}")
    return EXIT_OK


def show(args: argparse.Namespace) -> int:
    """Print the config in use as YAML, after defaults, with the web page's secrets masked."""
    from party_button.config.effective import effective  # the whole schema only here

    config = config_of(args)
    print(f"# {config.path}, with every default filled in")
    print(yaml.safe_dump(effective(config), sort_keys=False, allow_unicode=True), end="")
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

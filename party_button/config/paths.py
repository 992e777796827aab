"""Paths written in the config: relative to the config file's folder, ``~`` expanded, and
checked the way the process that uses them sees them (every OS error is a problem, never a
traceback)."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from party_button.config.yaml_reader import MapReader

# What the service's sandbox makes inaccessible (ProtectHome=yes): a path refused there says
# so, since the admin can read it and the service cannot.
SANDBOX_HIDDEN = ("/home", "/root", "/run/user")


@dataclass
class PathContext:
    """What a reader of a path needs: the folder of the config file."""

    base: Path


def resolve(base: Path, raw: str) -> Path:
    """``raw`` with ``~`` expanded, taken relative to ``base`` unless absolute."""
    path = Path(os.path.expanduser(raw))
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def path_problem(path: Path, kind: Literal["file", "folder"]) -> str | None:
    """Why this process cannot read ``path`` as a ``kind``, or ``None`` when it can.

    ``"file 'PATH' does not exist"``, ``"folder 'PATH' cannot be read: permission denied"``
    ... with, for a path refused under one the service's sandbox hides, which setting.
    """
    reason = _reason(path, kind)
    if reason is None:
        return None
    problem = f"{kind} {str(path)!r} {reason}"
    hidden = [folder for folder in SANDBOX_HIDDEN if path.is_relative_to(folder)]
    if hidden and "permission denied" in reason:
        return f"{problem} (the service's sandbox hides {hidden[0]}: ProtectHome=yes)"
    return problem


def _reason(path: Path, kind: Literal["file", "folder"]) -> str | None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "does not exist"
    except PermissionError:
        return "cannot be reached: permission denied on a folder above it"
    except NotADirectoryError:
        return "does not exist: a part of its path is not a folder"
    except OSError as exc:
        return f"cannot be reached: {exc.strerror or errno.errorcode.get(exc.errno or 0, exc)}"
    if kind == "folder" and not stat.S_ISDIR(mode):
        return "is not a folder"
    if kind == "file" and not stat.S_ISREG(mode):
        return "is not a regular file"
    wanted = os.R_OK | os.X_OK if kind == "folder" else os.R_OK
    if not os.access(path, wanted):
        return "cannot be read: permission denied"
    return None


def existing_file(
    section: MapReader, key: str, _default: Any, ctx: PathContext, _values: dict
) -> Path | None:
    """A walker reader: the file named by ``key`` (``None`` when absent), which must exist
    and be readable."""
    raw = section.string(key, None)
    if raw is None:
        return None
    path = resolve(ctx.base, raw)
    if problem := path_problem(path, "file"):
        section.error(problem, key)
    return path

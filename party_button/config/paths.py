"""Paths written in the config: relative to the config file's folder, ``~`` expanded."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from party_button.config.yaml_reader import MapReader


@dataclass
class PathContext:
    """What a reader of a path needs: the folder of the config file."""

    base: Path


def resolve(base: Path, raw: str) -> Path:
    """``raw`` with ``~`` expanded, taken relative to ``base`` unless absolute."""
    path = Path(os.path.expanduser(raw))
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def existing_file(
    section: MapReader, key: str, _default: Any, ctx: PathContext, _values: dict
) -> Path | None:
    """A walker reader: the file named by ``key`` (``None`` when absent), which must exist."""
    raw = section.string(key, None)
    if raw is None:
        return None
    path = resolve(ctx.base, raw)
    if not path.is_file():
        section.error(f"file {str(path)!r} does not exist", key)
    return path

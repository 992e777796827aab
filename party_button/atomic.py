"""Writing a JSON file so that readers never see half of it: a temporary file, then a rename."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_json_atomically(path: Path, data: object, *, newline: bool = False) -> Path:
    """Write ``data`` (indented) to ``path`` through a temporary file beside it, synced to
    disk and renamed over ``path``; with ``newline`` the file ends with one. An
    :class:`OSError` leaves ``path`` as it was and no temporary file behind."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1)
            if newline:
                out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path

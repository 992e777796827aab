"""The videos a render command names: files, and the videos in folders, recursively.

In a folder, a video is a file with a video extension that is not hidden, not in a hidden
folder, and not a clip that party-button render made (``*.outlined.*``, or one with our
sidecar beside it), so that clips written into the folder they came from are never taken
for inputs. Links to files are followed, links to folders are not (no loops). A file named
on the command line is taken as it is. The same file found twice is rendered once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from party_button.render.outputs import is_clip

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv"}
)


@dataclass
class Found:
    """The videos found, each with the folder its clip goes to (relative to the output
    folder), and the paths that could not be searched."""

    videos: list[tuple[Path, Path]] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)


def find_videos(paths: Sequence[Path]) -> Found:
    """Expand ``paths`` (video files and folders) into the videos to render."""
    found = Found()
    seen: set[tuple[int, int]] = set()

    def add(video: Path, subfolder: Path) -> None:
        try:
            status = video.stat()
        except OSError as error:
            found.problems.append((video, f"{video}: cannot read it ({error.strerror})"))
            return
        if (status.st_dev, status.st_ino) not in seen:
            seen.add((status.st_dev, status.st_ino))
            found.videos.append((video, subfolder))

    for path in paths:
        if path.is_dir():
            before = len(found.videos) + len(found.problems)
            _search(path, add, found)
            if len(found.videos) + len(found.problems) == before:
                found.problems.append((path, f"{path}: is a folder without videos"))
        elif path.exists():
            add(path, Path())
        else:
            found.problems.append((path, f"{path}: no such file or folder"))
    return found


def _search(folder: Path, add, found: Found) -> None:
    def failed(error: OSError) -> None:
        where = error.filename or folder
        found.problems.append((Path(where), f"{where}: cannot search it ({error.strerror})"))

    for root, folders, files in os.walk(folder, onerror=failed):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(files):
            path = Path(root, name)
            if (
                not name.startswith(".")
                and path.suffix.lower() in VIDEO_EXTENSIONS
                and not is_clip(path)
            ):
                add(path, Path(root).relative_to(folder))

"""Where each clip goes, and what a render must never replace.

A render writes three things next to its clip: the clip (``.mp4``), its sidecar (the same
name with ``.json``) and, until it is done, a hidden work folder. None of them may be an
input video of the same command (reached by any path: a symlink, a hard link, ``./x``), two
videos of one command may not share a clip, and a file that party-button render did not make
is never replaced, not even with ``--overwrite``: a clip counts as ours only when a sidecar
beside it, with our format, names it.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from party_button.errors import SettingsError

FORMAT = "party-button-render/1"
#: What the render adds to a video's name for its clip; such files are never inputs.
CLIP_SUFFIX = ".outlined.mp4"
CLIP_MARK = ".outlined."


@dataclass(frozen=True)
class Planned:
    """A video and the clip it is rendered to."""

    video: Path
    output: Path


@dataclass(frozen=True)
class Refused:
    """A video that is not rendered, and why (one line)."""

    video: Path
    reason: str


def clip_name(video: Path) -> str:
    """The clip's file name for ``video``: ``NAME.outlined.mp4``."""
    return f"{video.stem}{CLIP_SUFFIX}"


def sidecar_of(clip: Path) -> Path:
    """The sidecar that goes with ``clip``."""
    return clip.with_suffix(".json")


def is_ours(sidecar: Path, clip: str) -> bool:
    """True if ``sidecar`` is a party-button render sidecar of the clip named ``clip``."""
    try:
        with sidecar.open(encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT and data.get("clip") == clip


def is_clip(path: Path) -> bool:
    """True if ``path`` looks like a clip that party-button render made."""
    return CLIP_MARK in path.name or is_ours(sidecar_of(path), path.name)


def finished_clip(output: Path) -> bool:
    """True if a finished clip of ours is at ``output``.

    Raises :class:`SettingsError` when ``output`` or its sidecar is something that the
    render would replace but did not make.
    """
    sidecar = sidecar_of(output)
    if output.is_dir():
        raise SettingsError(f"{output}: is a folder, not a clip")
    ours = is_ours(sidecar, output.name)
    if (sidecar.exists() or sidecar.is_symlink()) and not ours:
        raise SettingsError(
            f"{sidecar}: exists and is not the sidecar of a party-button clip named "
            f"{output.name}; the render would replace it: move it away or choose another clip"
        )
    if output.exists() or output.is_symlink():
        if not ours:
            raise SettingsError(
                f"{output}: exists and was not made by party-button render (no sidecar "
                f"{sidecar.name} beside it says so); move it away or choose another clip"
            )
        return True
    return False


def _identity(path: Path) -> tuple:
    """What two paths to the same file share: the inode where it exists, else the path with
    its folders' links resolved."""
    try:
        status = path.stat()
        return ("inode", status.st_dev, status.st_ino)
    except OSError:
        return ("path", os.path.realpath(path))


def plan(
    videos: Sequence[tuple[Path, Path]], output: Path | None, output_dir: Path
) -> list[Planned | Refused]:
    """The clip of each video, given as ``(video, subfolder)``: ``output`` when one video is
    rendered to a named clip, else ``output_dir/subfolder/NAME.outlined.mp4``.

    Videos whose clip, sidecar or work folder would hit an input of the command, or whose
    clip another video of the command would also write, are refused.
    """
    if output is not None and len(videos) != 1:
        raise SettingsError(
            f"-o names the clip of one video, but {len(videos)} videos are to be rendered; "
            f"use --output-dir for a folder of clips"
        )
    planned = [
        Planned(video, output or output_dir / subfolder / clip_name(video))
        for video, subfolder in videos
    ]
    inputs = {_identity(item.video): item.video for item in planned}
    for video, _ in videos:
        inputs.setdefault(("path", os.path.realpath(video)), video)
    sharing: dict[tuple, list[Planned]] = defaultdict(list)
    for item in planned:
        sharing[_identity(item.output)].append(item)
    results: list[Planned | Refused] = []
    for item in planned:
        reason = _hits_input(item, inputs)
        others = [o.video for o in sharing[_identity(item.output)] if o is not item]
        if reason is None and others:
            names = ", ".join(str(video) for video in others)
            reason = (
                f"{names} would also be rendered to {item.output}; "
                f"render them one at a time with -o"
            )
        results.append(item if reason is None else Refused(item.video, reason))
    return results


def _hits_input(item: Planned, inputs: dict[tuple, Path]) -> str | None:
    work = item.output.parent / f".{item.output.name}.render"
    for written, what in (
        (item.output, "the clip"),
        (sidecar_of(item.output), "the sidecar"),
        (work, "the work folder"),
    ):
        for identity in (_identity(written), ("path", os.path.realpath(written))):
            if identity in inputs:
                return (
                    f"{what} {written} would replace the input video {inputs[identity]}; "
                    f"choose another clip with -o or --output-dir"
                )
    return None

"""Many videos in one command: what became of each, rendering them one by one here, and the
summary table at the end."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from party_button.errors import RenderError
from party_button.render.job import RenderResult, render
from party_button.render.options import RenderOptions
from party_button.render.parts import Segmenters
from party_button.render.progress import JobProgress

RENDERED, RESUMED, SKIPPED, FAILED = "rendered", "resumed", "skipped", "failed"


@dataclass(frozen=True)
class Outcome:
    """What became of one video: its clip, or why there is none."""

    video: Path
    status: str
    clip: Path | None = None
    frames: int = 0
    seconds: float = 0.0
    message: str = ""

    @property
    def failed(self) -> bool:
        """True if the video has no clip because something went wrong."""
        return self.status == FAILED


def failed(video: Path, error: str | BaseException) -> Outcome:
    """The outcome of a video that could not be rendered, said in one line."""
    return Outcome(video, FAILED, message=str(error))


def skipped(options: RenderOptions) -> Outcome:
    """The outcome of a clip that was finished already."""
    return Outcome(
        options.video,
        SKIPPED,
        options.output,
        message="finished already; --overwrite renders it again",
    )


def rendered(video: Path, result: RenderResult) -> Outcome:
    """The outcome of a published clip."""
    status = RESUMED if result.resumed else RENDERED
    return Outcome(video, status, result.clip, result.frames, result.seconds)


def render_one_here(
    options: RenderOptions, segmenters: Segmenters, progress: JobProgress
) -> Outcome:
    """Render one video in this process; a failure becomes its outcome."""
    try:
        result = render(options, segmenters, progress)
        outcome = skipped(options) if result is None else rendered(options.video, result)
    except RenderError as error:
        outcome = failed(options.video, error)
    progress.end(options.video)
    return outcome


def summary(outcomes: list[Outcome]) -> str:
    """A table of every video's outcome."""
    rows = [("video", "result", "frames", "seconds", "fps", "clip, or why not")]
    for outcome in outcomes:
        done = outcome.status in (RENDERED, RESUMED)
        rate = outcome.frames / outcome.seconds if done and outcome.seconds > 0 else None
        rows.append(
            (
                str(outcome.video),
                outcome.status,
                str(outcome.frames) if done else "-",
                f"{outcome.seconds:.1f}" if done else "-",
                f"{rate:.2f}" if rate is not None else "-",
                str(outcome.clip) if done else outcome.message,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True))
        + "  "
        + row[5]
        for row in rows
    ]
    counts = {
        status: sum(o.status == status for o in outcomes)
        for status in (RENDERED, RESUMED, SKIPPED, FAILED)
    }
    lines.append(", ".join(f"{count} {status}" for status, count in counts.items()))
    return "\n".join(line.rstrip() for line in lines)

"""The JSON file next to a clip: how it was made and what was found in every frame."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from fractions import Fraction

from party_button.render.options import RenderOptions
from party_button.render.outputs import FORMAT
from party_button.render.video import VideoInfo


def build_sidecar(
    options: RenderOptions,
    info: VideoInfo,
    model: dict[str, object],
    records: Iterable[dict],
    *,
    size: tuple[int, int],
    start: Fraction,
    audio: bool,
    seconds: float,
    runs: int,
    parts: list[dict],
) -> dict[str, object]:
    """The sidecar's content; ``records`` are the frame records in order, ``start`` the
    input time (seconds) that the clip's timestamps count from, and ``parts`` where each
    run of frames was rendered."""
    frames, skipped = [], []
    for record in records:
        skipped.extend(record.get("skipped_before", ()))
        time = Fraction(record["pts"]) * info.time_base - start
        frames.append(
            {
                "index": record["index"],
                "time": round(float(time), 6),
                "detections": record["detections"],
            }
        )
    return {
        "format": FORMAT,
        "clip": options.output.name,
        "source": {
            "file": str(options.video),
            "width": info.width,
            "height": info.height,
            "fps": _rate_text(info.rate),
        },
        "video": {
            "width": size[0],
            "height": size[1],
            "fps": _rate_text(info.rate),
            "frames": len(frames),
            "audio": audio,
            "codec": "h264",
            "crf": options.crf,
        },
        "model": model,
        "settings": {
            "classes": list(options.classes),
            "score_threshold": options.score_threshold,
            "batch_size": options.batch_size,
            "style": asdict(options.style),
            "first_frame": frames[0]["index"] if frames else None,
            "start_seconds": float(start),
        },
        "run": {
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(seconds, 3),
            "fps": round(len(frames) / seconds, 3) if seconds > 0 else None,
            "runs": runs,
            "parts": parts,
        },
        "skipped_frames": skipped,
        "frames": frames,
    }


def _rate_text(rate: Fraction) -> str:
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"

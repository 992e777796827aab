"""What one render is asked to do: plain data, parsed from the command line."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

from party_button.errors import SettingsError

MODELS = ("maskrcnn_resnet50_fpn_v2", "maskrcnn_resnet50_fpn")
DEVICES = ("auto", "cuda", "cpu")

#: A frame number, or a time from the start of the video.
Position = int | timedelta

_TIME = re.compile(r"^(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d*)?)s?$")


def parse_position(text: str) -> Position:
    """``"120"`` is frame 120; ``"12.5s"``, ``"1:30"`` and ``"1:02:03.5"`` are times."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    match = _TIME.match(text)
    if not match or (":" not in text and not text.endswith("s")):
        raise ValueError(f"{text!r} is neither a frame number nor a time like 12.5s or 1:30")
    hours, minutes, seconds = match.groups()
    return timedelta(hours=int(hours or 0), minutes=int(minutes or 0), seconds=float(seconds))


def position_to_frame(position: Position, rate: Fraction) -> int:
    """The frame number of ``position`` in a video of ``rate`` frames per second."""
    if isinstance(position, int):
        return position
    return round(Fraction(position.total_seconds()) * rate)


@dataclass(frozen=True)
class OutlineStyle:
    """How outlines look; sizes are in pixels of the output clip."""

    thickness: int = 3
    glow: int = 12
    fill: float = 0.0
    labels: bool = False

    def __post_init__(self) -> None:
        if self.thickness < 1:
            raise SettingsError(f"--thickness must be at least 1, not {self.thickness}")
        if self.glow < 0:
            raise SettingsError(f"--glow must be 0 (off) or more, not {self.glow}")
        if not 0.0 <= self.fill <= 1.0:
            raise SettingsError(f"--fill must be an opacity from 0 to 1, not {self.fill}")


@dataclass(frozen=True)
class RenderOptions:
    """Everything one run of ``party-button render`` needs to know."""

    video: Path
    output: Path
    start: Position = 0
    end: Position | None = None
    frames: int | None = None
    classes: tuple[str, ...] = ("person",)
    score_threshold: float = 0.7
    model: str = MODELS[0]
    weights: Path | None = None
    segmenter: str | None = None
    device: str = "auto"
    half: bool = False
    batch_size: int = 4
    input_size: int = 800
    max_detections: int = 100
    height: int = 720
    crf: int = 20
    style: OutlineStyle = field(default_factory=OutlineStyle)
    audio: bool = True
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        checks = [
            (0.0 <= self.score_threshold <= 1.0, "--score-threshold must be from 0 to 1"),
            (self.model in MODELS, f"--model must be one of {', '.join(MODELS)}"),
            (self.device in DEVICES, f"--device must be one of {', '.join(DEVICES)}"),
            (self.batch_size >= 1, "--batch-size must be at least 1"),
            (self.input_size >= 32, "--input-size must be at least 32"),
            (self.max_detections >= 1, "--max-detections must be at least 1"),
            (self.height >= 16, "--height must be at least 16"),
            (0 <= self.crf <= 51, "--crf must be from 0 to 51"),
            (self.frames is None or self.frames >= 1, "--frames must be at least 1"),
            (bool(self.classes), "--classes needs at least one class"),
            (
                self.output.suffix.lower() == ".mp4",
                f"{self.output}: the clip's name must end in .mp4",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise SettingsError(message)
        if self.frames is not None and self.end is not None:
            raise SettingsError("--frames and --end cannot be used together")

    @property
    def sidecar(self) -> Path:
        """The JSON file written next to the clip."""
        return self.output.with_suffix(".json")

    def picture_settings(self) -> dict[str, object]:
        """The options that shape the clip: a resumed render must use the same ones."""
        return {
            "video": str(self.video.resolve()),
            "start": _position_text(self.start),
            "end": None if self.end is None else _position_text(self.end),
            "frames": self.frames,
            "classes": list(self.classes),
            "score_threshold": self.score_threshold,
            "model": self.segmenter or self.model,
            "weights": None if self.weights is None else str(self.weights.resolve()),
            "input_size": self.input_size,
            "max_detections": self.max_detections,
            "height": self.height,
            "crf": self.crf,
            "style": asdict(self.style),
            "audio": self.audio,
        }


@dataclass(frozen=True)
class ClusterOptions:
    """How a render job uses a Ray cluster: ``address`` as ``ray.init`` takes it ("local"
    starts one here), what each task asks for, and the length of chunks (``None``: a video
    is one task)."""

    address: str
    gpus_per_task: float = 1.0
    cpus_per_task: float = 1.0
    chunk_seconds: float | None = None

    def __post_init__(self) -> None:
        if not _RAY_ADDRESS.match(self.address):
            raise SettingsError(
                f"--ray {self.address!r}: not a Ray address (auto or HOST:PORT); to start "
                f"a Ray here give --ray without an address, after the videos"
            )
        if self.address.startswith("ray://"):
            raise SettingsError(
                f"--ray {self.address}: Ray Client cannot stream the segments back as they are "
                f"rendered (a limit of Ray); run the command on a machine of the cluster, "
                f"with --ray=auto or --ray=HOST:6379"
            )
        if not 0 < self.gpus_per_task <= 64:
            raise SettingsError("--gpus-per-task must be more than 0 (0.5: two tasks a GPU)")
        if not 0 < self.cpus_per_task <= 1024:
            raise SettingsError("--cpus-per-task must be more than 0")
        if self.chunk_seconds is not None and not 0 < self.chunk_seconds < 1e7:
            raise SettingsError("--chunk must be a number of seconds more than 0")


_RAY_ADDRESS = re.compile(r"^(local|auto|ray://[\w.\-\[\]:]+:\d+|[\w.\-\[\]:]+:\d+)$")


def _position_text(position: Position) -> str:
    if isinstance(position, int):
        return str(position)
    return f"{position.total_seconds()}s"

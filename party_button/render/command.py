"""``party-button render``: its arguments and how a run ends (exit codes, one-line errors).

This module imports no torch, torchvision, PyAV or numpy, so that the main command line can
offer ``render`` whether or not the render extra is installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from party_button.render.errors import RenderError
from party_button.render.options import (
    DEVICES,
    MODELS,
    OutlineStyle,
    RenderOptions,
    parse_position,
)

#: Modules of the render extra; missing one of them means the extra is not installed.
EXTRA_MODULES = frozenset({"torch", "torchvision", "av", "numpy", "tqdm", "PIL"})
INSTALL_HINT = "party-button render needs the render extra: pip install 'party-button[render]'"
EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def _position(text: str) -> object:
    try:
        return parse_position(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _classes(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected class names separated by commas")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the render command's arguments to ``parser``."""
    parser.add_argument("video", metavar="VIDEO", type=Path, help="the music video to outline")
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        type=Path,
        help="where to write the clip (default: the songs library, "
        "as NAME.outlined.mp4); the sidecar goes next to it as .json",
    )
    frames = parser.add_argument_group("frames")
    frames.add_argument(
        "--start",
        metavar="POS",
        type=_position,
        default=0,
        help="first frame: a frame number, or a time like 12.5s or 1:30",
    )
    stop = frames.add_mutually_exclusive_group()
    stop.add_argument(
        "--end",
        metavar="POS",
        type=_position,
        help="stop before this frame (a frame number or a time)",
    )
    stop.add_argument("--frames", metavar="N", type=int, help="render N frames only")
    model = parser.add_argument_group("detection")
    model.add_argument(
        "--classes",
        metavar="NAMES",
        type=_classes,
        default=("person",),
        help="COCO classes to outline, separated by commas, or 'all' (default: person)",
    )
    model.add_argument(
        "--score-threshold",
        metavar="SCORE",
        type=float,
        default=0.7,
        help="lowest score of an outlined detection, 0 to 1 (default: 0.7)",
    )
    model.add_argument(
        "--max-detections",
        metavar="N",
        type=int,
        default=100,
        help="outline at most N objects per frame, the best scoring (default: 100)",
    )
    model.add_argument(
        "--model",
        choices=MODELS,
        default=MODELS[0],
        help=f"the Mask R-CNN to use (default: {MODELS[0]})",
    )
    model.add_argument(
        "--weights",
        metavar="FILE",
        type=Path,
        help="load the model's weights from FILE instead of torchvision's COCO weights",
    )
    model.add_argument(
        "--segmenter",
        metavar="MODULE:CALLABLE",
        help="use another segmenter: CALLABLE(SegmenterOptions) built from "
        "MODULE replaces Mask R-CNN",
    )
    model.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where the model runs (default: auto, a CUDA GPU if there is one)",
    )
    model.add_argument(
        "--half", action="store_true", help="run the model in half precision (CUDA only)"
    )
    model.add_argument(
        "--batch-size", metavar="N", type=int, default=4, help="frames per model call (default: 4)"
    )
    model.add_argument(
        "--input-size",
        metavar="PIXELS",
        type=int,
        default=800,
        help="shorter side of the picture the model sees (default: 800)",
    )
    look = parser.add_argument_group("clip")
    look.add_argument(
        "--height",
        metavar="PIXELS",
        type=int,
        default=720,
        help="height of the clip; never enlarged (default: 720, for a Pi's HDMI)",
    )
    look.add_argument(
        "--crf",
        metavar="N",
        type=int,
        default=20,
        help="H.264 quality, 0 (lossless) to 51 (worst) (default: 20)",
    )
    look.add_argument(
        "--thickness",
        metavar="PIXELS",
        type=int,
        default=3,
        help="width of the outline (default: 3)",
    )
    look.add_argument(
        "--glow",
        metavar="PIXELS",
        type=int,
        default=12,
        help="reach of the glow around the outline, 0 for none (default: 12)",
    )
    look.add_argument(
        "--fill",
        metavar="OPACITY",
        type=float,
        default=0.0,
        help="fill each outlined object with its colour, 0 to 1 (default: 0)",
    )
    look.add_argument(
        "--labels", action="store_true", help="write the class and track number next to each object"
    )
    look.add_argument(
        "--no-audio", action="store_true", help="leave the input's audio out of the clip"
    )
    run_group = parser.add_argument_group("run")
    run_group.add_argument(
        "--resume", action="store_true", help="carry on with an interrupted render of the same clip"
    )
    run_group.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing clip, or an unfinished render of it",
    )
    run_group.add_argument(
        "--no-progress", action="store_true", help="do not show the progress bar"
    )


def options_from(args: argparse.Namespace, songs_dir: Path) -> RenderOptions:
    """The :class:`RenderOptions` that parsed ``args`` ask for."""
    output = args.output or songs_dir / f"{args.video.stem}.outlined.mp4"
    return RenderOptions(
        video=args.video,
        output=output,
        start=args.start,
        end=args.end,
        frames=args.frames,
        classes=args.classes,
        score_threshold=args.score_threshold,
        model=args.model,
        weights=args.weights,
        segmenter=args.segmenter,
        device=args.device,
        half=args.half,
        batch_size=args.batch_size,
        input_size=args.input_size,
        max_detections=args.max_detections,
        height=args.height,
        crf=args.crf,
        style=OutlineStyle(
            thickness=args.thickness, glow=args.glow, fill=args.fill, labels=args.labels
        ),
        audio=not args.no_audio,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )


def run(args: argparse.Namespace, songs_dir: Path) -> int:
    """Render as ``args`` say; returns the exit code (0 done, 1 failed, 130 interrupted)."""
    try:
        options = options_from(args, songs_dir)
        try:
            from party_button.render.job import render
        except ImportError as error:
            if (error.name or "").partition(".")[0] not in EXTRA_MODULES:
                raise
            print(f"{INSTALL_HINT} ({error.name} is missing)", file=sys.stderr)
            return EXIT_FAILED
        result = render(options)
    except RenderError as error:
        print(f"party-button render: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(
            "party-button render: interrupted; run the same command with --resume to carry "
            "on from the last saved frame",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    carried = " (resumed)" if result.resumed else ""
    rate = result.frames / result.seconds if result.seconds > 0 else 0.0
    print(
        f"wrote {result.clip} and {result.sidecar.name}: {result.frames} frames in "
        f"{result.seconds:.1f} s ({rate:.2f} fps){carried}"
    )
    return EXIT_OK

"""``party-button render``: its arguments, and how a run ends (exit codes, one-line errors).

This module imports no torch, torchvision, PyAV or numpy, so that the main command line can
offer ``render`` whether or not the render extra is installed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from party_button.cli.common import EXIT_FAILED, EXIT_OK, add_command
from party_button.errors import ConfigError, MissingExtraError, SettingsError
from party_button.render.options import (
    DEVICES,
    MODELS,
    ClusterOptions,
    OutlineStyle,
    RenderOptions,
    parse_position,
)

#: Modules of the render extra; missing one of them means the extra is not installed.
EXTRA_MODULES = frozenset({"torch", "torchvision", "av", "numpy", "tqdm", "PIL"})
INSTALL_HINT = "party-button render needs the render extra: pip install 'party-button[render]'"
INTERRUPTED = (
    "party-button render: interrupted; run the same command again to carry on "
    "from the last saved frames"
)


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
    parser.set_defaults(run=run, error_prefix="party-button render: ", interrupted=INTERRUPTED)
    parser.add_argument(
        "videos",
        metavar="VIDEO",
        type=Path,
        nargs="+",
        help="a music video, or a folder searched (with its subfolders) for videos",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        type=Path,
        help="the clip of a single VIDEO (default: the songs library, "
        "as NAME.outlined.mp4); the sidecar goes next to it as .json",
    )
    output.add_argument(
        "--output-dir",
        metavar="DIR",
        type=Path,
        help="write the clips into DIR (and the subfolders the videos are in) "
        "instead of the songs library",
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
        "--overwrite",
        action="store_true",
        help="render finished clips again, and start unfinished renders again "
        "instead of carrying on with them",
    )
    run_group.add_argument(
        "--no-progress", action="store_true", help="do not show the progress bar"
    )

    cluster = parser.add_argument_group("cluster (needs the cluster extra)")
    cluster.add_argument(
        "--ray",
        metavar="ADDRESS",
        nargs="?",
        const="local",
        help="render on a Ray cluster: without ADDRESS a Ray is started on this machine; "
        "auto or HOST:PORT joins a running cluster this machine is part of",
    )
    cluster.add_argument(
        "--gpus-per-task",
        metavar="N",
        type=float,
        default=1.0,
        help="GPUs each video (or chunk) asks for where the cluster has GPUs; "
        "0.5 puts two on a GPU (default: 1)",
    )
    cluster.add_argument(
        "--cpus-per-task",
        metavar="N",
        type=float,
        default=1.0,
        help="CPUs each video (or chunk) asks for where the cluster has no GPUs (default: 1)",
    )
    cluster.add_argument(
        "--chunk",
        metavar="SECONDS",
        type=float,
        help="cut each video into chunks of about SECONDS, rendered in parallel and "
        "joined into the same clip",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``render`` to the main command."""
    text = "outline the people in music videos; the clips go to the songs library"
    example = "videos/ --output-dir clips/"
    add_arguments(add_command(subparsers, "render", run, text, example=example))


def options_from(args: argparse.Namespace, video: Path, output: Path) -> RenderOptions:
    """The :class:`RenderOptions` that parsed ``args`` ask for, for one video."""
    return RenderOptions(
        video=video,
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
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )


def cluster_options(args: argparse.Namespace) -> ClusterOptions | None:
    """The cluster settings, or None to render here."""
    if args.ray is None:
        if args.chunk is not None:
            raise SettingsError("--chunk renders chunks in parallel on a Ray cluster: add --ray")
        return None
    return ClusterOptions(args.ray, args.gpus_per_task, args.cpus_per_task, args.chunk)


def songs_folder(args: argparse.Namespace) -> Path:
    """The songs library: ``args.songs`` where set, else the configuration's first songs
    folder, else ``./songs`` on a workstation without a configuration."""
    if getattr(args, "songs", None) is not None:
        return args.songs
    from party_button.config.location import find_config
    from party_button.config.schema import load_config

    try:
        return load_config(find_config(args.config)).songs.folders[0]
    except ConfigError:
        if args.config:
            raise
        return Path.cwd() / "songs"


def run(args: argparse.Namespace) -> int:
    """Render as ``args`` say; returns the exit code: 0 every clip done (or finished
    already), 1 any video failed (each said at once, see :func:`_report`)."""
    cluster = cluster_options(args)
    from party_button.render.inputs import find_videos
    from party_button.render.outputs import Planned, plan

    found = find_videos(args.videos)
    output_dir = args.output_dir
    if args.output is None and output_dir is None:
        output_dir = songs_folder(args)
    planned = plan(found.videos, args.output, output_dir)
    jobs = [options_from(args, p.video, p.output) for p in planned if isinstance(p, Planned)]
    single = len(found.problems) + len(planned) == 1
    batch = _load_extra("party_button.render.batch", INSTALL_HINT, EXTRA_MODULES)
    outcomes = [batch.Outcome(path, batch.FAILED, message=text) for path, text in found.problems]
    outcomes += [batch.failed(p.video, p.reason) for p in planned if not isinstance(p, Planned)]
    for outcome in outcomes:
        _report(outcome, single)
    if jobs and cluster is not None:
        ray_hint = "party-button render --ray needs the cluster extra: pip install " + (
            "'party-button[cluster]'"
        )
        runner = _load_extra("party_button.render.cluster", ray_hint, {"ray"})
        outcomes += runner.render_on_ray(jobs, cluster, lambda o: _report(o, single))
    elif jobs:
        progress = batch.JobProgress(len(jobs), enabled=jobs[0].progress)
        segmenters = batch.Segmenters(progress=jobs[0].progress)
        try:
            for options in jobs:
                outcome = batch.render_one_here(options, segmenters, progress)
                _report(outcome, single)
                outcomes.append(outcome)
        finally:
            progress.close()
    if not single:
        print(batch.summary(outcomes))
    return EXIT_FAILED if any(o.failed for o in outcomes) else EXIT_OK


def _load_extra(module: str, hint: str, extra: frozenset[str] | set[str]):
    """Import ``module``, or raise :class:`MissingExtraError` with ``hint`` when a module
    of an extra is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        if (error.name or "").partition(".")[0] not in extra:
            raise
        raise MissingExtraError(f"{hint} ({error.name} is missing)") from None


def _report(outcome, single: bool) -> None:
    """Say at once what became of a video: a failure on stderr; for a single video, the
    result on stdout."""
    if outcome.failed:
        print(f"party-button render: {outcome.message}", file=sys.stderr, flush=True)
    elif single and outcome.status == "skipped":
        print(f"{outcome.clip}: {outcome.message}")
    elif single:
        sidecar = outcome.clip.with_suffix(".json")
        carried = " (resumed)" if outcome.status == "resumed" else ""
        rate = outcome.frames / outcome.seconds if outcome.seconds > 0 else 0.0
        print(
            f"wrote {outcome.clip} and {sidecar.name}: {outcome.frames} frames in "
            f"{outcome.seconds:.1f} s ({rate:.2f} fps){carried}"
        )

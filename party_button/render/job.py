"""One render from start to finish: check, resume or start, run the pipeline, publish."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from tqdm import tqdm

from party_button.render.assemble import ClipSpan, assemble
from party_button.render.drawing import Painter
from party_button.render.encoder import SegmentEncoder
from party_button.render.errors import InputVideoError, OutputError, SettingsError, reason
from party_button.render.maskrcnn import MaskRCNNSegmenter, resolve_classes
from party_button.render.options import RenderOptions, position_to_frame
from party_button.render.pipeline import Pipeline
from party_button.render.segmenter import (
    Segmenter,
    SegmenterFactory,
    SegmenterOptions,
    load_factory,
)
from party_button.render.sidecar import build_sidecar
from party_button.render.tracking import Tracker
from party_button.render.video import FrameReader, VideoInfo, probe
from party_button.render.workdir import (
    RenderState,
    SegmentSink,
    WorkFolder,
    write_json_atomically,
)

log = logging.getLogger(__name__)

#: Seconds of video per segment: at most this much work is lost when a render stops.
SEGMENT_SECONDS = 2


@dataclass(frozen=True)
class RenderResult:
    """What a finished render wrote."""

    clip: Path
    sidecar: Path
    frames: int
    seconds: float
    resumed: bool


def render(options: RenderOptions, factory: SegmenterFactory | None = None) -> RenderResult:
    """Render ``options.video`` into ``options.output`` and its sidecar."""
    info = probe(options.video)
    options = replace(options, classes=resolve_classes(options.classes))
    start, stop = _frame_range(options, info)
    folder = WorkFolder(options.output)
    saved = _check_output(options, folder)
    if factory is None:
        factory = load_factory(options.segmenter) if options.segmenter else MaskRCNNSegmenter
    segmenter = factory(
        SegmenterOptions(
            classes=options.classes,
            score_threshold=options.score_threshold,
            device=options.device,
            half=options.half,
            input_size=options.input_size,
            max_detections=options.max_detections,
            model=options.model,
            weights=options.weights,
        )
    )
    resumed = saved is not None
    state = saved or _fresh_state(options, folder, info)
    size = info.output_size(options.height)
    first = start if state.next_index is None else state.next_index
    reader = FrameReader(info, size, first, stop)
    total = (
        None
        if stop is None and info.frames is None
        else ((stop if stop is not None else info.frames) - start)
    )
    state.runs += 1
    try:
        _run_pipeline(options, info, state, folder, segmenter, reader, start, total)
        if not state.segments:
            folder.remove()
            raise InputVideoError(f"{options.video}: no frames to render from frame {start}")
        return _publish(options, info, state, folder, segmenter, size, (start, stop), resumed)
    except OutputError as error:
        raise OutputError(
            f"{error}; {state.frames} frames are saved: make room and run again with --resume"
        ) from None


def _frame_range(options: RenderOptions, info: VideoInfo) -> tuple[int, int | None]:
    start = position_to_frame(options.start, info.rate)
    stop = None
    if options.end is not None:
        stop = position_to_frame(options.end, info.rate)
    elif options.frames is not None:
        stop = start + options.frames
    if stop is not None and stop <= start:
        raise SettingsError(f"--end (frame {stop}) must come after --start (frame {start})")
    if info.frames is not None and start >= info.frames:
        raise SettingsError(
            f"--start: frame {start} is past the end of {options.video} ({info.frames} frames)"
        )
    return start, stop


def _check_output(options: RenderOptions, folder: WorkFolder) -> RenderState | None:
    """Check that the clip can be written; returns the saved state to resume from, if any.

    An unfinished render with finished segments is never thrown away silently: it needs
    ``--resume`` (to carry on) or ``--overwrite`` (to start again).
    """
    parent = options.output.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the folder {parent}: {reason(error)}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to {parent}: permission denied")
    if options.output.exists() and not options.overwrite:
        raise SettingsError(f"{options.output}: already exists; add --overwrite to replace it")
    saved = folder.load() if folder.exists() else None
    if saved is not None and not options.resume:
        if options.overwrite:
            return None
        raise SettingsError(
            f"{folder.path}: an unfinished render of this clip is there; add "
            f"--resume to carry on with it, or --overwrite to start again"
        )
    if saved is not None:
        _check_same_settings(saved.settings, _settings(options))
        log.info("resuming after %d frames", saved.frames)
    elif options.resume:
        log.info("nothing to resume; starting from the first frame")
    return saved


def _settings(options: RenderOptions) -> dict:
    """The picture settings as they read back from JSON."""
    return json.loads(json.dumps(options.picture_settings()))


def _fresh_state(options: RenderOptions, folder: WorkFolder, info: VideoInfo) -> RenderState:
    """An empty work folder and the state of a render that has not begun."""
    folder.create()
    segment_frames = max(1, round(SEGMENT_SECONDS * info.rate))
    return RenderState(settings=_settings(options), segment_frames=segment_frames)


def _check_same_settings(saved: dict, now: dict) -> None:
    for key, value in saved.items():
        if now.get(key) != value:
            raise SettingsError(
                f"--resume: the unfinished render used {key} {value!r}, not {now.get(key)!r}; "
                f"give the same options, or use --overwrite to start again"
            )


def _run_pipeline(
    options: RenderOptions,
    info: VideoInfo,
    state: RenderState,
    folder: WorkFolder,
    segmenter: Segmenter,
    reader: FrameReader,
    start: int,
    total: int | None,
) -> None:
    tracker = Tracker(max_misses=max(1, round(info.rate)))
    if state.tracker is not None:
        tracker.restore(state.tracker)
    size = reader.size

    def open_encoder(path: Path) -> SegmentEncoder:
        return SegmentEncoder(path, size, info.rate, info.time_base, options.crf)

    sink = SegmentSink(folder, state, open_encoder)
    with tqdm(
        total=total,
        initial=state.frames,
        unit="frame",
        desc=options.video.name,
        disable=not options.progress,
        dynamic_ncols=True,
    ) as bar:
        pipeline = Pipeline(
            reader,
            segmenter,
            tracker,
            Painter(options.style),
            sink,
            batch_size=options.batch_size,
            segment_frames=state.segment_frames,
            first_index=start,
            draw_workers=min(4, os.cpu_count() or 1),
            on_frame=bar.update,
        )
        try:
            pipeline.run()
        finally:
            sink.abandon()


def _publish(
    options: RenderOptions,
    info: VideoInfo,
    state: RenderState,
    folder: WorkFolder,
    segmenter: Segmenter,
    size: tuple[int, int],
    frame_range: tuple[int, int | None],
    resumed: bool,
) -> RenderResult:
    """Join the segments into the clip, write the sidecar, and move both into place."""
    began = time.monotonic()
    records = list(folder.frame_records(state))
    start, stop = frame_range
    offset = Fraction(0) if start == 0 else Fraction(state.first_pts) * info.time_base
    end = None
    if stop is not None:
        end = Fraction(records[-1]["pts"]) * info.time_base + 1 / info.rate
    assembling = folder.path / "clip.mp4"
    has_audio = assemble(
        folder.segment_paths(state), info, ClipSpan(offset, end), assembling, options.audio
    )
    seconds = state.seconds + time.monotonic() - began
    sidecar = build_sidecar(
        options,
        info,
        segmenter.describe(),
        records,
        size=size,
        start=offset,
        audio=has_audio,
        seconds=seconds,
        runs=state.runs,
    )
    write_json_atomically(options.sidecar, sidecar)
    try:
        os.replace(assembling, options.output)
    except OSError as error:
        raise OutputError.writing(options.output, error) from None
    folder.remove()
    return RenderResult(options.output, options.sidecar, len(records), seconds, resumed)

"""One video's render as the machine that runs the command sees it: the checks, the work
folder, saving segments as they come (from this process or from cluster workers), and
publishing the clip and its sidecar without ever leaving half of one in place."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from party_button.errors import InputVideoError, OutputError, SettingsError, reason
from party_button.render.assemble import ClipSpan, assemble
from party_button.render.maskrcnn import resolve_classes
from party_button.render.options import RenderOptions, position_to_frame
from party_button.render.outputs import finished_clip
from party_button.render.parts import (
    PartRequest,
    SegmentDone,
    Segmenters,
    render_part,
    segmenter_options,
)
from party_button.render.progress import JobProgress
from party_button.render.segmenter import SegmenterFactory
from party_button.render.sidecar import build_sidecar
from party_button.render.video import VideoInfo, probe
from party_button.render.workdir import (
    RenderState,
    WorkFolder,
    sync_file,
    sync_folder,
    write_json,
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


class VideoRender:
    """The render of ``options.video`` into ``options.output``, from the checks to the clip.

    Use it as a context manager: :meth:`open` checks and takes the work folder, parts are
    rendered (:meth:`pending`, :meth:`save`, :meth:`finish_part`), :meth:`publish` writes
    the clip; leaving the context lets go of the work folder, and removes it if it holds
    nothing worth resuming.
    """

    def __init__(self, options: RenderOptions) -> None:
        self.options = options
        self.folder = WorkFolder(options.output)
        self.info: VideoInfo | None = None
        self.state: RenderState | None = None
        self.resumed = False
        self._began = time.monotonic()

    def __enter__(self) -> VideoRender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.folder.locked and not self.folder.state_file.exists():
            self.folder.remove()
        self.folder.unlock()

    @property
    def size(self) -> tuple[int, int]:
        """Width and height of the clip."""
        return self.info.output_size(self.options.height)

    def open(self) -> bool:
        """Check the input and the output and take the work folder; False when the clip is
        finished already and is to be kept (no ``--overwrite``)."""
        options = self.options
        self.info = probe(options.video)
        self.options = options = replace(options, classes=resolve_classes(options.classes))
        start, stop = _frame_range(options, self.info)
        _check_folder(options.output.parent)
        finished = finished_clip(options.output)
        if finished and not options.overwrite and not self.folder.exists():
            return False
        self.folder.lock()
        saved = self.folder.load()
        settings = _settings(options)
        if saved is not None and not options.overwrite:
            _check_same_settings(saved.settings, settings)
            log.info("%s: carrying on after %d saved frames", options.video, saved.frames)
        elif saved is None and finished and not options.overwrite:
            return False
        else:
            segment_frames = max(1, round(SEGMENT_SECONDS * self.info.rate))
            saved = RenderState(settings, segment_frames, start, stop)
            self.folder.clear()
        self.resumed = bool(saved.segments)
        saved.runs += 1
        self.state = saved
        return True

    def estimated_frames(self) -> int | None:
        """How many frames the clip will have, as far as the input's header tells."""
        stop = self.state.stop if self.state.stop is not None else self.info.frames
        return None if stop is None else max(0, stop - self.state.start)

    def pending(self, chunk_segments: int | None = None) -> list[list[PartRequest]]:
        """The parts still to render, in groups of consecutive parts; the first part of a
        group knows the tracks it starts with, the others start where the one before ends.
        Without ``chunk_segments`` each group is one part."""
        state = self.state
        frames = self.estimated_frames()
        estimate = None if frames is None else -(-frames // state.segment_frames)
        groups = []
        for first, stop in state.gaps():
            bounds = [first]
            last = stop if stop is not None else estimate
            if chunk_segments and last is not None:
                bounds.extend(range(first + chunk_segments, last, chunk_segments))
            tracker = state.segments[first - 1].tracker if first else None
            ends = [*bounds[1:], stop]
            groups.append(
                [
                    self._request(a, b, tracker if a == first else None)
                    for a, b in zip(bounds, ends, strict=True)
                ]
            )
        return groups

    def _request(self, first: int, stop: int | None, tracker: dict | None) -> PartRequest:
        state = self.state
        last = state.stop
        if stop is not None:
            end = state.first_frame(stop)
            last = end if last is None else min(end, last)
        return PartRequest(
            self.options,
            self.info,
            self.size,
            state.start,
            state.first_frame(first),
            last,
            state.segment_frames,
            tracker,
        )

    def carry_on(self, request: PartRequest) -> PartRequest:
        """``request`` from its first frame not saved yet, with the tracks as they were."""
        number = request.segment_of(request.first)
        while number in self.state.segments:
            number += 1
        if number == request.segment_of(request.first):
            return request
        return replace(
            request,
            first=self.state.first_frame(number),
            tracker=self.state.segments[number - 1].tracker,
        )

    def save(self, done: SegmentDone, request: PartRequest, attempt: int = 1) -> None:
        """Keep a finished segment of ``request`` (its video is in the work folder, or in
        ``done.data``)."""
        state = self.state
        segment = done.segment
        if done.data is not None:
            self.folder.write_segment(segment.number, done.data)
        segment.where = {**segment.where, "run": state.runs, "attempt": attempt}
        segment.task = request.first
        state.model = done.model
        state.seconds += time.monotonic() - self._began
        self._began = time.monotonic()
        self.folder.commit(state, segment, done.records)

    def finish_part(self, request: PartRequest) -> None:
        """Note that ``request`` ran to its end: where the video or the range ends, if it
        ended there."""
        state = self.state
        last = max(
            (
                s.next_index
                for s in state.segments.values()
                if s.first >= request.first and (request.stop is None or s.first < request.stop)
            ),
            default=None,
        )
        if last is None:
            end = request.segment_of(request.first)
        elif request.stop is None or request.stop == state.stop or last < request.stop:
            end = request.segment_of(last - 1) + 1
        else:
            return
        state.end = end if state.end is None else min(end, state.end)
        self.folder.save(state)

    def publish(self) -> RenderResult:
        """Join the segments into the clip, write the sidecar, and move both into place:
        the sidecar first, so that the clip beside it is always a finished one of ours."""
        options, state = self.options, self.state
        clip = self.folder.path / "clip.mp4"
        sidecar = self.folder.path / "sidecar.json"
        if not state.publishing:
            self._stage(clip, sidecar)
        try:
            if sidecar.exists():
                os.replace(sidecar, options.sidecar)
            if clip.exists():
                os.replace(clip, options.output)
        except OSError as error:
            raise OutputError.writing(options.output, error) from None
        sync_folder(options.output.parent)
        self.folder.remove()
        return RenderResult(
            options.output, options.sidecar, state.frames, state.seconds, self.resumed
        )

    def _stage(self, clip: Path, sidecar: Path) -> None:
        """Write the clip and its sidecar into the work folder, then note that they are."""
        options, state, info = self.options, self.state, self.info
        records = list(self.folder.frame_records(state))
        if not records:
            self.folder.remove()
            raise InputVideoError(f"{options.video}: no frames to render from frame {state.start}")
        offset = Fraction(0) if state.start == 0 else Fraction(records[0]["pts"]) * info.time_base
        end = None
        if state.stop is not None:
            end = Fraction(records[-1]["pts"]) * info.time_base + 1 / info.rate
        segments = [self.folder.segment_path(s.number) for s in state.ordered()]
        try:
            has_audio = assemble(segments, info, ClipSpan(offset, end), clip, options.audio)
            sync_file(clip)
        except OutputError as error:
            raise OutputError(
                f"{error}; all {state.frames} frames are saved: make room and run again"
            ) from None
        content = build_sidecar(
            options,
            info,
            state.model or {},
            records,
            size=self.size,
            start=offset,
            audio=has_audio,
            seconds=state.seconds,
            runs=state.runs,
            parts=parts_of(state),
        )
        write_json(sidecar, content)
        state.publishing = True
        self.folder.save(state)


def parts_of(state: RenderState) -> list[dict]:
    """Where each run of frames was rendered: consecutive segments of one task make one
    part."""
    parts: list[dict] = []
    task = None
    for segment in state.ordered():
        if parts and (segment.task, segment.where) == task:
            parts[-1]["frames"][1] = segment.next_index - 1
        else:
            parts.append({"frames": [segment.first, segment.next_index - 1], **segment.where})
        task = (segment.task, segment.where)
    return parts


def render(
    options: RenderOptions,
    segmenters: Segmenters | SegmenterFactory | None = None,
    progress: JobProgress | None = None,
) -> RenderResult | None:
    """Render ``options.video`` into ``options.output`` here, with a segmenter from
    ``segmenters`` (or built by a factory); None when the clip was finished already (and
    ``options.overwrite`` is not set)."""
    with VideoRender(options) as video:
        if not video.open():
            return None
        if isinstance(segmenters, Segmenters):
            segmenter = segmenters.get(video.options)
        elif segmenters is not None:
            segmenter = segmenters(segmenter_options(video.options))
        else:
            segmenter = Segmenters(options.progress).get(video.options)
        key = options.video
        if progress is not None:
            progress.begin(key, options.video.name, video.estimated_frames(), video.state.frames)
        try:
            for group in video.pending():
                for request in group:
                    for item in render_part(request, segmenter, video.folder.path):
                        if isinstance(item, SegmentDone):
                            video.save(item, request)
                        elif progress is not None:
                            progress.advance(key, item.frames)
                    video.finish_part(request)
        except OutputError as error:
            raise OutputError(
                f"{error}; {video.state.frames} frames are saved: make room and run again"
            ) from None
        return video.publish()


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


def _check_folder(parent: Path) -> None:
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the folder {parent}: {reason(error)}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to {parent}: permission denied")


def _settings(options: RenderOptions) -> dict:
    """The picture settings as they read back from JSON."""
    return json.loads(json.dumps(options.picture_settings()))


def _check_same_settings(saved: dict, now: dict) -> None:
    for key, value in saved.items():
        if now.get(key) != value:
            raise SettingsError(
                f"an unfinished render of this clip used {key} {value!r}, not "
                f"{now.get(key)!r}; give the same options to carry on with it, "
                f"or add --overwrite to start again"
            )

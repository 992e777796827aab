"""Rendering on a Ray cluster; the only module that imports Ray (the ``cluster`` extra).

Each video is a Ray task that asks for a GPU where the cluster has GPUs (``--gpus-per-task``)
and CPUs otherwise; a worker process builds its segmenter once and keeps it for every later
video. The video travels to the worker through Ray's object store (a worker that sees the
same file at the same path reads it there), and each finished segment streams back to the
machine that runs the command, which keeps it in the clip's work folder: no shared file
system is needed, and when a worker dies (a machine rebooted) the video carries on in another
worker from the last segment that came back.

With ``--chunk`` a video is cut into chunks on the segment grid. Each chunk's objects are
found in parallel; the tracks are then followed through the chunks in order here (boxes only,
which is cheap), so that each chunk is drawn, again in parallel, starting with exactly the
tracks one run would have: same track numbers, same colours.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path

import ray
from ray import exceptions as ray_errors

from party_button.errors import OutputError, RenderError, SettingsError
from party_button.render.batch import Outcome, failed, rendered, skipped
from party_button.render.job import VideoRender
from party_button.render.options import ClusterOptions, RenderOptions
from party_button.render.parts import (
    DetectedPart,
    FramesDone,
    PartRequest,
    SegmentDone,
    Segmenters,
    detect_part,
    follow_tracks,
    render_part,
)
from party_button.render.progress import JobProgress

log = logging.getLogger(__name__)

#: How often one part is tried when the workers rendering it die.
MAX_ATTEMPTS = 4
#: Failures of the cluster rather than of the video: the part is tried again elsewhere.
WORKER_LOST = (
    ray_errors.WorkerCrashedError,
    ray_errors.NodeDiedError,
    ray_errors.LocalRayletDiedError,
    ray_errors.ObjectLostError,
    ray_errors.OutOfMemoryError,
    ray_errors.RaySystemError,
)

_segmenters = Segmenters()


@dataclass(frozen=True)
class VideoSource:
    """An input video as a worker gets it: its path and stamp on the machine that runs the
    command, and its bytes in the object store, fetched only where the path does not lead
    to the same file."""

    path: str
    size: int
    mtime_ns: int
    data: ray.ObjectRef

    @classmethod
    def put(cls, path: Path) -> VideoSource:
        """Put ``path``'s bytes into the object store."""
        try:
            status = path.stat()
            data = path.read_bytes()
        except OSError as error:
            raise RenderError(f"{path}: cannot read it ({error.strerror})") from None
        return cls(str(path.resolve()), status.st_size, status.st_mtime_ns, ray.put(data))

    def local(self, folder: Path) -> Path:
        """A path to the video on this machine: the original, or a copy in ``folder``."""
        try:
            status = os.stat(self.path)
            if (status.st_size, status.st_mtime_ns) == (self.size, self.mtime_ns):
                return Path(self.path)
        except OSError:
            pass
        copy = folder / f"input{Path(self.path).suffix}"
        copy.write_bytes(ray.get(self.data))
        return copy


def on_worker(request: PartRequest, source: VideoSource, folder: Path) -> PartRequest:
    """``request`` as this worker runs it: the video on this machine, and decoding, drawing
    and torch sized to the CPUs Ray gave the task, so that the tasks sharing a machine do
    not fight over its cores."""
    request = request.with_video(source.local(folder))
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    if not cpus:
        return request
    threads = max(1, round(cpus))
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return replace(request, threads=threads)


def _draw(
    request: PartRequest, source: VideoSource, found: DetectedPart | None
) -> Iterator[FramesDone | SegmentDone]:
    """The worker's side of a part: render it (or draw what ``found`` holds), and send each
    segment back with its video's bytes."""
    with tempfile.TemporaryDirectory(prefix="party-button-render-") as name:
        folder = Path(name)
        request = on_worker(request, source, folder)
        segmenter = None if found is not None else _segmenters.get(request.options)
        for item in render_part(request, segmenter, folder, found):
            if isinstance(item, SegmentDone):
                path = folder / f"segment-{item.segment.number:05d}.mp4"
                item.data = path.read_bytes()
                path.unlink()
            yield item


def _detect(
    request: PartRequest, source: VideoSource
) -> Iterator[FramesDone | list | DetectedPart]:
    """The worker's side of finding a chunk's objects: the frames done as it goes, then the
    boxes (for the tracks), then everything found (left in the object store for the
    drawing)."""
    with tempfile.TemporaryDirectory(prefix="party-button-render-") as name:
        request = on_worker(request, source, Path(name))
        for item in detect_part(request, _segmenters.get(request.options)):
            if isinstance(item, DetectedPart):
                yield item.boxes
            yield item


_draw_task = ray.remote(num_returns="streaming", max_retries=0)(_draw)
_detect_task = ray.remote(num_returns="streaming", max_retries=0)(_detect)


def connect(address: str) -> bool:
    """Join the cluster at ``address`` ("local": start one here); True if this call did
    (and :func:`ray.shutdown` is ours to call)."""
    if ray.is_initialized():
        return False
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except Exception as error:  # Ray raises many kinds; each means "no cluster".
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SettingsError(f"--ray {address}: cannot join the cluster ({first})") from None
    return True


def task_resources(options: ClusterOptions, cluster: dict[str, float]) -> dict[str, float]:
    """What one task asks for: GPUs where the cluster has them, CPUs otherwise."""
    if cluster.get("GPU", 0) > 0:
        return {"num_gpus": options.gpus_per_task}
    return {"num_cpus": options.cpus_per_task}


def slots(resources: dict[str, float], cluster: dict[str, float]) -> int:
    """How many tasks the cluster runs at once."""
    if "num_gpus" in resources:
        return max(1, int(cluster.get("GPU", 0) / resources["num_gpus"]))
    return max(1, int(cluster.get("CPU", 1) / resources["num_cpus"]))


def render_on_ray(
    jobs: list[RenderOptions], options: ClusterOptions, report: Callable[[Outcome], None]
) -> list[Outcome]:
    """Render every job on the cluster; ``report`` hears each outcome as it comes."""
    started = connect(options.address)
    progress = JobProgress(len(jobs), enabled=jobs[0].progress)
    try:
        cluster = ray.cluster_resources()
        resources = task_resources(options, cluster)
        if jobs[0].device == "cuda" and "num_gpus" not in resources:
            raise SettingsError("--device cuda: the cluster has no GPU")
        runner = _Runner(options, resources, progress)
        return runner.run(jobs, slots(resources, cluster) + 1, report)
    finally:
        progress.close()
        if started:
            ray.shutdown()


class _Runner:
    """Renders videos on the cluster, a thread here per video under way."""

    def __init__(
        self, options: ClusterOptions, resources: dict[str, float], progress: JobProgress
    ) -> None:
        self.options = options
        self.resources = resources
        self.progress = progress
        self._streams: set[ray.ObjectRefGenerator] = set()
        self._lock = threading.Lock()

    def run(
        self, jobs: list[RenderOptions], threads: int, report: Callable[[Outcome], None]
    ) -> list[Outcome]:
        pool = ThreadPoolExecutor(threads, thread_name_prefix="render-video")
        futures: dict[Future, int] = {pool.submit(self.video, job): n for n, job in enumerate(jobs)}
        outcomes: list[Outcome | None] = [None] * len(jobs)
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    outcomes[futures[future]] = future.result()
                    report(outcomes[futures[future]])
        except BaseException:
            self.cancel()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return outcomes

    def cancel(self) -> None:
        """Stop every task under way (after Ctrl-C)."""
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            with contextlib.suppress(ray_errors.RayError, ValueError, TypeError):
                ray.cancel(stream, force=True)

    def video(self, options: RenderOptions) -> Outcome:
        """Render one video; a failure becomes its outcome."""
        key = options.video
        try:
            with VideoRender(options) as video:
                if not video.open():
                    return skipped(options)
                source = VideoSource.put(video.options.video)
                estimated = video.estimated_frames()
                self.progress.begin(key, options.video.name, estimated, video.state.frames)
                chunk = None
                if self.options.chunk_seconds is not None:
                    frames = self.options.chunk_seconds * video.info.rate
                    chunk = max(1, round(frames / video.state.segment_frames))
                try:
                    for group in video.pending(chunk):
                        if chunk is None:
                            self.part(video, group[0], lambda r, _: self.draw(r, source, None))
                        else:
                            self.chunks(video, group, source)
                except OutputError as error:
                    raise OutputError(
                        f"{error}; {video.state.frames} frames are saved: make room and run again"
                    ) from None
                return rendered(options.video, video.publish())
        except RenderError as error:
            return failed(options.video, error)
        except ray_errors.TaskCancelledError:
            return failed(options.video, "interrupted")
        finally:
            self.progress.end(key)

    def draw(
        self, request: PartRequest, source: VideoSource, found: ray.ObjectRef | None
    ) -> ray.ObjectRefGenerator:
        """Start rendering (or, with ``found``, drawing) a part on the cluster."""
        resources = self.resources if found is None else {"num_cpus": 1}
        return _draw_task.options(**resources).remote(request, source, found)

    def part(
        self,
        video: VideoRender,
        request: PartRequest,
        start: Callable[[PartRequest, BaseException | None], ray.ObjectRefGenerator],
    ) -> None:
        """Render a part, keeping its segments as they come; when its worker dies, carry on
        elsewhere from the last segment kept. ``start`` starts the part's task, hearing why
        the last try failed."""
        key = video.options.video
        lost: BaseException | None = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                for item in self.items(start(request, lost)):
                    if isinstance(item, FramesDone):
                        self.progress.advance(key, item.frames)
                    else:
                        video.save(item, request, attempt)
                        where = item.segment.where
                        self.progress.note(key, f"{where['host']}:{where['pid']}")
                video.finish_part(request)
                return
            except WORKER_LOST as error:
                lost = error
                request = video.carry_on(request)
                log.warning(
                    "%s: a worker was lost (%s); carrying on from frame %d",
                    video.options.video,
                    type(error).__name__,
                    request.first,
                )
                self.progress.note(key, f"worker lost; again from frame {request.first}")
        raise RenderError(
            f"{video.options.video}: the workers rendering it were lost {MAX_ATTEMPTS} times "
            f"({type(lost).__name__}); run the same command again to carry on"
        )

    def chunks(self, video: VideoRender, group: list[PartRequest], source: VideoSource) -> None:
        """Render consecutive chunks: find their objects in parallel, follow the tracks
        through them in order, then draw them in parallel."""
        detecting = [_detect_task.options(**self.resources).remote(r, source) for r in group]
        tracker = group[0].tracker
        drawing = []
        for request, stream in zip(group, detecting, strict=True):
            request = replace(request, tracker=tracker)
            boxes, found = self.detected(video, request, source, stream)
            tracker = follow_tracks(request, boxes)
            drawing.append((request, found, self.draw(request, source, found)))
        for request, found, stream in drawing:
            self.part(video, request, _Drawing(self, video, source, found, stream))

    def detected(
        self,
        video: VideoRender,
        request: PartRequest,
        source: VideoSource,
        stream: ray.ObjectRefGenerator | None = None,
    ) -> tuple[list, ray.ObjectRef]:
        """The boxes a chunk's objects were found in, and a reference to all that was
        found; tried again elsewhere when the worker dies."""
        key = video.options.video
        for _ in range(MAX_ATTEMPTS):
            if stream is None:
                stream = _detect_task.options(**self.resources).remote(request, source)
            try:
                refs = self.refs(stream)
                for item in self.items(stream, refs):
                    if not isinstance(item, FramesDone):
                        return item, next(refs)
                    self.progress.advance(key, item.frames)
                raise RenderError(f"{video.options.video}: a chunk ended without its objects")
            except WORKER_LOST as error:
                log.warning(
                    "%s: a worker was lost (%s) while finding objects; trying again",
                    video.options.video,
                    type(error).__name__,
                )
                stream, lost = None, error
        raise RenderError(
            f"{video.options.video}: the workers rendering it were lost {MAX_ATTEMPTS} times "
            f"({type(lost).__name__}); run the same command again to carry on"
        )

    def refs(self, stream: ray.ObjectRefGenerator) -> Iterator[ray.ObjectRef]:
        """The references ``stream`` yields; it can be cancelled while they come."""
        with self._lock:
            self._streams.add(stream)
        try:
            # Not "yield from": closing this generator early must not close Ray's stream,
            # which cannot be closed.
            for ref in stream:  # noqa: UP028
                yield ref
        finally:
            with self._lock:
                self._streams.discard(stream)

    def items(
        self, stream: ray.ObjectRefGenerator, refs: Iterator[ray.ObjectRef] | None = None
    ) -> Iterator:
        """What ``stream`` yields (through ``refs``, when given); a failure of the video
        itself becomes its error."""
        for ref in refs or self.refs(stream):
            try:
                yield ray.get(ref)
            except ray_errors.RayTaskError as error:
                raise task_failure(error) from None


class _Drawing:
    """How a chunk's drawing starts (the task already under way), and starts again after
    its worker was lost: with the objects found before, or found again where they were
    lost with their worker."""

    def __init__(
        self,
        runner: _Runner,
        video: VideoRender,
        source: VideoSource,
        found: ray.ObjectRef,
        stream: ray.ObjectRefGenerator,
    ) -> None:
        self.runner = runner
        self.video = video
        self.source = source
        self.found = found
        self.stream: ray.ObjectRefGenerator | None = stream

    def __call__(self, request: PartRequest, lost: BaseException | None) -> ray.ObjectRefGenerator:
        if self.stream is not None:
            stream, self.stream = self.stream, None
            return stream
        if isinstance(lost, ray_errors.ObjectLostError):
            self.found = self.runner.detected(self.video, request, self.source)[1]
        return self.runner.draw(request, self.source, self.found)


def task_failure(error: ray_errors.RayTaskError) -> RenderError:
    """The error a task raised, as one line."""
    cause = error.cause
    if isinstance(cause, RenderError):
        return cause
    return RenderError(f"{type(cause).__name__}: {cause}")

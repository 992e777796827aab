"""Benchmark of rendering on a Ray cluster: a library one video after the other here, against
the same library on a local Ray; and one long video in chunks against the same video in one
task.

Four generated videos (600 frames each by default) are rendered with the deterministic shape
segmenter of :mod:`party_button.testing.render`, so the figures measure the render job and
Ray, not a model:

- ``sequential_s``: the four videos one after the other in this process, as
  ``party-button render`` does without ``--ray``;
- ``ray_start_s``: starting a local Ray with ``--workers`` CPUs (its workers at the priority
  of this process, not Ray's default nice 15) and its worker processes, each loading the
  render job (torch, PyAV) as for its first video;
- ``ray_s``: the four videos on that Ray (``--ray``), from the first task to the last clip;
- ``sequential_cores``: the cores the sequential run kept busy on average (its CPU time over
  its wall time): on 2 CPUs the speedup cannot pass ``2 / sequential_cores``;
- ``speedup`` = ``sequential_s / ray_s``, and ``speedup_with_start`` with ``ray_start_s``
  added to ``ray_s``;
- ``single_s`` and ``chunked_s``: the first video on the Ray as one task, and cut into
  ``--chunk`` seconds.

Target: speedup of at least 1.5 on 2 CPUs.

    python -m benchmarks.render_cluster            # about 5 minutes on 2 cores
    python -m benchmarks.render_cluster --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import ray

from party_button.render import cluster
from party_button.render.batch import render_one_here
from party_button.render.options import ClusterOptions, RenderOptions
from party_button.render.parts import Segmenters
from party_button.render.progress import JobProgress
from party_button.testing.render import make_video

SHAPES = "party_button.testing.render:ShapeSegmenter"


def jobs(videos: list[Path], output: Path) -> list[RenderOptions]:
    """One render a video, into ``output``."""
    return [
        RenderOptions(
            video, output / f"{video.stem}.outlined.mp4", segmenter=SHAPES, progress=False
        )
        for video in videos
    ]


@ray.remote(num_cpus=1)
def warm_up() -> None:
    """Start a worker and load the render job into it, as its first video would."""
    import party_button.render.cluster  # noqa: F401

    time.sleep(1)  # held a while, so that the warm-ups start one worker each


def cpu_seconds() -> float:
    """CPU time of this process so far, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(action) -> float:
    began = time.perf_counter()
    outcomes = action()
    failed = [o for o in outcomes if o.failed]
    if failed:
        raise SystemExit(f"benchmark render failed: {failed[0].message}")
    return time.perf_counter() - began


def run(args: argparse.Namespace, folder: Path) -> dict[str, object]:
    videos = [
        make_video(
            folder / f"video-{n}.mp4",
            frames=args.frames,
            width=args.width,
            height=args.height,
            fps=args.fps,
        ).path
        for n in range(args.videos)
    ]

    def here() -> list:
        segmenters, progress = Segmenters(), JobProgress(len(videos), enabled=False)
        return [render_one_here(j, segmenters, progress) for j in jobs(videos, folder / "here")]

    cpu_before = cpu_seconds()
    sequential_s = timed(here)
    sequential_cores = (cpu_seconds() - cpu_before) / sequential_s
    # Ray runs its workers at nice 15; at the priority of the sequential run the two compare
    # on a machine that other programs share.
    os.environ["RAY_worker_niceness"] = "0"  # noqa: SIM112 (Ray spells it so)
    began = time.perf_counter()
    ray.init(address="local", num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    ray.get([warm_up.remote() for _ in range(args.workers)])
    ray_start_s = time.perf_counter() - began
    try:
        whole = ClusterOptions("local")
        chunked = ClusterOptions("local", chunk_seconds=args.chunk)

        def on_ray(options: ClusterOptions, videos: list[Path], output: str):
            todo = jobs(videos, folder / output)
            return lambda: cluster.render_on_ray(todo, options, lambda outcome: None)

        ray_s = timed(on_ray(whole, videos, "ray"))
        single_s = timed(on_ray(whole, videos[:1], "single"))
        chunked_s = timed(on_ray(chunked, videos[:1], "chunked"))
    finally:
        ray.shutdown()
    return {
        "videos": args.videos,
        "frames_each": args.frames,
        "size": [args.width, args.height],
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "ray": ray.__version__,
        "sequential_s": round(sequential_s, 2),
        "sequential_cores": round(sequential_cores, 2),
        "ray_start_s": round(ray_start_s, 2),
        "ray_s": round(ray_s, 2),
        "speedup": round(sequential_s / ray_s, 2),
        "speedup_with_start": round(sequential_s / (ray_s + ray_start_s), 2),
        "chunk_seconds": args.chunk,
        "single_s": round(single_s, 2),
        "chunked_s": round(chunked_s, 2),
        "chunked_speedup": round(single_s / chunked_s, 2),
    }


def table(result: dict[str, object]) -> str:
    rows = [
        ("sequential (here)", f"{result['sequential_s']} s"),
        ("cores busy, sequential", str(result["sequential_cores"])),
        ("Ray start-up", f"{result['ray_start_s']} s"),
        ("on Ray", f"{result['ray_s']} s"),
        ("speedup (start-up excluded)", f"{result['speedup']} (target >= 1.5)"),
        ("speedup with start-up", str(result["speedup_with_start"])),
        ("one video, one task", f"{result['single_s']} s"),
        (f"one video, {result['chunk_seconds']} s chunks", f"{result['chunked_s']} s"),
        ("chunked speedup", str(result["chunked_speedup"])),
    ]
    head = (
        f"{result['videos']} videos x {result['frames_each']} frames of "
        f"{result['size'][0]}x{result['size'][1]}, shape segmenter, Ray {result['ray']} with "
        f"{result['workers']} workers on {result['cpus']} CPUs"
    )
    width = max(len(name) for name, _ in rows)
    return "\n".join([head, *(f"{name.ljust(width)}  {value}" for name, value in rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=600, help="frames a video (default 600)")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument(
        "--chunk", type=float, default=6.0, help="seconds a chunk for the chunked run"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="render-cluster-") as name:
        result = run(args, Path(name))
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the render job: each stage on its own, the whole pipeline, a naive loop.

All on the same generated frames, in one run: decoding, inference, drawing (tracking
included) and encoding each alone; the whole pipeline (``render()``, as the command runs
it); and a naive loop that decodes, infers, draws and encodes one frame at a time. The
target: the pipeline reaches at least 90% of inference-only throughput.

The model is a real torchvision Mask R-CNN. COCO weights are used when they are in the
torch cache; otherwise the model is randomly initialised (said in the output), which costs
the same to run. The generated frames show five drifting blobs and no COCO objects, so the
model runs in full on every frame but its findings are replaced by the blobs, as "person":
tracking, drawing and encoding then work as hard as with five people on screen.

    python benchmarks/render.py                 # CPU: about 2 minutes on 2 cores
    python benchmarks/render.py --device cuda --frames 200 --height 720 --batch-size 8
    python benchmarks/render.py --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from party_button.render.drawing import Painter
from party_button.render.encoder import SegmentEncoder
from party_button.render.job import render
from party_button.render.maskrcnn import (
    COCO_CLASSES,
    MODELS,
    MaskRCNNSegmenter,
    cached_weights_path,
    choose_device,
)
from party_button.render.options import OutlineStyle, RenderOptions
from party_button.render.segmenter import Detection, SegmenterOptions
from party_button.render.tracking import Tracker
from party_button.render.video import FrameReader, probe

FPS = 25


def make_source(path: Path, frames: int, width: int, height: int) -> list[list[Detection]]:
    """A video of five blobs drifting over a textured background; returns the blobs of
    each frame as detections."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
    rows, cols = np.mgrid[0:height, 0:width]
    blobs = [
        (
            rng.uniform(0, width),
            rng.uniform(0, height),
            rng.uniform(-6, 6),
            rng.uniform(-3, 3),
            rng.integers(80, 255, size=3),
        )
        for _ in range(5)
    ]
    truth = []
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            image = texture.copy()
            found = []
            for x, y, dx, dy, colour in blobs:
                cx, cy = (x + dx * index) % width, (y + dy * index) % height
                inside = ((cols - cx) / (width / 10)) ** 2 + ((rows - cy) / (height / 4)) ** 2
                mask = inside < 1
                image[mask] = colour
                ys, xs = np.nonzero(mask)
                box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
                found.append(Detection.from_frame_mask("person", 0.9, box, mask))
            truth.append(found)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return truth


class ModelWithKnownObjects:
    """Runs the model on every batch, then answers with the blobs known to be there."""

    def __init__(self, model: MaskRCNNSegmenter, truth: list[list[Detection]]) -> None:
        self.model = model
        self.truth = truth
        self.position = 0

    def rewind(self) -> None:
        self.position = 0

    def segment(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        self.model.segment(frames)
        first, self.position = self.position, self.position + len(frames)
        return self.truth[first : self.position]

    def describe(self) -> dict[str, object]:
        return self.model.describe()


def model_options(args: argparse.Namespace, weights: Path | None) -> SegmenterOptions:
    return SegmenterOptions(
        classes=COCO_CLASSES,
        score_threshold=0.0,
        device=args.device,
        half=args.half,
        input_size=args.input_size,
        max_detections=args.max_detections,
        model=args.model,
        weights=weights,
    )


def prepare_weights(args: argparse.Namespace, folder: Path) -> tuple[Path | None, str]:
    """COCO weights from the torch cache, or a randomly initialised model saved to a file."""
    if cached_weights_path(args.model).exists():
        return None, f"COCO ({cached_weights_path(args.model)})"
    torch.manual_seed(0)
    builder = MODELS[args.model][0]
    model = builder(weights=None, weights_backbone=None, num_classes=91)
    path = folder / "random.pth"
    torch.save(model.state_dict(), path)
    return path, "random init (COCO weights are not in the torch cache)"


def seconds(action: Callable[[], object]) -> tuple[float, object]:
    """How long ``action`` takes, and what it returns."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    began = time.perf_counter()
    result = action()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - began, result


def timed(action: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median seconds of ``repeats`` runs of ``action``, and the last result."""
    runs = [seconds(action) for _ in range(repeats)]
    return statistics.median(t for t, _ in runs), runs[-1][1]


def timed_in_turns(actions: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds of each action, run in turns so that a change in the machine's load
    falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(rounds):
        for name, action in actions.items():
            times[name].append(seconds(action)[0])
    return {name: statistics.median(values) for name, values in times.items()}


def run(args: argparse.Namespace) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="render-bench-"))
    source = folder / "source.mp4"
    truth = make_source(source, args.frames, args.width, args.height)
    info = probe(source)
    size = info.output_size(args.height)
    if size != (args.width, args.height):
        raise SystemExit("--width and --height must be even")
    weights, weights_text = prepare_weights(args, folder)
    model = MaskRCNNSegmenter(model_options(args, weights), progress=False)
    segmenter = ModelWithKnownObjects(model, truth)
    style = OutlineStyle()
    n = args.frames

    def decode() -> list:
        return list(FrameReader(info, size))

    def infer(images: list[np.ndarray]) -> list:
        segmenter.rewind()
        results = []
        for first in range(0, len(images), args.batch_size):
            results.extend(segmenter.segment(images[first : first + args.batch_size]))
        return results

    def draw(images: list[np.ndarray], detections: list) -> list[np.ndarray]:
        tracker, painter = Tracker(), Painter(style)
        return [
            painter.paint(image.copy(), tracker.update(found))
            for image, found in zip(images, detections, strict=True)
        ]

    def encode(images: list[np.ndarray]) -> None:
        with SegmentEncoder(folder / "encoded.mp4", size, info.rate, info.time_base, 20) as encoder:
            for index, image in enumerate(images):
                encoder.write(image, index * round(1 / (info.rate * info.time_base)))

    def pipeline() -> None:
        options = RenderOptions(
            video=source,
            output=folder / "clip.mp4",
            classes=("all",),
            score_threshold=0.0,
            model=args.model,
            weights=weights,
            device=args.device,
            half=args.half,
            batch_size=args.batch_size,
            input_size=args.input_size,
            max_detections=args.max_detections,
            height=args.height,
            style=style,
            overwrite=True,
            progress=False,
        )
        segmenter.rewind()
        render(options, lambda _: segmenter)

    def naive() -> None:
        segmenter.rewind()
        tracker, painter = Tracker(), Painter(style)
        with SegmentEncoder(folder / "naive.mp4", size, info.rate, info.time_base, 20) as encoder:
            for frame in FrameReader(info, size):
                found = segmenter.segment([frame.image])[0]
                encoder.write(painter.paint(frame.image, tracker.update(found)), frame.pts)

    decode_s, frames = timed(decode, args.cheap_repeats)
    images = [frame.image for frame in frames]
    model.segment([images[0]] * args.batch_size)  # warm-up: lazy initialisation, cudnn
    detections = infer(images)
    draw_s, drawn = timed(lambda: draw(images, detections), args.cheap_repeats)
    encode_s, _ = timed(lambda: encode(drawn), args.cheap_repeats)
    model_bound = timed_in_turns(
        {"inference": lambda: infer(images), "pipeline": pipeline, "naive": naive}, args.repeats
    )
    inference_s, pipeline_s, naive_s = (model_bound[k] for k in ("inference", "pipeline", "naive"))
    result = {
        "device": segmenter.describe()["device"],
        "model": args.model,
        "weights": weights_text,
        "frames": n,
        "frame_size": list(size),
        "input_size": args.input_size,
        "batch_size": args.batch_size,
        "half": args.half,
        "objects_per_frame": round(sum(map(len, detections)) / n, 2),
        "torch_threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "decode_fps": n / decode_s,
        "inference_fps": n / inference_s,
        "draw_fps": n / draw_s,
        "encode_fps": n / encode_s,
        "pipeline_fps": n / pipeline_s,
        "naive_fps": n / naive_s,
    }
    result["pipeline_vs_inference"] = result["pipeline_fps"] / result["inference_fps"]
    result["pipeline_vs_naive"] = result["pipeline_fps"] / result["naive_fps"]
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}


def table(result: dict[str, object]) -> str:
    lines = [
        f"render benchmark on {result['device']}: {result['model']}, weights {result['weights']}",
        f"{result['frames']} frames of {result['frame_size'][0]}x"
        f"{result['frame_size'][1]}, input size {result['input_size']}, batch "
        f"{result['batch_size']}, {result['objects_per_frame']} objects outlined a frame",
        "",
        f"{'stage':<22}{'frames/s':>10}",
    ]
    for key in ("decode", "inference", "draw", "encode", "pipeline", "naive"):
        lines.append(f"{key:<22}{result[key + '_fps']:>10.2f}")
    target = "met" if result["pipeline_vs_inference"] >= 0.9 else "NOT met"
    lines += [
        "",
        f"pipeline / inference  {result['pipeline_vs_inference']:>8.1%}  (target 90%: {target})",
        f"pipeline / naive loop {result['pipeline_vs_naive']:>8.2f}x",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument(
        "--model",
        choices=tuple(MODELS),
        default=None,
        help="default: maskrcnn_resnet50_fpn_v2 on a GPU, the lighter "
        "maskrcnn_resnet50_fpn on a CPU (to keep to about 2 minutes)",
    )
    parser.add_argument(
        "--frames", type=int, default=None, help="default: 200 on a GPU, 6 on a CPU"
    )
    parser.add_argument(
        "--width",
        type=int,
        default=None,
        help="of the generated video (default: 1280 on a GPU, 384 on a CPU)",
    )
    parser.add_argument(
        "--height",
        type=int,
        default=None,
        help="of the generated video and the clip (default: 720 on a GPU, 216 on a CPU)",
    )
    parser.add_argument(
        "--input-size",
        type=int,
        default=None,
        help="the model's input size (default: 800 on a GPU, the frame height on a CPU)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="default: 8 on a GPU, 2 on a CPU"
    )
    parser.add_argument(
        "--max-detections", type=int, default=10, help="the model's limit of detections a frame"
    )
    parser.add_argument("--half", action="store_true")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="rounds of inference, pipeline and naive loop, taken in turns; the median counts",
    )
    parser.add_argument(
        "--cheap-repeats",
        type=int,
        default=5,
        help="runs of decoding, drawing and encoding; the median counts",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    gpu = choose_device(args.device).type == "cuda"
    defaults = {
        "model": "maskrcnn_resnet50_fpn_v2" if gpu else "maskrcnn_resnet50_fpn",
        "frames": 200 if gpu else 6,
        "width": 1280 if gpu else 384,
        "height": 720 if gpu else 216,
        "batch_size": 8 if gpu else 2,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.input_size is None:
        args.input_size = 800 if gpu else args.height
    result = run(args)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

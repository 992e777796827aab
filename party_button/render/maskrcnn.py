"""torchvision's Mask R-CNN with COCO weights, as a :class:`Segmenter`."""

from __future__ import annotations

import difflib
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torchvision.models import detection, get_model_weights

from party_button.errors import DeviceError, SettingsError, WeightsError
from party_button.render.options import MODELS as NAMES
from party_button.render.segmenter import Detection, SegmenterOptions

#: Each model's builder and the COCO weights it uses unless ``--weights`` names a file.
MODELS = {name: (getattr(detection, name), get_model_weights(name).COCO_V1) for name in NAMES}

#: The model's class numbers and names; "__background__" and "N/A" are never found.
CATEGORIES: tuple[str, ...] = tuple(MODELS["maskrcnn_resnet50_fpn_v2"][1].meta["categories"])
COCO_CLASSES: tuple[str, ...] = tuple(c for c in CATEGORIES if c not in ("__background__", "N/A"))
MASK_THRESHOLD = 0.5


def resolve_classes(classes: Sequence[str]) -> tuple[str, ...]:
    """Check ``classes`` against COCO's names; ``all`` stands for every class."""
    if list(classes) == ["all"]:
        return COCO_CLASSES
    for name in classes:
        if name not in COCO_CLASSES:
            close = difflib.get_close_matches(name, COCO_CLASSES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else " (see the COCO class list)"
            raise SettingsError(f"--classes: {name!r} is not a COCO class{hint}")
    return tuple(classes)


def choose_device(name: str) -> torch.device:
    """The torch device for ``auto``, ``cuda`` or ``cpu``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("--device cuda: torch finds no CUDA GPU on this machine")
    return torch.device(name)


def cached_weights_path(model: str) -> Path:
    """Where torchvision keeps ``model``'s COCO weights once downloaded."""
    url = MODELS[model][1].url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _read_weights_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise WeightsError(f"{path}: not a PyTorch weights file ({reason})") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return state


def _coco_weights(model: str, progress: bool) -> dict[str, torch.Tensor]:
    weights = MODELS[model][1]
    cached = cached_weights_path(model)
    try:
        return weights.get_state_dict(progress=progress, check_hash=True)
    except OSError as error:
        reason = getattr(error, "reason", None) or error
        raise WeightsError(
            f"{cached}: missing, and downloading {weights.url} failed ({reason}); "
            f"copy that file there from a connected machine, or pass --weights FILE"
        ) from None
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as error:
        raise WeightsError(f"{cached}: damaged ({error}); delete it to download it again") from None


def load_model(options: SegmenterOptions, progress: bool = True) -> torch.nn.Module:
    """Build ``options.model`` and load its weights: the file ``options.weights``, or the
    COCO weights through torchvision's weights API (downloaded once into the torch cache)."""
    builder, _ = MODELS[options.model]
    model = builder(
        weights=None,
        weights_backbone=None,
        num_classes=len(CATEGORIES),
        min_size=options.input_size,
        max_size=round(options.input_size * 1333 / 800),
        box_score_thresh=options.score_threshold,
        box_detections_per_img=options.max_detections,
    )
    if options.weights is not None:
        state, source = _read_weights_file(options.weights), str(options.weights)
    else:
        state, source = (
            _coco_weights(options.model, progress),
            str(cached_weights_path(options.model)),
        )
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise WeightsError(
            f"{source}: does not fit {options.model} ({str(error).splitlines()[-1].strip()})"
        ) from None
    if missing or unexpected:
        example = (missing or unexpected)[0]
        raise WeightsError(
            f"{source}: not {options.model} weights ({len(missing)} missing and "
            f"{len(unexpected)} unexpected entries, e.g. {example!r})"
        )
    return model.eval()


class MaskRCNNSegmenter:
    """Finds COCO objects with Mask R-CNN, a batch of frames at a time."""

    def __init__(self, options: SegmenterOptions, progress: bool = True) -> None:
        self.options = options
        self.device = choose_device(options.device)
        if options.half and self.device.type != "cuda":
            raise SettingsError("--half needs a CUDA device")
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.model = load_model(options, progress).to(self.device)
        self._wanted = torch.tensor(
            [CATEGORIES.index(c) for c in options.classes], device=self.device
        )

    @torch.inference_mode()
    def segment(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detections of the wanted classes, scoring at least the threshold, per frame."""
        batch = torch.from_numpy(np.stack(frames)).to(self.device, non_blocking=True)
        images = list(batch.permute(0, 3, 1, 2).float().div_(255))
        try:
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.options.half):
                outputs = self.model(images)
            return [self._detections(output) for output in outputs]
        except torch.cuda.OutOfMemoryError:
            raise DeviceError(
                f"out of GPU memory with {len(frames)} frames a batch; try a "
                f"smaller --batch-size, --input-size or --height"
            ) from None

    def _detections(self, output: dict[str, torch.Tensor]) -> list[Detection]:
        keep = (output["scores"] >= self.options.score_threshold) & torch.isin(
            output["labels"], self._wanted
        )
        masks = (output["masks"][keep, 0] > MASK_THRESHOLD).cpu().numpy()
        boxes = output["boxes"][keep].float().cpu().tolist()
        scores = output["scores"][keep].float().cpu().tolist()
        labels = output["labels"][keep].cpu().tolist()
        return [
            Detection.from_frame_mask(CATEGORIES[label], score, tuple(box), mask)
            for label, score, box, mask in zip(labels, scores, boxes, masks, strict=True)
        ]

    def describe(self) -> dict[str, object]:
        """The model, its weights and where it ran, for the sidecar."""
        options = self.options
        weights = MODELS[options.model][1]
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "CPU"
        return {
            "name": options.model,
            "weights": str(options.weights) if options.weights else f"{weights!s}",
            "weights_file": str(options.weights or cached_weights_path(options.model)),
            "device": f"{self.device.type} ({name})",
            "half": options.half,
            "input_size": options.input_size,
            "max_detections": options.max_detections,
            "mask_threshold": MASK_THRESHOLD,
        }

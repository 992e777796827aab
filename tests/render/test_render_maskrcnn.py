"""The real torchvision Mask R-CNN path: weights files, the weights API offline, inference.

COCO weights cannot be downloaded here, so a randomly initialised model is saved to a local
file and loaded with ``--weights``; it runs on a few small frames at a small input size.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("numpy")
pytest.importorskip("av")
torch = pytest.importorskip("torch")
detection = pytest.importorskip("torchvision.models.detection")

from party_button.render.maskrcnn import COCO_CLASSES, cached_weights_path  # noqa: E402


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    """A randomly initialised maskrcnn_resnet50_fpn, saved as a state dict."""
    torch.manual_seed(0)
    model = detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    path = tmp_path_factory.mktemp("weights") / "random-maskrcnn.pth"
    torch.save(model.state_dict(), path)
    return path


def assert_fails(result, *fragments: str) -> None:
    assert result.code == 1, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    for fragment in fragments:
        assert fragment in result.err


def test_a_weights_file_runs_mask_rcnn_on_the_frames(
    random_weights, shapes_video, tmp_path, render_cli
):
    out = tmp_path / "real.mp4"
    result = render_cli(
        shapes_video.path,
        "-o",
        out,
        "--model",
        "maskrcnn_resnet50_fpn",
        "--weights",
        random_weights,
        "--input-size",
        "64",
        "--frames",
        "3",
        "--classes",
        "all",
        "--score-threshold",
        "0",
        "--device",
        "cpu",
        "--batch-size",
        "2",
        "--labels",
    )
    assert result.code == 0, result.err
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["model"]["name"] == "maskrcnn_resnet50_fpn"
    assert sidecar["model"]["weights"] == str(random_weights)
    assert sidecar["model"]["device"] == "cpu (CPU)"
    assert sidecar["model"]["input_size"] == 64
    assert len(sidecar["frames"]) == 3
    detections = [d for f in sidecar["frames"] for d in f["detections"]]
    assert detections, "a random model scores every class a little: threshold 0 keeps them"
    for found in detections:
        assert found["class"] in COCO_CLASSES
        left, top, right, bottom = found["box"]
        assert 0 <= left <= right <= shapes_video.width
        assert 0 <= top <= bottom <= shapes_video.height
        assert 0 <= found["score"] <= 1 and found["track"] >= 1


def test_weights_of_the_other_model_are_refused(random_weights, shapes_video, render_cli):
    assert_fails(
        render_cli(shapes_video.path, "--weights", random_weights, "--device", "cpu"),
        str(random_weights),
        "maskrcnn_resnet50_fpn_v2",
    )


def test_a_missing_weights_file(shapes_video, tmp_path, render_cli):
    missing = tmp_path / "nothing.pth"
    assert_fails(
        render_cli(shapes_video.path, "--weights", missing), f"{missing}: no such weights file"
    )


def test_a_weights_file_that_is_not_weights(shapes_video, tmp_path, render_cli):
    junk = tmp_path / "junk.pth"
    junk.write_text("not weights")
    assert_fails(
        render_cli(shapes_video.path, "--weights", junk, "--device", "cpu"),
        f"{junk}: not a PyTorch weights file",
    )


def test_offline_without_downloaded_weights(shapes_video, tmp_path, render_cli, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    expected = (
        tmp_path / "torch" / "hub" / "checkpoints" / "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth"
    )
    assert cached_weights_path("maskrcnn_resnet50_fpn_v2") == expected
    assert_fails(
        render_cli(shapes_video.path, "--device", "cpu", "--no-progress"),
        f"{expected}: missing, and downloading "
        "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth"
        " failed",
        "--weights FILE",
    )
    assert not any((tmp_path / "songs").iterdir()), "nothing is left behind"


def test_damaged_downloaded_weights(shapes_video, tmp_path, render_cli, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = cached_weights_path("maskrcnn_resnet50_fpn")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"half a download")
    assert_fails(
        render_cli(shapes_video.path, "--model", "maskrcnn_resnet50_fpn", "--device", "cpu"),
        f"{cached}: damaged",
        "delete it to download it again",
    )

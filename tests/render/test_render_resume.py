"""Nothing is lost and nothing half-made is published: interruptions, and running the same
command again to carry on."""

from __future__ import annotations

import json
import resource
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("av")
pytest.importorskip("torchvision")

from conftest import SHAPES, run_module  # noqa: E402

from party_button.testing.render import assert_same_clip, read_video, work_folder  # noqa: E402

STOPPING = "party_button.testing.render:StoppingSegmenter"


def saved_frames(clip: Path) -> int:
    segments = json.loads((work_folder(clip) / "state.json").read_text())["segments"]
    return sum(segment["frames"] for segment in segments.values())


def stop_env(clip: Path, signal_name: str, after: int = 30) -> dict[str, str]:
    return {
        "SHAPES_STOP_AFTER": str(after),
        "SHAPES_SIGNAL": signal_name,
        "SHAPES_WAIT_FOR": str(work_folder(clip) / "state.json"),
    }


def test_resume_after_a_crash_gives_the_same_clip(
    shapes_video, rendered_shapes, tmp_path, render_cli
):
    clip = tmp_path / "songs" / "shapes.outlined.mp4"
    crashed = run_module(
        shapes_video.path,
        "--segmenter",
        STOPPING,
        "--no-progress",
        cwd=tmp_path,
        env=stop_env(clip, "SIGKILL"),
    )
    assert crashed.returncode == -signal.SIGKILL
    assert not clip.exists() and not clip.with_suffix(".json").exists()
    assert 0 < saved_frames(clip) < shapes_video.frames
    result = render_cli(shapes_video.path, "--segmenter", STOPPING, songs=tmp_path / "songs")
    assert result.code == 0, result.err
    assert "(resumed)" in result.out
    assert_same_clip(clip, rendered_shapes)
    run = json.loads(clip.with_suffix(".json").read_text())["run"]
    assert run["runs"] == 2
    assert [part["run"] for part in run["parts"]] == [1, 2]
    assert run["parts"][1]["frames"] == [run["parts"][0]["frames"][1] + 1, 59]
    assert not work_folder(clip).exists()


@pytest.fixture
def ctrl_c_interrupts() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt, as in a terminal, even where this test process was
    started with SIGINT ignored (a background job of a shell, as some CI runners start it)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c_interrupts")
def test_ctrl_c_keeps_the_work_and_resume_finishes(
    shapes_video, rendered_shapes, tmp_path, render_cli, monkeypatch
):
    clip = tmp_path / "songs" / "shapes.outlined.mp4"
    for name, value in stop_env(clip, "SIGINT").items():
        monkeypatch.setenv(name, value)
    stopped = render_cli(shapes_video.path, "--segmenter", STOPPING)
    assert stopped.code == 130
    assert stopped.err.count("\n") == 1 and "run the same command again" in stopped.err
    assert not clip.exists()
    kept = saved_frames(clip)
    assert 0 < kept < shapes_video.frames

    monkeypatch.delenv("SHAPES_STOP_AFTER")
    other = render_cli(shapes_video.path, "--segmenter", STOPPING, "--glow", "3")
    assert other.code == 1
    assert "unfinished render" in other.err and "style" in other.err
    assert "--overwrite" in other.err
    assert saved_frames(clip) == kept

    result = render_cli(shapes_video.path, "--segmenter", STOPPING)
    assert result.code == 0, result.err
    assert "(resumed)" in result.out
    assert_same_clip(clip, rendered_shapes)


def limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_failed_write_publishes_nothing_and_resume_finishes(
    shapes_video, rendered_shapes, tmp_path, render_cli
):
    clip = tmp_path / "songs" / "shapes.outlined.mp4"
    limit = rendered_shapes.stat().st_size * 2 // 3
    failed = run_module(
        shapes_video.path,
        "--segmenter",
        SHAPES,
        "--no-progress",
        cwd=tmp_path,
        preexec_fn=limit_file_size(limit),
    )
    assert failed.returncode == 1
    message = failed.stderr.strip().splitlines()[-1]
    assert "File too large" in message and "run again" in message
    assert "Traceback" not in failed.stderr
    assert not clip.exists() and not clip.with_suffix(".json").exists()
    assert saved_frames(clip) == shapes_video.frames
    result = render_cli(shapes_video.path, "--segmenter", SHAPES, songs=tmp_path / "songs")
    assert result.code == 0, result.err
    assert_same_clip(clip, rendered_shapes)


def test_a_finished_clip_is_skipped_and_replaced_only_with_overwrite(
    shapes_video, tmp_path, render_cli
):
    clip = tmp_path / "clip.mp4"
    assert (
        render_cli(shapes_video.path, "-o", clip, "--segmenter", SHAPES, "--frames", "3").code == 0
    )
    again = render_cli(shapes_video.path, "-o", clip, "--segmenter", SHAPES, "--frames", "5")
    assert again.code == 0, again.err
    assert again.out.strip() == f"{clip}: finished already; --overwrite renders it again"
    assert len(read_video(clip).frames) == 3
    replaced = render_cli(
        shapes_video.path, "-o", clip, "--segmenter", SHAPES, "--frames", "5", "--overwrite"
    )
    assert replaced.code == 0, replaced.err
    assert len(read_video(clip).frames) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.json", "clip.mp4"]

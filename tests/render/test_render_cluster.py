"""Rendering on a Ray cluster: a local Ray with 2 CPUs, started once for these tests, and the
render command run as a user runs it, in its own process, joining that Ray."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("av")
pytest.importorskip("torchvision")
ray = pytest.importorskip("ray")

from conftest import REPO, SHAPES, run_module  # noqa: E402

from party_button.testing.render import assert_same_clip, make_video, read_video, work_folder  # noqa: E402

TALLY = "party_button.testing.render:TallySegmenter"
KILLING = "party_button.testing.render:KillingSegmenter"


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Three videos (one in a subfolder) and a corrupt one, and each good one rendered
    without Ray for comparison."""
    from party_button.render.job import render
    from party_button.render.options import RenderOptions

    folder = tmp_path_factory.mktemp("library")
    (folder / "live").mkdir()
    videos = [
        make_video(folder / "alpha.mp4", frames=44).path,
        make_video(folder / "live" / "beta.mkv", frames=30, audio_codec="libopus").path,
        make_video(folder / "gamma.mov", frames=25, width=128, height=96).path,
    ]
    (folder / "broken.mp4").write_bytes(videos[0].read_bytes()[:900])
    plain = tmp_path_factory.mktemp("plain")
    references = {}
    for video in videos:
        clip = plain / f"{video.stem}.outlined.mp4"
        render(RenderOptions(video, clip, segmenter=SHAPES, progress=False))
        references[video.stem] = clip
    return folder, references


def render_on_ray(cluster, *argv: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_module(*argv, "--ray", cluster.address, "--no-progress", cwd=cwd, env=cluster.env)


def test_a_library_renders_on_ray_as_it_does_here(ray_cluster, library, tmp_path):
    folder, references = library
    done = render_on_ray(ray_cluster, folder, "--segmenter", TALLY, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "broken.mp4: " in done.stderr and "Traceback" not in done.stderr
    songs = tmp_path / "songs"
    clips = {
        "alpha": songs / "alpha.outlined.mp4",
        "beta": songs / "live" / "beta.outlined.mp4",
        "gamma": songs / "gamma.outlined.mp4",
    }
    for name, clip in clips.items():
        assert_same_clip(clip, references[name])
    table = done.stdout.strip().splitlines()
    assert table[0].split()[:3] == ["video", "result", "frames"]
    assert table[-1] == "3 rendered, 0 resumed, 0 skipped, 1 failed"
    assert {line.split()[1] for line in table[1:-1]} == {"rendered", "failed"}

    sidecars = [json.loads(clip.with_suffix(".json").read_text()) for clip in clips.values()]
    processes = [sidecar["model"]["process"] for sidecar in sidecars]
    assert all(sidecar["model"]["built"] == 1 for sidecar in sidecars), "one model a worker"
    assert len(set(processes)) < len(processes), "a worker renders more than one video"
    for sidecar in sidecars:
        (part,) = sidecar["run"]["parts"]
        assert part["pid"] == sidecar["model"]["process"] and part["host"]
        assert part["frames"] == [0, sidecar["video"]["frames"] - 1]

    stamps = {clip: clip.stat().st_mtime_ns for clip in clips.values()}
    again = render_on_ray(ray_cluster, folder, "--segmenter", TALLY, cwd=tmp_path)
    assert again.returncode == 1
    assert again.stdout.strip().splitlines()[-1] == "0 rendered, 0 resumed, 3 skipped, 1 failed"
    assert {clip: clip.stat().st_mtime_ns for clip in clips.values()} == stamps


def test_a_worker_killed_in_the_middle_of_a_video_is_carried_on_elsewhere(
    ray_cluster, shapes_video, rendered_shapes, tmp_path
):
    clip = tmp_path / "songs" / "shapes.outlined.mp4"
    marker = tmp_path / "killed"
    plan = {"after": 30, "wait_for": str(work_folder(clip) / "state.json"), "marker": str(marker)}
    ray_cluster.kill_plan.write_text(json.dumps(plan))
    try:
        done = render_on_ray(ray_cluster, shapes_video.path, "--segmenter", KILLING, cwd=tmp_path)
    finally:
        ray_cluster.kill_plan.unlink()
    assert done.returncode == 0, done.stderr
    assert marker.exists(), "the worker was killed"
    assert_same_clip(clip, rendered_shapes)
    first, second = json.loads(clip.with_suffix(".json").read_text())["run"]["parts"]
    assert (first["attempt"], second["attempt"]) == (1, 2)
    assert first["pid"] == int(marker.read_text()) != second["pid"]
    assert first["frames"][0] == 0 and 0 < first["frames"][1] < 30
    assert second["frames"] == [first["frames"][1] + 1, shapes_video.frames - 1]


def test_chunks_give_the_clip_of_a_single_run(ray_cluster, shapes_video, rendered_shapes, tmp_path):
    done = render_on_ray(
        ray_cluster, shapes_video.path, "--segmenter", SHAPES, "--chunk", "2", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    clip = tmp_path / "songs" / "shapes.outlined.mp4"
    assert_same_clip(clip, rendered_shapes)
    sidecar = json.loads(clip.with_suffix(".json").read_text())
    assert [part["frames"] for part in sidecar["run"]["parts"]] == [[0, 19], [20, 39], [40, 59]]
    assert (
        sidecar["frames"] == json.loads(rendered_shapes.with_suffix(".json").read_text())["frames"]
    )


def test_chunks_of_a_video_with_keyframes_far_apart_give_the_clip_of_a_single_run(
    ray_cluster, tmp_path
):
    from party_button.render.job import render
    from party_button.render.options import RenderOptions

    video = make_video(tmp_path / "far.mp4", frames=60, keyframe_every=25).path
    reference = tmp_path / "plain" / "far.outlined.mp4"
    render(RenderOptions(video, reference, segmenter=SHAPES, progress=False))
    done = render_on_ray(ray_cluster, video, "--segmenter", SHAPES, "--chunk", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    clip = tmp_path / "songs" / "far.outlined.mp4"
    assert_same_clip(clip, reference)
    parts = json.loads(clip.with_suffix(".json").read_text())["run"]["parts"]
    assert [part["frames"] for part in parts] == [[0, 19], [20, 39], [40, 59]]


def test_a_failure_on_the_worker_is_the_videos_one_line_error(ray_cluster, shapes_video, tmp_path):
    done = render_on_ray(ray_cluster, shapes_video.path, "--segmenter", "nowhere:X", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert (
        "party-button render: --segmenter 'nowhere:X': cannot import nowhere "
        "(No module named 'nowhere')\n"
    ) in done.stderr
    assert not (tmp_path / "songs" / ".shapes.outlined.mp4.render").exists()


def test_a_worker_without_the_file_gets_the_video_through_ray(ray_cluster, shapes_video):
    from party_button.render.cluster import VideoSource

    @ray.remote
    def fetch(source: VideoSource) -> tuple[str, bytes]:
        with tempfile.TemporaryDirectory() as folder:
            path = source.local(Path(folder))
            return str(path), path.read_bytes()

    here = VideoSource.put(shapes_video.path)
    path, data = ray.get(fetch.remote(here))
    assert path == str(shapes_video.path.resolve())
    elsewhere = VideoSource("/nowhere/shapes.mp4", here.size, here.mtime_ns, here.data)
    path, data = ray.get(fetch.remote(elsewhere))
    assert path.endswith("input.mp4") and data == shapes_video.path.read_bytes()


def test_ray_addresses_are_checked(shapes_video, tmp_path):
    done = run_module(shapes_video.path, "--ray", "videos/", "--segmenter", SHAPES, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "party-button render: --ray 'videos/': not a Ray address (auto or HOST:PORT); "
        "to start a Ray here give --ray without an address, after the videos"
    )
    client = run_module(shapes_video.path, "--ray=ray://head:10001", cwd=tmp_path)
    assert client.returncode == 1
    assert "Ray Client cannot stream the segments back" in client.stderr
    chunk = run_module(shapes_video.path, "--chunk", "2", "--segmenter", SHAPES, cwd=tmp_path)
    assert chunk.returncode == 1 and "--chunk" in chunk.stderr and "--ray" in chunk.stderr


def test_the_daemon_and_the_plain_render_never_import_ray(shapes_video, tmp_path):
    script = textwrap.dedent(f"""
        import sys
        import party_button.cli.main, party_button.daemon.daemon
        from party_button.render.__main__ import main
        code = main([{str(shapes_video.path)!r}, "-o", {str(tmp_path / "c.mp4")!r},
                     "--segmenter", {SHAPES!r}, "--frames", "3", "--no-progress"])
        assert code == 0, code
        print(sorted(name for name in sys.modules if name.partition(".")[0] == "ray"))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PYTHONPATH": f"{Path(__file__).parent}:{REPO}", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert len(read_video(tmp_path / "c.mp4").frames) == 3

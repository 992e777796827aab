"""Fixtures of the render tests: test videos, and running the render command.

The render's own modules need the render extra; tests that use them skip themselves
(``pytest.importorskip``) where it is not installed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The render tests take minutes (torch, Ray): ``make check`` leaves them out."""
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.slow)


REPO = HERE.parent.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
SHAPES = "party_button.testing.render:ShapeSegmenter"


@dataclass(frozen=True)
class Outcome:
    """How a render ended: exit code and what it printed."""

    code: int
    out: str
    err: str


def render_parser() -> argparse.ArgumentParser:
    from party_button.cli.render import add_arguments

    parser = argparse.ArgumentParser(prog="party-button render")
    add_arguments(parser)
    return parser


@pytest.fixture
def render_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Run the render command in this process: ``render_cli(*argv, songs=DIR)``."""
    from party_button.cli.common import call as run_command

    def call(*argv: object, songs: Path | None = None) -> Outcome:
        args = render_parser().parse_args([str(a) for a in argv] + ["--no-progress"])
        args.songs = songs or tmp_path / "songs"
        code = run_command(args)
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return call


def run_module(
    *argv: object, cwd: Path, env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m party_button.render`` in a child process."""
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(HERE), str(REPO), os.environ.get("PYTHONPATH")])
    )
    return subprocess.run(
        [sys.executable, "-m", "party_button.render", *map(str, argv)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        **kwargs,
    )


def corrupt(source: Path, target: Path, packets: tuple[int, ...]) -> list[float]:
    """Copy ``source`` with the given video packets broken; returns their times."""
    import av

    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        found = [
            (p.pos, float(p.pts * stream.time_base)) for p in container.demux(stream) if p.size
        ]
    data = bytearray(source.read_bytes())
    for number in packets:
        position = found[number][0]
        data[position : position + 4] = b"\xff\xff\xff\xff"
    target.write_bytes(bytes(data))
    return sorted(found[number][1] for number in packets)


@pytest.fixture(scope="session")
def shapes_video(tmp_path_factory: pytest.TempPathFactory):
    """A 60-frame, 10 fps video of crossing shapes with a tone (three 2-second segments)."""
    pytest.importorskip("av")
    from party_button.testing.render import make_video

    return make_video(tmp_path_factory.mktemp("videos") / "shapes.mp4", frames=60)


@pytest.fixture(scope="session")
def rendered_shapes(shapes_video, tmp_path_factory: pytest.TempPathFactory):
    """``shapes_video`` rendered once, uninterrupted, with default options."""
    from party_button.cli.common import call

    songs = tmp_path_factory.mktemp("songs")
    args = render_parser().parse_args(
        [str(shapes_video.path), "--segmenter", SHAPES, "--no-progress"]
    )
    args.songs = songs
    assert call(args) == 0
    return songs / "shapes.outlined.mp4"


@dataclass(frozen=True)
class RayCluster:
    """A Ray started for the tests: its address, what a process that joins it needs in its
    environment (Ray's token authentication), and the kill plan file its workers read (see
    ``party_button.testing.render.KillingSegmenter``)."""

    address: str
    env: dict[str, str]
    kill_plan: Path


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory):
    """One local Ray with 2 CPUs for every test that needs one (Ray starts slowly).

    Its workers find the test segmenters (``party_button.testing.render``) through ``PYTHONPATH``.
    """
    ray = pytest.importorskip("ray")
    pytest.importorskip("av")
    kill_plan = tmp_path_factory.mktemp("ray") / "kill-plan.json"
    saved = dict(os.environ)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(HERE), str(REPO), saved.get("PYTHONPATH")])
    )
    os.environ["SHAPES_KILL_PLAN"] = str(kill_plan)
    # Not Ray's nice 15: as fast as the test process on a busy machine.
    os.environ["RAY_worker_niceness"] = "0"  # noqa: SIM112 (Ray spells it so)
    try:
        ray.init(
            address="local",
            num_cpus=2,
            num_gpus=0,
            include_dashboard=False,
            log_to_driver=False,
        )
        env = {name: value for name, value in os.environ.items() if name.startswith("RAY_AUTH")}
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        yield RayCluster(ray.get_runtime_context().gcs_address, env, kill_plan)
    finally:
        ray.shutdown()

"""The render's parts on their own: positions, tracking, drawing, the pipeline's batching."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("av")
pytest.importorskip("torchvision")

from party_button.errors import OutputError  # noqa: E402
from party_button.render.drawing import Painter, outline_band, track_colour  # noqa: E402
from party_button.render.options import (  # noqa: E402
    OutlineStyle,
    parse_position,
    position_to_frame,
)
from party_button.render.pipeline import Pipeline  # noqa: E402
from party_button.render.segmenter import Detection  # noqa: E402
from party_button.render.tracking import TrackedDetection, Tracker  # noqa: E402
from party_button.render.video import SourceFrame  # noqa: E402


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("120", 120),
        ("0", 0),
        ("12.5s", timedelta(seconds=12.5)),
        ("3s", timedelta(seconds=3)),
        ("1:30", timedelta(seconds=90)),
        ("1:02:03.5", timedelta(hours=1, seconds=123.5)),
    ],
)
def test_positions(text, expected):
    assert parse_position(text) == expected


@pytest.mark.parametrize("text", ["", "-3", "1.5", "abc", "1:xx", "s"])
def test_bad_positions(text):
    with pytest.raises(ValueError, match="neither a frame number nor a time"):
        parse_position(text)


def test_times_become_frame_numbers():
    assert position_to_frame(timedelta(seconds=2), Fraction(30000, 1001)) == 60
    assert position_to_frame(17, Fraction(25)) == 17


def box_detection(left: float, top: float, size: float = 10, label: str = "person"):
    return Detection(
        label,
        0.9,
        (left, top, left + size, top + size),
        np.ones((int(size), int(size)), dtype=bool),
        (int(left), int(top)),
    )


def test_tracks_keep_their_ids_when_two_objects_cross_and_merge():
    tracker = Tracker(max_misses=5)
    ids = {"a": set(), "b": set()}
    for step in range(30):
        a, b = 10 + 4 * step, 130 - 4 * step
        if abs(a - b) < 10:
            # Overlapping: the model sees one blob where the two are.
            merged = Detection(
                "person",
                0.9,
                (min(a, b), 50, max(a, b) + 10, 60),
                np.ones((10, 20), dtype=bool),
                (min(a, b), 50),
            )
            tracker.update([merged])
            continue
        found = tracker.update(
            sorted([box_detection(a, 50), box_detection(b, 52)], key=lambda d: d.box[0])
        )
        for item in found:
            ids["a" if abs(item.detection.box[0] - a) < 1 else "b"].add(item.track_id)
    assert len(ids["a"]) == 1 and len(ids["b"]) == 1 and ids["a"] != ids["b"]


def test_tracks_are_per_class_and_forgotten_after_max_misses():
    tracker = Tracker(max_misses=2)
    first = tracker.update([box_detection(10, 10), box_detection(10, 10, label="dog")])
    assert [t.track_id for t in first] == [1, 2]
    for _ in range(3):
        tracker.update([])
    assert tracker.update([box_detection(10, 10)])[0].track_id == 3


def test_tracker_state_carries_on_exactly():
    moves = [[box_detection(5 + 3 * i, 20), box_detection(90 - 2 * i, 24)] for i in range(12)]
    straight = Tracker()
    through = [straight.update(m) for m in moves]
    first = Tracker()
    for m in moves[:6]:
        first.update(m)
    second = Tracker()
    second.restore(first.state())
    carried = [second.update(m) for m in moves[6:]]
    assert [[t.track_id for t in f] for f in carried] == [
        [t.track_id for t in f] for f in through[6:]
    ]
    assert second.state() == straight.state()


def test_colours_are_fixed_per_track_and_differ():
    colours = [track_colour(i) for i in range(1, 9)]
    assert colours == [track_colour(i) for i in range(1, 9)]
    assert len(set(colours)) == 8
    for i, a in enumerate(colours):
        for b in colours[i + 1 :]:
            assert sum(abs(x - y) for x, y in zip(a, b, strict=True)) > 60


@pytest.mark.parametrize("thickness", [1, 2, 3, 6])
def test_the_outline_band_is_as_thick_as_asked(thickness):
    mask = np.zeros((40, 40), dtype=bool)
    mask[10:30, 10:30] = True
    band = outline_band(mask, thickness)
    row = band[20]
    assert row[:20].sum() == thickness
    assert row[20:].sum() == thickness
    assert not band[20, 20]


def test_the_painter_draws_only_around_the_mask():
    image = np.full((80, 100, 3), 30, dtype=np.uint8)
    mask = np.zeros((80, 100), dtype=bool)
    mask[30:50, 40:60] = True
    found = Detection.from_frame_mask("person", 0.9, (40, 30, 60, 50), mask)
    painted = Painter(OutlineStyle(thickness=2, glow=4)).paint(
        image.copy(), [TrackedDetection(found, 7)]
    )
    changed = np.abs(painted.astype(int) - 30).sum(axis=2) > 0
    assert changed[30, 45] and changed[49, 50]  # the edge
    assert not changed[40, 50]  # the middle
    rows, cols = np.nonzero(changed)
    assert rows.min() >= 30 - 2 - 8 and rows.max() < 50 + 2 + 8
    assert cols.min() >= 40 - 2 - 8 and cols.max() < 60 + 2 + 8
    edge = painted[30, 50].astype(float)
    assert edge == pytest.approx(np.array(track_colour(7)) * 0.6 + 102, abs=1)


class RecordingSegmenter:
    def __init__(self):
        self.batches: list[list[int]] = []

    def segment(self, frames):
        self.batches.append([int(f[0, 0, 0]) for f in frames])
        return [[] for _ in frames]

    def describe(self):
        return {}


class RecordingSink:
    def __init__(self, fail_at: int | None = None):
        self.written: list[int] = []
        self.segment_ends: list[int] = []
        self.fail_at = fail_at

    def write(self, frame, tracked):
        if frame.index == self.fail_at:
            raise OutputError("cannot write the disk: No space left on device")
        self.written.append(frame.index)

    def end_segment(self, tracker_state):
        self.segment_ends.append(self.written[-1])


def frames(first: int, count: int):
    for index in range(first, first + count):
        yield SourceFrame(index, index, np.full((4, 4, 3), index, dtype=np.uint8))


def test_batches_never_span_segments_and_every_frame_arrives_in_order():
    segmenter, sink = RecordingSegmenter(), RecordingSink()
    Pipeline(
        frames(3, 14),
        segmenter,
        Tracker(),
        Painter(OutlineStyle()),
        sink,
        batch_size=4,
        segment_frames=6,
        first_index=3,
    ).run()
    assert segmenter.batches == [[3, 4, 5, 6], [7, 8], [9, 10, 11, 12], [13, 14], [15, 16]]
    assert sink.written == list(range(3, 17))
    assert sink.segment_ends == [8, 14, 16]


def test_a_failing_stage_stops_the_pipeline_with_its_error():
    sink = RecordingSink(fail_at=9)
    pipeline = Pipeline(
        frames(0, 500),
        RecordingSegmenter(),
        Tracker(),
        Painter(OutlineStyle()),
        sink,
        batch_size=2,
        segment_frames=4,
        first_index=0,
    )
    with pytest.raises(OutputError, match="No space left on device"):
        pipeline.run()
    assert sink.written == list(range(9))
    assert sink.segment_ends == [3, 7]

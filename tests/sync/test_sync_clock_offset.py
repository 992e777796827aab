"""The room's estimate of the leader's clock: the fastest request wins."""

from __future__ import annotations

from party_button.sync.offset import OffsetEstimator


def test_the_fastest_round_trip_gives_the_offset() -> None:
    estimator = OffsetEstimator()
    assert not estimator.known
    true_offset = 5.25  # the leader's clock is 5.25 s ahead of the room's
    # (sent, way out, way back): a symmetric slow one, an asymmetric slow one, a fast one
    for sent, out, back in ((10.0, 0.040, 0.040), (11.0, 0.002, 0.090), (12.0, 0.001, 0.001)):
        estimator.add(sent, sent + out + true_offset, sent + out + back)
    assert abs(estimator.offset - true_offset) < 1e-9
    assert abs(estimator.error_bound - 0.001) < 1e-9
    estimator.clear()
    assert not estimator.known

"""The show driver: phases switch the relays at once, and no cue is ever skipped."""

from __future__ import annotations

import dataclasses

from party_button.lights.patterns import BeatFlash
from party_button.lights.show_driver import ShowDriver
from party_button.lights.shows import Step
from party_button.phase import Phase
from party_button.testing.lights import RELAYS, single_show, steady_grid


def make_driver(switched: list[tuple[str, bool]]) -> ShowDriver:
    lights = single_show(Step(BeatFlash(("lights",), length=0.4)))
    lights = dataclasses.replace(
        lights,
        shows={**lights.shows, "party": lights.shows["s"]},
        show_for={Phase.INTRO: "s", Phase.PARTY: "party", Phase.ENDING: "s"},
    )
    return ShowDriver(lights, RELAYS, lambda name, on: switched.append((name, on)))


def test_a_cue_reached_between_update_and_next_wakeup_is_due_at_once() -> None:
    switched: list[tuple[str, bool]] = []
    driver = make_driver(switched)
    position = [0.499]  # the first beat of the grid is at 0.5 s
    driver.start(Phase.PARTY, lambda: position[0], now=100.0, grid=steady_grid())
    assert ("lights", True) not in switched
    position[0] = 0.5001  # the playback moved past the beat before the loop asked
    assert driver.next_wakeup(100.0) <= 100.0
    driver.update(100.0)
    assert switched[-1] == ("lights", True)


def test_stop_drives_every_relay_off_at_once() -> None:
    switched: list[tuple[str, bool]] = []
    driver = make_driver(switched)
    driver.start(Phase.PARTY, lambda: 0.6, now=100.0, grid=steady_grid())
    assert ("lights", True) in switched
    driver.stop(100.01)  # sooner than the relay's minimum interval: off all the same
    assert switched[-len(RELAYS) :] == [(relay.name, False) for relay in RELAYS]
    assert driver.show is None and driver.next_wakeup(100.02) is None

"""The web service's fan-out: a browser that falls behind is dropped, never waited for."""

from __future__ import annotations

import asyncio

from party_button.web.daemon_link import QUEUE_LINES, RECONNECT, DaemonLink, Subscriber
from party_button.web.parties import PartyLog


def test_a_subscriber_that_falls_behind_is_ended_with_a_reconnect():
    async def scenario() -> tuple[Subscriber, list[dict]]:
        subscriber = Subscriber()
        for number in range(QUEUE_LINES + 5):
            subscriber.offer({"n": number})
        drained = []
        while not subscriber.queue.empty():
            drained.append(subscriber.queue.get_nowait())
        return subscriber, drained

    subscriber, drained = asyncio.run(scenario())
    assert subscriber.dropped
    assert drained[-1] is RECONNECT
    # The oldest line made room for the last one; the browser gets the whole state again.
    assert [m["n"] for m in drained[:-1]] == list(range(1, QUEUE_LINES))


def test_one_slow_browser_does_not_hold_up_the_others(tmp_path):
    async def scenario() -> tuple[Subscriber, Subscriber]:
        link = DaemonLink(tmp_path / "none.sock")
        slow, quick = link.subscribe(), link.subscribe()
        for number in range(QUEUE_LINES * 2):
            link.publish({"n": number})
            while not quick.queue.empty():
                quick.queue.get_nowait()
        return slow, quick

    slow, quick = asyncio.run(scenario())
    assert slow.dropped and not quick.dropped


def test_the_party_log_remembers_songs_and_how_a_party_ended():
    log = PartyLog()
    states = [
        {"type": "state", "time": 1.0, "phase": "idle", "playing": None},
        {"type": "state", "time": 2.0, "phase": "party", "playing": "a.ogg"},
        {"type": "state", "time": 3.0, "phase": "party", "playing": "b.ogg"},
        {"type": "event", "event": "hold"},
        {"type": "state", "time": 4.0, "phase": "cooldown", "playing": None},
    ]
    ended = [log.observe(message) for message in states]
    assert ended == [False, False, False, False, True]
    assert log.recent() == [
        {"started": 2.0, "ended": 4.0, "songs": ["a.ogg", "b.ogg"], "how": "panic stop"}
    ]

"""Running a real daemon in a thread on mock pins, for tests and benchmarks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from gpiozero.pins.mock import MockFactory

from party_button.audio import Player
from party_button.config import Config
from party_button.daemon import Daemon


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` is true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        time.sleep(0.002)


@contextmanager
def running_daemon(
    config: Config, factory: MockFactory, player: Player | None = None, seed: int = 1
) -> Iterator[Daemon]:
    """A started daemon whose loop runs in a thread; stopped and joined on exit."""
    daemon = Daemon(config, factory=factory, player=player, seed=seed)
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            daemon.run(install_signals=False)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    thread = threading.Thread(target=loop, name="daemon-under-test")
    thread.start()
    wait_for(lambda: (daemon.hardware is not None and daemon._running) or errors)
    try:
        yield daemon
    finally:
        daemon.request_stop()
        thread.join(timeout=5)
        assert not thread.is_alive(), "the daemon did not stop"
    if errors:
        raise errors[0]


def press(factory: MockFactory, pin: int = 17, seconds: float = 0.03) -> None:
    """Push a pull-up button wired to ground for ``seconds``."""
    factory.pin(pin).drive_low()
    time.sleep(seconds)
    factory.pin(pin).drive_high()

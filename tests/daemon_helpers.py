"""Running a real daemon in a thread on mock pins, for tests and benchmarks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPin, MockPWMPin

from party_button.config.schema import Config
from party_button.daemon.daemon import Daemon
from party_button.media.audio import Player


class RelayMockFactory(MockFactory):
    """MockFactory whose relay pins are plain digital pins and all others PWM-capable.

    A released digital mock pin keeps its last level, so a test can see that every relay
    was driven off before the daemon let go of it.
    """

    def __init__(self, relay_pins: tuple[int, ...]) -> None:
        super().__init__(pin_class=MockPWMPin)
        self.relay_pins = relay_pins

    def pin(self, name, pin_class=None, **kwargs):
        if pin_class is None and name in self.relay_pins:
            pin_class = MockPin
        return super().pin(name, pin_class, **kwargs)


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` is true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        time.sleep(0.002)


@contextmanager
def running_daemon(
    config: Config,
    factory: MockFactory,
    player: Player | None = None,
    seed: int = 1,
    *,
    scanned: bool = True,
    **options: Any,
) -> Iterator[Daemon]:
    """A started daemon whose loop runs in a thread; stopped and joined on exit.

    With ``scanned`` it is entered once the library's first pass is over and the next pick
    loaded; ``options`` go to :class:`Daemon`.
    """
    daemon = Daemon(config, factory=factory, player=player, seed=seed, **options)
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            daemon.run(install_signals=False)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    thread = threading.Thread(target=loop, name="daemon-under-test")
    thread.start()
    wait_for(lambda: (daemon.hardware is not None and daemon._running) or errors)
    if scanned and not errors:
        wait_for(lambda: (daemon.library.complete and not daemon.preparing) or errors, timeout=60)
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

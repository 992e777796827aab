"""GPIO devices through gpiozero: the button, the relays and the status LED.

Every relay is claimed through :func:`relay_device`, at its off level, whoever claims it
(the daemon, ``test-relays``, ``relays-off``). The pin factory comes from
:mod:`party_button.gpio.board`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
from collections.abc import Callable
from typing import Protocol

from gpiozero import PWMLED, Device, DigitalInputDevice, DigitalOutputDevice
from gpiozero.exc import GPIOZeroError
from gpiozero.pins import Factory

from party_button.errors import HardwareError


# What the devices need of the config's sections (ButtonConfig, RelayConfig and StatusLedConfig
# of party_button.config.schema): the pins know nothing of the config.
class ButtonPin(Protocol):
    pin: int
    pull_up: bool


class RelayPin(Protocol):
    name: str
    pin: int
    active_high: bool


class LedPin(Protocol):
    pin: int
    active_high: bool


log = logging.getLogger(__name__)

PULSE_SECONDS = 4.0
# Each step of the idle breath wakes a thread, the daemon's only work when idle besides the
# audio device: two steps a second cost a third of what five did, and still read as a breath.
PULSE_STEPS_PER_SECOND = 2
PULSE_LEVELS = tuple(
    0.5 - 0.5 * math.cos(2 * math.pi * step / (PULSE_SECONDS * PULSE_STEPS_PER_SECOND))
    for step in range(round(PULSE_SECONDS * PULSE_STEPS_PER_SECOND))
)


def relay_device(relay: RelayPin, factory: Factory) -> DigitalOutputDevice:
    """Claim ``relay``'s pin, driven at its off level from the first moment."""
    return DigitalOutputDevice(
        relay.pin, active_high=relay.active_high, initial_value=False, pin_factory=factory
    )


class PartyHardware:
    """The button, relays and status LED, claimed together and released together.

    The button is read raw (no gpiozero debounce); :class:`~party_button.daemon.party.ButtonReader`
    debounces it and detects holds, so that timing logic has one home and a testable clock.
    Relays are claimed at their *off* level. :meth:`close` drives every relay off first,
    and is safe to call twice.
    """

    def __init__(
        self,
        factory: Factory,
        button: ButtonPin,
        relays: tuple[RelayPin, ...],
        status_led: LedPin | None,
        on_edge: Callable[[bool], None],
    ) -> None:
        self.factory = factory
        self.relays: dict[str, DigitalOutputDevice] = {}
        self.button: DigitalInputDevice | None = None
        self.led: PWMLED | None = None
        self._led_mode = ""
        try:
            for relay in relays:
                self.relays[relay.name] = relay_device(relay, factory)
            if status_led is not None:
                self.led = PWMLED(
                    status_led.pin, active_high=status_led.active_high, pin_factory=factory
                )
            self.button = DigitalInputDevice(
                button.pin, pull_up=button.pull_up, bounce_time=None, pin_factory=factory
            )
        except (GPIOZeroError, OSError, RuntimeError) as exc:
            self.close()
            raise HardwareError(f"cannot claim the GPIO pins: {exc}") from None
        self.button.when_activated = lambda: on_edge(True)
        self.button.when_deactivated = lambda: on_edge(False)

    def set_relay(self, name: str, on: bool) -> None:
        """Switch one relay channel."""
        device = self.relays[name]
        if on:
            device.on()
        else:
            device.off()

    def relay_states(self) -> dict[str, bool]:
        """Each relay's state as driven (``True`` = on)."""
        return {name: bool(device.value) for name, device in self.relays.items()}

    def relay_summary(self) -> str:
        """``lights off, beacon ON``: each relay's state, for the log."""
        states = self.relay_states().items()
        return ", ".join(f"{name} {'ON' if on else 'off'}" for name, on in states)

    def all_off(self) -> None:
        """Drive every relay to its off level."""
        for device in self.relays.values():
            device.off()

    def show_status(self, mode: str) -> None:
        """Set the status LED: ``idle`` pulses, ``party`` shines, ``fault`` blinks fast."""
        if self.led is None or mode == self._led_mode:
            return
        self._led_mode = mode
        self.led.source = None
        if mode == "idle":
            self.led.source_delay = 1 / PULSE_STEPS_PER_SECOND
            self.led.source = itertools.cycle(PULSE_LEVELS)
        elif mode == "party":
            self.led.on()
        elif mode == "fault":
            self.led.blink(on_time=0.1, off_time=0.1)
        else:
            self.led.off()

    def close(self) -> None:
        """Relays off, then release every pin; safe to call twice."""
        for device in self.relays.values():
            with contextlib.suppress(GPIOZeroError):
                device.off()
        devices: list[Device | None] = [self.button, self.led, *self.relays.values()]
        for device in devices:
            if device is not None:
                device.close()
        self.relays = {}
        self.button = None
        self.led = None

    def __enter__(self) -> PartyHardware:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def drive_relays_off(factory: Factory, relays: tuple[RelayPin, ...]) -> list[str]:
    """Claim each relay pin at its off level and release it; returns the names driven off.

    Used by ``party-button relays-off`` after the daemon has gone, however it went.
    """
    done: list[str] = []
    for relay in relays:
        try:
            device = relay_device(relay, factory)
        except (GPIOZeroError, OSError, RuntimeError) as exc:
            raise HardwareError(f"relay {relay.name!r} on GPIO{relay.pin}: {exc}") from None
        device.off()
        # Closing releases the line. A released pin is an input: relay boards read that as
        # off, and the boot-time ``gpio=`` lines (party-button boot-config) hold the same level.
        device.close()
        done.append(relay.name)
    return done

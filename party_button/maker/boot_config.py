"""``config.txt`` lines that hold the relays off from power-on, before the daemon starts.

The Raspberry Pi firmware applies ``gpio=`` lines a few seconds after power-on, long before
Linux runs: ``gpio=5=op,dh`` makes GPIO5 an output driven high. An active-low relay board
otherwise reads the floating or pulled-low pins as "on" and clicks its relays on at boot.
"""

from __future__ import annotations

from party_button.config.schema import Config

CONFIG_TXT = "/boot/firmware/config.txt"


def boot_config_lines(config: Config) -> list[str]:
    """The ``config.txt`` section for ``config``: each relay and the status LED held off."""
    lines = [
        f"# party-button ({config.path}): hold every output at its off level from power-on.",
        f"# Append to {CONFIG_TXT} (/boot/config.txt before Raspberry Pi OS 12), then reboot.",
        "[all]",
    ]
    for relay in config.relays:
        off_high = not relay.active_high
        kind = "active-low" if off_high else "active-high"
        lines.append(f"# relay {relay.name} ({kind}): off = driven {'high' if off_high else 'low'}")
        lines.append(f"gpio={relay.pin}=op,{'dh' if off_high else 'dl'}")
    led = config.status_led
    if led is not None:
        lines.append("# status LED: off")
        lines.append(f"gpio={led.pin}=op,{'dl' if led.active_high else 'dh'}")
    button = config.button
    lines.append("# button: input with its pull resistor, as the daemon sets it")
    lines.append(f"gpio={button.pin}=ip,{'pu' if button.pull_up else 'pd'}")
    return lines

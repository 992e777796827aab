"""The wiring table and diagram of a configuration, so the docs always match the daemon's pins.

Everything is derived from the config object the daemon loads (duck-typed: ``button``,
``status_led``, ``relays``, ``board`` and ``path``) and from :mod:`party_button.gpio.pinout`.
Output is deterministic: the same config always gives byte-identical text and SVG.

Example::

    rows = wiring_rows(config)
    print(render_table(rows))
    Path("wiring.svg").write_text(render_svg(config))
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from party_button.gpio.pinout import (
    KNOWN_AUDIO_HATS,
    boot_gpio_line,
    header,
    header_row,
    nearest_pin,
    physical_pin,
    pin_clashes,
)

PI = "Raspberry Pi"
BUTTON = "Dome button"
LAMP_DRIVER = "Lamp driver"
RELAY_BOARD = "Relay board"
RELAY_SUPPLY = "5 V relay supply"


@dataclass(frozen=True)
class WiringRow:
    """One wire: from ``device``'s ``terminal`` to a Pi header pin or to another device.

    ``physical`` is the header pin (None when the wire does not go to the Pi, then
    ``other_end`` names the device and terminal it goes to); ``gpio`` is the BCM number when
    the pin is a GPIO; ``role`` picks the colour in the diagram.
    """

    what: str
    gpio: int | None
    physical: int | None
    notes: str
    role: str
    device: str
    terminal: str
    other_end: tuple[str, str] | None = None


def _level(active_high: bool, on: str) -> str:
    return (
        f"active-high: HIGH = {on}, LOW = off"
        if active_high
        else f"active-low: LOW = {on}, HIGH = off"
    )


def wiring_rows(config: Any) -> list[WiringRow]:
    """Every wire of the configured button, status lamp and relay board, in build order.

    Raises ValueError when a configured pin is not on the 40-pin header.
    """
    rows: list[WiringRow] = []
    grounds: list[int] = []

    def ground_near(pin: int) -> int:
        ground = nearest_pin(pin, "GND", avoid=grounds)
        grounds.append(ground)
        return ground

    button_pin = physical_pin(config.button.pin)
    if config.button.pull_up:
        pull = "input, internal pull-up: released = HIGH, pressed = LOW"
        common = (ground_near(button_pin), "ground; pressing the button pulls the input LOW")
        common_role = "ground"
    else:
        pull = "input, internal pull-down: released = LOW, pressed = HIGH"
        common = (
            nearest_pin(button_pin, "3V3"),
            "3.3 V only, never 5 V: pressing the button pulls the input HIGH",
        )
        common_role = "3v3"
    rows.append(
        WiringRow("Button switch NO", config.button.pin, button_pin, pull, "button", BUTTON, "NO")
    )
    rows.append(WiringRow("Button switch COM", None, *common, common_role, BUTTON, "COM"))

    led = config.status_led
    if led is not None:
        led_pin = physical_pin(led.pin)
        rows.append(
            WiringRow(
                "Lamp driver IN",
                led.pin,
                led_pin,
                f"output, {_level(led.active_high, 'lit')}; through a transistor or MOSFET "
                "driver, the lamp on its own supply (a GPIO gives ~8 mA at 3.3 V)",
                "led",
                LAMP_DRIVER,
                "IN",
            )
        )
        rows.append(
            WiringRow(
                "Lamp driver GND",
                None,
                ground_near(led_pin),
                "ground shared with the lamp supply's negative",
                "ground",
                LAMP_DRIVER,
                "GND",
            )
        )

    relays = tuple(config.relays)
    if relays:
        relay_pins = [physical_pin(relay.pin) for relay in relays]
        first = relay_pins[0]
        middle = relay_pins[len(relay_pins) // 2]
        rows.append(
            WiringRow(
                "Relay board GND",
                None,
                ground_near(middle),
                "Pi ground for the inputs only",
                "ground",
                RELAY_BOARD,
                "GND",
            )
        )
        for channel, (relay, pin) in enumerate(zip(relays, relay_pins, strict=True), start=1):
            boot = boot_gpio_line(relay.pin, drive_high=not relay.active_high)
            rows.append(
                WiringRow(
                    f"Relay board IN{channel} ({relay.name})",
                    relay.pin,
                    pin,
                    f"output, {_level(relay.active_high, 'relay on')}; switches {relay.drives}; "
                    f"boot line {boot}",
                    "relay",
                    RELAY_BOARD,
                    f"IN{channel}",
                )
            )
        opto = any(not relay.active_high for relay in relays)
        if opto:
            rows.append(
                WiringRow(
                    "Relay board VCC",
                    None,
                    nearest_pin(first, "3V3"),
                    "3.3 V feeds the opto-couplers' LEDs, so a HIGH pin switches them fully off",
                    "3v3",
                    RELAY_BOARD,
                    "VCC",
                )
            )
        else:
            rows.append(
                WiringRow(
                    "Relay board VCC",
                    None,
                    nearest_pin(first, "5V"),
                    "logic supply of an active-high board; check its datasheet",
                    "5v",
                    RELAY_BOARD,
                    "VCC",
                )
            )
        if opto:
            rows.append(
                WiringRow(
                    "Relay board JD-VCC",
                    None,
                    None,
                    "remove the JD-VCC jumper; the relay coils run from their own 5 V supply",
                    "external",
                    RELAY_BOARD,
                    "JD-VCC",
                    (RELAY_SUPPLY, "+"),
                )
            )
            rows.append(
                WiringRow(
                    "Relay board JD-GND",
                    None,
                    None,
                    "keep apart from the Pi's ground so the opto-couplers isolate the Pi",
                    "external",
                    RELAY_BOARD,
                    "JD-GND",
                    (RELAY_SUPPLY, "-"),
                )
            )
    return rows


def clash_warnings(config: Any) -> list[str]:
    """A message for every configured pin that an enabled interface or the audio HAT uses."""
    interfaces = tuple(config.board.interfaces)
    audio_hat = config.board.audio_hat
    uses = [("button", config.button.pin)]
    if config.status_led is not None:
        uses.append(("status LED", config.status_led.pin))
    uses += [(f"relay {relay.name!r}", relay.pin) for relay in config.relays]
    return [
        f"{what}: {problem}"
        for what, pin in uses
        for problem in pin_clashes(pin, interfaces, audio_hat)
    ]


def _pin_cell(row: WiringRow) -> str:
    if row.physical is not None:
        return f"{row.physical} ({header()[row.physical]})"
    assert row.other_end is not None
    return f"{row.other_end[0]} {row.other_end[1]}"


def render_table(rows: list[WiringRow]) -> str:
    """A Markdown pipe table, padded so that it also reads well as plain text."""
    table = [("Wire", "GPIO", "Connect to", "Notes")]
    table += [
        (row.what, f"GPIO{row.gpio}" if row.gpio is not None else "-", _pin_cell(row), row.notes)
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(4)]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    lines = [line(table[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [line(cells) for cells in table[1:]]
    return "\n".join(lines) + "\n"


def render_markdown(config: Any) -> str:
    """The wiring page: a generated-by note, the table and any pin clashes."""
    parts = [
        "# Wiring\n",
        f"Generated from `{config.path.name}` by `party-button wiring`; do not edit by hand.",
        "Diagram: [wiring.svg](wiring.svg). Pin numbers are physical header pins (1-40).\n",
        render_table(wiring_rows(config)),
    ]
    hat = config.board.audio_hat
    if hat is not None:
        parts.append(f"Audio: {KNOWN_AUDIO_HATS[hat].title} stacked on the header.\n")
    warnings = clash_warnings(config)
    if warnings:
        parts.append("## Pin clashes\n")
        parts.append("".join(f"- {warning}\n" for warning in warnings))
    return "\n".join(parts)


# --- the diagram ------------------------------------------------------------------------------

_COLOURS = {
    "button": "#d62828",
    "led": "#e09f00",
    "relay": "#1d5fbf",
    "ground": "#222222",
    "3v3": "#f77f00",
    "5v": "#9d0208",
    "external": "#6a4c93",
}
_ROLE_NAMES = {
    "button": "button input",
    "led": "status lamp output",
    "relay": "relay channel output",
    "ground": "ground",
    "3v3": "3.3 V",
    "5v": "5 V",
    "external": "separate supply (not the Pi)",
}
_PITCH = 44
_MARGIN = 40
_HEADER_TOP = 185
_ROW_GAP = 30
_LANE_GAP = 12
_BOX_HEIGHT = 70
_SUPPLY_GAP = 60
_SUPPLY_WIDTH = 100
_CHAR = 6.6  # average glyph width at font-size 12, for wrapping
_FONT = "font-family='DejaVu Sans, Arial, sans-serif'"


def _pin_x(physical: int, left: int) -> int:
    return left + (header_row(physical) - 1) * _PITCH


def _pin_y(physical: int) -> int:
    return _HEADER_TOP if physical % 2 == 0 else _HEADER_TOP + _ROW_GAP


def _wire_x(physical: int, left: int) -> int:
    """Where a wire runs down past the bottom row, clear of pins and labels."""
    return _pin_x(physical, left) + (27 if physical % 2 == 0 else 13)


@dataclass(frozen=True)
class _Box:
    device: str
    x: int
    width: int
    terminals: dict[str, int]
    supply_x: int | None  # where the box of its separate supply starts, if it has one


def _layout_boxes(rows: list[WiringRow], left: int) -> tuple[list[_Box], int]:
    devices: dict[str, list[WiringRow]] = {}
    for row in rows:
        if row.physical is not None:
            devices.setdefault(row.device, []).append(row)
    spacing = {
        device: max(64, 7 * max(len(_terminal_caption(row)) for row in wired) + 16)
        for device, wired in devices.items()
    }
    order = sorted(
        devices,
        key=lambda d: sum(_wire_x(r.physical or 0, left) for r in devices[d]) / len(devices[d]),
    )
    supplied = {row.device for row in rows if row.other_end is not None}
    boxes, x = [], _MARGIN
    for device in order:
        wired = devices[device]  # terminals in build order, as on the boards' own headers
        width = max(spacing[device] * len(wired), 7 * len(device) + 24)
        step = width / len(wired)
        terminals = {r.terminal: round(x + step * (i + 0.5)) for i, r in enumerate(wired)}
        supply_x = x + width + _SUPPLY_GAP if device in supplied else None
        boxes.append(_Box(device, x, width, terminals, supply_x))
        x += width + 36 + (_SUPPLY_GAP + _SUPPLY_WIDTH if supply_x is not None else 0)
    return boxes, x - 36 + _MARGIN


def _terminal_caption(row: WiringRow) -> str:
    if row.role == "relay":
        return row.what.split("(", 1)[1].rstrip(")")
    return ""


def render_svg(config: Any) -> str:
    """A wiring diagram: the 40-pin header, the used pins and a wire to every device terminal."""
    rows = wiring_rows(config)
    header_width = 19 * _PITCH
    provisional_left = _MARGIN + 30
    boxes, boxes_width = _layout_boxes(rows, provisional_left)
    width = max(header_width + 2 * provisional_left, boxes_width)
    left = (width - header_width) // 2
    if left != provisional_left:
        boxes, _ = _layout_boxes(rows, left)
    wired = [row for row in rows if row.physical is not None]
    lanes_top = _HEADER_TOP + _ROW_GAP + 70
    box_top = lanes_top + _LANE_GAP * len(wired) + 30
    legend_top = box_top + _BOX_HEIGHT + 40
    wrap = int((width - 2 * _MARGIN) / _CHAR)
    notes = [line for note in _diagram_notes(config, rows) for line in textwrap.wrap(note, wrap)]
    subtitle = textwrap.wrap(
        f"Generated from {config.path.name} by party-button wiring. Raspberry Pi seen from "
        "above, header at the top edge, USB ports to the right: pin 1 (square) is bottom left.",
        wrap,
    )
    height = legend_top + 22 * (len(_ROLE_NAMES) // 2 + 2) + 18 * len(notes) + 20

    out = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' {_FONT} font-size='12'>",
        f"<rect width='{width}' height='{height}' fill='#ffffff'/>",
        f"<text x='{_MARGIN}' y='32' font-size='20' font-weight='bold'>party-button wiring</text>",
    ]
    out += [
        f"<text x='{_MARGIN}' y='{56 + 16 * i}' fill='#444444'>{escape(line)}</text>"
        for i, line in enumerate(subtitle)
    ]
    out += _draw_wires(wired, boxes, left, lanes_top, box_top)
    out += _draw_header(config, rows, left)
    out += _draw_boxes(rows, boxes, box_top)
    out += _draw_supplies(rows, boxes, box_top)
    out += _draw_legend(legend_top, notes)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _draw_header(config: Any, rows: list[WiringRow], left: int) -> list[str]:
    used = {row.physical: row.role for row in rows if row.physical is not None}
    reserved = {
        physical
        for physical, name in header().items()
        if name.startswith("GPIO")
        and pin_clashes(int(name[4:]), config.board.interfaces, config.board.audio_hat)
    }
    top, bottom = _HEADER_TOP, _HEADER_TOP + _ROW_GAP
    out = [
        f"<rect x='{left - 20}' y='{top - 18}' width='{19 * _PITCH + 40}' "
        f"height='{_ROW_GAP + 36}' rx='6' fill='#2b2b2b'/>",
    ]
    for physical, name in header().items():
        x, y = _pin_x(physical, left), _pin_y(physical)
        role = used.get(physical)
        if role is not None:
            fill, stroke, weight = _COLOURS[role], "#ffffff", "bold"
        elif physical in reserved:
            fill, stroke, weight = "#777777", "#ff4fd8", "normal"
        else:
            fill, stroke, weight = "#9a9a9a", "#2b2b2b", "normal"
        shape = (
            f"<rect x='{x - 7}' y='{y - 7}' width='14' height='14' "
            if physical == 1
            else f"<circle cx='{x}' cy='{y}' r='7' "
        )
        out.append(f"{shape}fill='{fill}' stroke='{stroke}' stroke-width='2'/>")
        out.append(
            f"<text x='{x}' y='{y + 3}' font-size='7' text-anchor='middle' "
            f"fill='#ffffff'>{physical}</text>"
        )
        colour = _COLOURS[role] if role is not None else "#555555"
        label = f"{name} ({physical})" if role is not None else name
        if physical % 2 == 0:
            anchor, ly = "start", top - 24
        else:
            anchor, ly = "end", bottom + 24
        out.append(
            f"<text transform='translate({x + 4} {ly}) rotate(-90)' text-anchor='{anchor}' "
            f"font-size='11' font-weight='{weight}' fill='{colour}'>{escape(label)}"
            "</text>"
        )
    return out


def _lane_order(wired: list[WiringRow], targets: dict[tuple[str, str], int], left: int):
    def key(row: WiringRow) -> tuple[int, int]:
        source = _wire_x(row.physical or 0, left)
        target = targets[(row.device, row.terminal)]
        # Wires heading right: the one starting furthest right runs highest; heading left:
        # the one starting furthest left runs highest. This keeps crossings few.
        return (0, -source) if target >= source else (1, source)

    return sorted(wired, key=key)


def _draw_wires(
    wired: list[WiringRow], boxes: list[_Box], left: int, lanes_top: int, box_top: int
) -> list[str]:
    targets = {(box.device, t): x for box in boxes for t, x in box.terminals.items()}
    out = []
    for lane, row in enumerate(_lane_order(wired, targets, left)):
        physical = row.physical or 0
        x, y = _pin_x(physical, left), _pin_y(physical)
        wx = _wire_x(physical, left)
        lane_y = lanes_top + lane * _LANE_GAP
        tx = targets[(row.device, row.terminal)]
        if physical % 2 == 0:
            points = [(x, y), (x, y + _ROW_GAP // 2), (wx, y + _ROW_GAP // 2)]
        else:
            points = [(x, y), (wx, y)]
        points += [(wx, lane_y), (tx, lane_y), (tx, box_top)]
        path = " ".join(f"{px},{py}" for px, py in points)
        out.append(
            f"<polyline points='{path}' fill='none' stroke='{_COLOURS[row.role]}' "
            "stroke-width='2.5' stroke-linejoin='round'/>"
        )
    return out


def _draw_boxes(rows: list[WiringRow], boxes: list[_Box], box_top: int) -> list[str]:
    by_terminal = {(row.device, row.terminal): row for row in rows}
    out = []
    for box in boxes:
        out.append(
            f"<rect x='{box.x}' y='{box_top}' width='{box.width}' height='{_BOX_HEIGHT}' "
            "rx='6' fill='#f4f4f4' stroke='#333333' stroke-width='1.5'/>"
        )
        for terminal, x in box.terminals.items():
            row = by_terminal[(box.device, terminal)]
            out.append(f"<circle cx='{x}' cy='{box_top}' r='4' fill='{_COLOURS[row.role]}'/>")
            out.append(
                f"<text x='{x}' y='{box_top + 18}' text-anchor='middle' font-weight='bold'>"
                f"{escape(terminal)}</text>"
            )
            caption = _terminal_caption(row)
            if caption:
                out.append(
                    f"<text x='{x}' y='{box_top + 33}' text-anchor='middle' font-size='11'>"
                    f"{escape(caption)}</text>"
                )
        out.append(
            f"<text x='{box.x + box.width // 2}' y='{box_top + _BOX_HEIGHT - 10}' "
            f"text-anchor='middle' font-size='13' font-weight='bold' fill='#333333'>"
            f"{escape(box.device)}</text>"
        )
    return out


def _draw_supplies(rows: list[WiringRow], boxes: list[_Box], box_top: int) -> list[str]:
    out = []
    for box in boxes:
        external = [row for row in rows if row.device == box.device and row.other_end]
        if box.supply_x is not None and external:
            out += _draw_supply(external, box, box.supply_x, box_top)
    return out


def _draw_supply(external: list[WiringRow], box: _Box, sx: int, box_top: int) -> list[str]:
    x0 = box.x + box.width
    name = external[0].other_end[0] if external[0].other_end else ""
    out = [
        f"<rect x='{sx}' y='{box_top}' width='{_SUPPLY_WIDTH}' height='{_BOX_HEIGHT}' rx='6' "
        "fill='#efe9f7' stroke='#6a4c93' stroke-width='1.5'/>",
        f"<text x='{sx + _SUPPLY_WIDTH // 2}' y='{box_top + _BOX_HEIGHT - 10}' "
        f"text-anchor='middle' font-size='11' font-weight='bold'>{escape(name)}</text>",
    ]
    for i, row in enumerate(external):
        y = box_top + 16 + i * 20
        end = row.other_end[1] if row.other_end else ""
        out.append(
            f"<line x1='{x0}' y1='{y}' x2='{sx}' y2='{y}' stroke='{_COLOURS['external']}' "
            "stroke-width='2.5'/>"
        )
        out.append(f"<text x='{x0 + 4}' y='{y - 3}' font-size='9'>{escape(row.terminal)}</text>")
        out.append(
            f"<text x='{sx + 6}' y='{y + 4}' font-size='11' font-weight='bold'>{escape(end)}</text>"
        )
    return out


def _diagram_notes(config: Any, rows: list[WiringRow]) -> list[str]:
    notes = []
    relays = tuple(config.relays)
    if any(not relay.active_high for relay in relays):
        notes.append(
            "Active-low relay board: a LOW pin switches a relay ON. Keep the channels off from "
            "power-on with config.txt lines: "
            + ", ".join(boot_gpio_line(r.pin, drive_high=not r.active_high) for r in relays)
            + "."
        )
    if any(row.other_end is not None for row in rows):
        notes.append(
            "Remove the JD-VCC jumper: the coils run from the separate 5 V supply, the Pi only "
            "lights the opto-couplers."
        )
    if relays:
        notes.append(
            "Relay contacts (COM/NO) switch the loads. Mains only through rated, enclosed "
            "modules: see hardware/README.md."
        )
    notes.extend(clash_warnings(config))
    return notes


def _draw_legend(top: int, notes: list[str]) -> list[str]:
    out = [f"<text x='{_MARGIN}' y='{top}' font-weight='bold'>Legend</text>"]
    roles = list(_ROLE_NAMES)
    for i, role in enumerate(roles):
        x = _MARGIN + (i % 2) * 300
        y = top + 22 + (i // 2) * 22
        out.append(
            f"<line x1='{x}' y1='{y - 4}' x2='{x + 36}' y2='{y - 4}' "
            f"stroke='{_COLOURS[role]}' stroke-width='3'/>"
        )
        out.append(f"<text x='{x + 46}' y='{y}'>{escape(_ROLE_NAMES[role])}</text>")
    y = top + 22 + ((len(roles) + 1) // 2) * 22
    out.append(
        f"<circle cx='{_MARGIN + 18}' cy='{y - 4}' r='7' fill='#777777' stroke='#ff4fd8' "
        "stroke-width='2'/>"
    )
    out.append(
        f"<text x='{_MARGIN + 46}' y='{y}'>pin not free: HAT ID EEPROM, an enabled interface "
        "or the audio HAT</text>"
    )
    for i, note in enumerate(notes):
        out.append(
            f"<text x='{_MARGIN}' y='{y + 28 + 18 * i}' fill='#333333'>{escape(note)}</text>"
        )
    return out

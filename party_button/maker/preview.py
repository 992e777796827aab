"""Drawing what a show's relays will do: a terminal timeline and a PNG plot.

Both drawings show the *guarded* levels (what :func:`~party_button.lights.runner.simulate` says the
relays are driven at, minimum intervals and max on-times included), one row per relay, with
the beat grid's beats (``'``) and bar downbeats (``|``) on a row of their own.
"""

from __future__ import annotations

from pathlib import Path

from party_button.lights.patterns import BeatGridLike
from party_button.lights.runner import LightShow, simulate

Intervals = dict[str, list[tuple[float, float]]]

FULL, PARTLY, OFF = "█", "▒", "·"
BEAT, DOWNBEAT = "'", "|"
_TICK_STEPS = (0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)
# Fewest columns (or pixels, for the PNG) between two labelled ticks of the time axis.
_TICK_SPACING_COLUMNS = 8
_TICK_SPACING_PIXELS = 80

_BACKGROUND = (24, 24, 28)
_GRID_LINE = (60, 60, 70)
_DOWNBEAT_LINE = (110, 110, 125)
_TEXT = (220, 220, 220)
_ROW_COLOURS = ((255, 196, 0), (0, 170, 255), (120, 220, 120), (255, 90, 90), (200, 120, 255))


def on_intervals(show: LightShow, duration: float) -> Intervals:
    """The ``[start, end)`` spans during which each relay is driven on, up to ``duration``."""
    spans: Intervals = {name: [] for name in show.lights.relay_names}
    since: dict[str, float] = {}
    for time, levels in simulate(show, duration):
        for name, on in levels.items():
            if on and name not in since:
                since[name] = time
            elif not on and name in since:
                spans[name].append((since.pop(name), time))
    for name, start in since.items():
        spans[name].append((start, duration))
    return spans


def render_timeline(show: LightShow, duration: float, *, width: int = 80) -> str:
    """A text drawing of ``duration`` seconds of ``show``, ``width`` columns of time wide."""
    seconds_per_column = duration / width
    spans = on_intervals(show, duration)
    label_width = max([len(name) for name in spans] + [len("beats")])
    lines = [_headline(show, duration, seconds_per_column)]
    lines.append(f"{'time':<{label_width}} {_time_axis(duration, width)}")
    if show.grid is not None:
        lines.append(f"{'beats':<{label_width}} {_beat_row(show.grid, duration, width)}")
    for name, intervals in spans.items():
        cells = "".join(
            _cell(intervals, column * seconds_per_column, (column + 1) * seconds_per_column)
            for column in range(width)
        )
        lines.append(f"{name:<{label_width}} {cells}")
    lines.append(f"{'':<{label_width}} {FULL} on  {PARTLY} partly on  {OFF} off")
    return "\n".join(lines) + "\n"


def _headline(show: LightShow, duration: float, seconds_per_column: float) -> str:
    if show.grid is None:
        rhythm = "no beat grid, beat patterns hold steady on"
    else:
        rhythm = f"{show.grid.tempo_bpm:g} BPM, {len(show.grid.beats)} beats"
    return (
        f"show {show.name}: {duration:g} s, {rhythm}, {seconds_per_column * 1000:.0f} ms per column"
    )


def _cell(intervals: list[tuple[float, float]], start: float, end: float) -> str:
    lit = sum(max(0.0, min(end, stop) - max(start, begin)) for begin, stop in intervals)
    if lit >= (end - start) * 0.999:
        return FULL
    return PARTLY if lit > 0 else OFF


def _tick_step(duration: float, slots: int, spacing: int) -> float:
    """The smallest round step that keeps labelled ticks ``spacing`` slots apart."""
    for step in _TICK_STEPS:
        if step * slots / duration >= spacing:
            return step
    return _TICK_STEPS[-1]


def _ticks(duration: float, step: float) -> list[float]:
    count = int(duration / step + 1e-9)
    return [index * step for index in range(count + 1)]


def _time_axis(duration: float, width: int) -> str:
    row = [" "] * width
    for tick in _ticks(duration, _tick_step(duration, width, _TICK_SPACING_COLUMNS)):
        column = int(tick / duration * width)
        label = f"{tick:g}s"
        if column + len(label) <= width:
            row[column : column + len(label)] = label
    return "".join(row)


def _beat_row(grid: BeatGridLike, duration: float, width: int) -> str:
    row = [" "] * width
    for marks, sign in ((grid.beats, BEAT), (grid.downbeats, DOWNBEAT)):
        for position in marks:
            if 0 <= position < duration:
                row[int(position / duration * width)] = sign
    return "".join(row)


def write_png(
    show: LightShow, duration: float, path: Path, *, width: int = 1200, row_height: int = 28
) -> None:
    """Plot ``duration`` seconds of ``show`` into the PNG file ``path``.

    :raises OSError: when the file cannot be written.
    """
    import pygame  # imported here: the terminal drawing and the daemon do not need it

    pygame.font.init()
    font = pygame.font.Font(None, 18)
    spans = on_intervals(show, duration)
    label_width = 10 + max([font.size(name)[0] for name in spans] + [0])
    axis_height = 22
    plot_width = width - label_width - 10
    surface = pygame.Surface((width, axis_height + row_height * max(1, len(spans)) + 8))
    surface.fill(_BACKGROUND)

    def x_of(position: float) -> int:
        return label_width + round(position / duration * plot_width)

    bottom = surface.get_height() - 4
    if show.grid is not None:
        for marks, colour in ((show.grid.beats, _GRID_LINE), (show.grid.downbeats, _DOWNBEAT_LINE)):
            for position in marks:
                if 0 <= position <= duration:
                    pygame.draw.line(
                        surface, colour, (x_of(position), axis_height), (x_of(position), bottom)
                    )
    for tick in _ticks(duration, _tick_step(duration, plot_width, _TICK_SPACING_PIXELS)):
        surface.blit(font.render(f"{tick:g}s", True, _TEXT), (x_of(tick), 4))
    for row, (name, intervals) in enumerate(spans.items()):
        top = axis_height + row * row_height
        surface.blit(font.render(name, True, _TEXT), (6, top + row_height // 2 - 6))
        colour = _ROW_COLOURS[row % len(_ROW_COLOURS)]
        for begin, end in intervals:
            left = x_of(begin)
            bar = pygame.Rect(left, top + 4, max(1, x_of(end) - left), row_height - 8)
            pygame.draw.rect(surface, colour, bar)
    try:
        pygame.image.save(surface, str(path))
    except pygame.error as exc:
        raise OSError(f"cannot write {path}: {exc}") from exc

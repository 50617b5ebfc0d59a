"""A sweep's curve as inline SVG, drawn on the server: one panel per figure (benefit, projects funded) against the varied
budget, its x ticks in money (4亿, 1,500万). Only SVG elements with presentation attributes and classes styled by
app.css: nothing the page's Content-Security-Policy (no inline style) would block, and no script."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: A panel's size and the room around its plot, in SVG units (the SVG scales to its box).
WIDTH, HEIGHT = 460.0, 250.0
LEFT, RIGHT, TOP, BOTTOM = 78.0, 18.0, 30.0, 44.0


@dataclass(frozen=True)
class Tick:
    at: float  # SVG coordinate along its axis
    text: str


@dataclass(frozen=True)
class Mark:
    """A point of the line: where it is drawn and what its tooltip says."""

    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Panel:
    """One figure against the varied value: the line's path (``d``), its points, the ticks and titles."""

    title: str
    x_title: str
    path: str
    marks: list[Mark]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    width: float = WIDTH
    height: float = HEIGHT

    @property
    def plot(self) -> tuple[float, float, float, float]:
        """The plot area: left, top, right, bottom."""
        return LEFT, TOP, self.width - RIGHT, self.height - BOTTOM


def panel(title: str, x_title: str, xs: Sequence[float], x_labels: Sequence[str], ys: Sequence[float],
          y_text: Callable[[float], str]) -> Panel:
    """`ys` against `xs` (labelled `x_labels`); a missing y (NaN: a point with no allocation) breaks the line."""
    low, high = _span([x for x in xs if math.isfinite(x)])
    values = [y for y in ys if math.isfinite(y)]
    ticks = nice_ticks(min(values, default=0.0), max(values, default=1.0))
    bottom, top = ticks[0], ticks[-1]
    across = lambda x: LEFT + (x - low) / (high - low) * (WIDTH - LEFT - RIGHT)  # noqa: E731
    up = lambda y: HEIGHT - BOTTOM - (y - bottom) / (top - bottom) * (HEIGHT - TOP - BOTTOM)  # noqa: E731
    marks = [Mark(across(x), up(y), f"{label}: {y_text(y)}") for x, label, y in zip(xs, x_labels, ys) if math.isfinite(y)]
    return Panel(title=title, x_title=x_title, path=_path(xs, ys, across, up), marks=marks,
                 x_ticks=[Tick(across(x), label) for x, label in zip(xs, x_labels)], y_ticks=[Tick(up(y), y_text(y)) for y in ticks])


def _span(xs: list[float]) -> tuple[float, float]:
    """The x range drawn; a single value gets room on both sides."""
    if not xs:
        return 0.0, 1.0
    low, high = min(xs), max(xs)
    return (low - 1, high + 1) if low == high else (low, high)


def _path(xs: Sequence[float], ys: Sequence[float], across: Callable[[float], float], up: Callable[[float], float]) -> str:
    """The SVG path through the finite points, a new segment (M) after each gap."""
    parts, pen = [], "M"
    for x, y in zip(xs, ys):
        if not math.isfinite(y):
            pen = "M"
            continue
        parts.append(f"{pen}{across(x):.1f},{up(y):.1f}")
        pen = "L"
    return " ".join(parts)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round values (1, 2, 2.5 or 5 times a power of ten apart) covering low..high."""
    if high <= low:
        low, high = (low - 1, high + 1) if low == 0 else (low - abs(low) * 0.1, high + abs(high) * 0.1)
    raw = (high - low) / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first, last = math.floor(low / step), math.ceil(high / step)
    return [i * step for i in range(first, last + 1)]

"""Charts for report.html as PNG bytes, drawn with matplotlib (Agg, no pyplot state).

Chinese labels need a CJK font. ``cjk_font()`` looks for one (Noto Sans CJK, Source Han Sans,
WenQuanYi, …) among matplotlib's fonts and, because matplotlib's font cache can predate a font
installed later, among the system font files too. Without one, every label is drawn in English or
pinyin (zone names, the 34 provinces, ASCII source and indicator keys) and the report says so. Each
label is checked glyph by glyph against the fonts in use before it is drawn, so a chart never shows
tofu boxes: an uncovered label falls back to its ASCII name.

matplotlib is imported by the functions that draw or read fonts, so importing this module costs nothing.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

#: Preferred CJK families, best first (Simplified Chinese forms before other regions').
CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei", "Noto Sans CJK JP", "Noto Sans CJK TC", "Source Han Sans", "Noto Serif CJK SC",
    "Source Han Serif SC", "AR PL UMing CN", "AR PL UKai CN", "Droid Sans Fallback", "Microsoft YaHei", "SimHei",
    "PingFang SC", "Heiti SC",
)
_CJK_FILE = re.compile(r"(notosanscjk|notoserifcjk|notosanssc|sourcehan|wqy|wenquanyi|droidsansfallback|uming|ukai)", re.I)
#: Characters a CJK font must have to be used: zone words, money words and common place characters.
PROBE = "东中西部省市自治区资金中央彩票公益地方配套万元街道社区服务"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
#: Text is drawn as it is: a ``$`` from the inputs is no mathtext (which raised on ``$x^$``).
PLAIN_TEXT: dict[RcKeyType, Any] = {"text.parse_math": False}
#: A label is cut to this many characters (a name of thousands would make a chart of thousands of inches).
MAX_LABEL = 60


@dataclass(frozen=True)
class FontChoice:
    family: str | None  # the CJK family, or None when no CJK font is installed
    path: str | None

    @property
    def cjk(self) -> bool:
        return self.family is not None

    @property
    def families(self) -> list[str]:
        return [self.family, "DejaVu Sans"] if self.family else ["DejaVu Sans"]


def _covers(path: str, text: str) -> bool:
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(path)
    except (OSError, RuntimeError, ValueError):
        return False
    return all(font.get_char_index(ord(c)) != 0 for c in text if not c.isspace())


def _family_path(family: str) -> str | None:
    from matplotlib import font_manager

    for entry in font_manager.fontManager.ttflist:
        if entry.name == family:
            return entry.fname
    return None


@lru_cache(maxsize=1)
def cjk_font() -> FontChoice:
    """The best installed CJK font that really has the probe characters, or FontChoice(None, None)."""
    from matplotlib import font_manager

    for attempt in range(2):
        for family in CJK_FAMILIES:
            path = _family_path(family)
            if path and _covers(path, PROBE):
                return FontChoice(family, path)
        if attempt == 0:  # matplotlib's cache may predate the font: add CJK font files found on the system
            added = False
            for path in font_manager.findSystemFonts():
                if _CJK_FILE.search(path):
                    try:
                        font_manager.fontManager.addfont(path)
                        added = True
                    except (OSError, RuntimeError, ValueError):
                        continue
            if not added:
                break
    return FontChoice(None, None)


@lru_cache(maxsize=4)
def _fallback_path() -> str:
    from matplotlib import font_manager

    return font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans"), fallback_to_default=True)


def drawable(text: str, font: FontChoice) -> bool:
    """Whether every character of `text` has a glyph in the fonts the chart uses."""
    from matplotlib.ft2font import FT2Font

    remaining = [c for c in text if not c.isspace()]
    for path in [p for p in (font.path, _fallback_path()) if p]:
        if not remaining:
            break
        try:
            face = FT2Font(path)
        except (OSError, RuntimeError, ValueError):
            continue
        remaining = [c for c in remaining if face.get_char_index(ord(c)) == 0]
    return not remaining


def pick(text: str, fallback: str, font: FontChoice) -> str:
    """`text` if it can be drawn without tofu, else `fallback` (which must be ASCII-drawable)."""
    return text if drawable(text, font) else fallback


def _guard(text: str, font: FontChoice) -> str:
    """The last line against tofu and overlong labels: a text the fonts cannot draw loses its undrawable
    characters, and a long one is cut to MAX_LABEL characters."""
    if not drawable(text, font):
        text = "".join(c for c in text if drawable(c, font)).strip() or "?"
    return text if len(text) <= MAX_LABEL else text[:MAX_LABEL - 1] + "…"


def _style(font: FontChoice) -> dict[RcKeyType, Any]:
    return {"font.family": font.families, "axes.unicode_minus": False, **PLAIN_TEXT}


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _figure(font: FontChoice, width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def stacked_bars(categories: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], title: str, xlabel: str,
                 font: FontChoice) -> bytes:
    """Horizontal bars, one per category, stacked by series (e.g. zones stacked by funding source)."""
    import matplotlib.ticker

    with matplotlib.rc_context(_style(font)):
        height = max(2.2, 0.9 + 0.32 * len(categories))
        figure = _figure(font, 8.0, height)
        axes = figure.add_subplot()
        positions = list(range(len(categories)))[::-1]
        left = [0.0] * len(categories)
        for i, (name, values) in enumerate(series):
            axes.barh(positions, values, left=left, label=_guard(name, font), color=PALETTE[i % len(PALETTE)], height=0.7)
            left = [a + float(b) for a, b in zip(left, values)]
        axes.set_yticks(positions, labels=[_guard(c, font) for c in categories])
        axes.set_title(_guard(title, font))
        axes.set_xlabel(_guard(xlabel, font))
        axes.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        axes.spines[["top", "right"]].set_visible(False)
        if series:
            axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18 if len(categories) > 6 else -0.3),
                        ncol=min(len(series), 4), fontsize="small", frameon=False)
        return _png(figure)


def ratio_bars(names: Sequence[str], ratios: Sequence[float], title: str, font: FontChoice) -> bytes:
    """Achieved / target per indicator as bars against a line at 100%."""
    import matplotlib

    with matplotlib.rc_context(_style(font)):
        figure = _figure(font, 8.0, max(2.2, 0.9 + 0.4 * len(names)))
        axes = figure.add_subplot()
        positions = list(range(len(names)))[::-1]
        colours = ["#2ca02c" if r >= 1 - 1e-9 else "#d62728" for r in ratios]
        axes.barh(positions, [r * 100 for r in ratios], color=colours, height=0.6)
        axes.axvline(100, color="#333333", linewidth=1, linestyle="--")
        axes.set_yticks(positions, labels=[_guard(n, font) for n in names])
        axes.set_title(_guard(title, font))
        axes.set_xlabel("%")
        axes.spines[["top", "right"]].set_visible(False)
        return _png(figure)


def lorenz(curves: Sequence[tuple[str, Sequence[float], Sequence[float]]], title: str, xlabel: str, ylabel: str,
           font: FontChoice) -> bytes:
    """Lorenz curves (cumulative share of residents against cumulative share of money, groups by money per resident,
    poorest first), one per basis, against the line of equality."""
    import matplotlib

    with matplotlib.rc_context(_style(font)):
        figure = _figure(font, 5.5, 5.0)
        axes = figure.add_subplot()
        axes.plot([0, 100], [0, 100], color="#333333", linewidth=1, linestyle="--")
        for i, (name, population, money) in enumerate(curves):
            axes.plot([100 * v for v in population], [100 * v for v in money], color=PALETTE[i % len(PALETTE)], label=_guard(name, font))
        axes.set_xlim(0, 100)
        axes.set_ylim(0, 100)
        axes.set_xlabel(_guard(xlabel, font))
        axes.set_ylabel(_guard(ylabel, font))
        axes.set_title(_guard(title, font))
        axes.legend(loc="upper left", frameon=False)
        axes.spines[["top", "right"]].set_visible(False)
        return _png(figure)


def trajectories(years: Sequence[str], lines: Sequence[tuple[str, Sequence[float], float]], title: str, font: FontChoice) -> bytes:
    """Each indicator's value year by year (one small panel each) against its target as a dashed line."""
    import matplotlib

    with matplotlib.rc_context(_style(font)):
        figure = _figure(font, 8.0, 2.4 * len(lines))
        for i, (name, values, target) in enumerate(lines):
            axes = figure.add_subplot(len(lines), 1, i + 1)
            axes.plot(list(years), list(values), marker="o", color=PALETTE[0], label=_guard(name, font))
            axes.axhline(target, color="#d62728", linewidth=1, linestyle="--")
            axes.set_title(_guard(name, font), fontsize="medium")
            axes.spines[["top", "right"]].set_visible(False)
        figure.suptitle(_guard(title, font))
        figure.tight_layout()
        return _png(figure)


@dataclass(frozen=True)
class Panel:
    """One small chart of :func:`line_panels`: named lines over the shared x positions (NaN: no value at that point),
    its values shown as `kind` (money: 万元 with separators; count: whole; percent; number), and an optional target."""

    title: str
    lines: Sequence[tuple[str, Sequence[float]]]
    kind: str = "number"
    target: float | None = None
    target_name: str = "target"


def _tick_format(kind: str) -> Any:
    import matplotlib.ticker

    formats = {"money": lambda v: f"{v:,.0f}", "count": lambda v: f"{v:,.0f}", "percent": lambda v: f"{v:.1%}"}
    text = formats.get(kind, lambda v: f"{v:,.2f}")
    return matplotlib.ticker.FuncFormatter(lambda v, _: text(v))


def line_panels(x: Sequence[float], ticks: Sequence[str], x_title: str, panels: Sequence[Panel], font: FontChoice) -> bytes:
    """Small multiples, two per row: each panel's lines against `x` (ticked with `ticks`), its target dashed; a point
    with no value is marked × on the x axis. Every text is checked against the fonts (no tofu)."""
    import matplotlib

    with matplotlib.rc_context(_style(font)):
        columns = 2 if len(panels) > 1 else 1
        rows = -(-len(panels) // columns)
        figure = _figure(font, 5.6 * columns, 3.0 * rows)
        step = max(1, -(-len(x) // 8))  # at most about eight ticks
        for i, panel in enumerate(panels):
            axes = figure.add_subplot(rows, columns, i + 1)
            for j, (name, values) in enumerate(panel.lines):
                axes.plot(list(x), list(values), marker="o", color=PALETTE[j % len(PALETTE)], label=_guard(name, font) if name else None)
                missing = [p for p, v in zip(x, values) if math.isnan(v)]
                if missing:
                    axes.plot(missing, [0.0] * len(missing), "x", color="#d62728", transform=axes.get_xaxis_transform(), clip_on=False)
            if panel.target is not None:
                axes.axhline(panel.target, color="#7f7f7f", linestyle="--", linewidth=1, label=_guard(panel.target_name, font))
            axes.set_title(_guard(panel.title, font), fontsize="medium")
            axes.set_xlabel(_guard(x_title, font), fontsize="small")
            axes.set_xticks(list(x)[::step], labels=[_guard(t, font) for t in ticks][::step])
            axes.yaxis.set_major_formatter(_tick_format(panel.kind))
            axes.grid(True, alpha=0.3)
            axes.spines[["top", "right"]].set_visible(False)
            if len(panel.lines) > 1 or panel.target is not None:
                axes.legend(fontsize="x-small")
        figure.tight_layout()
        return _png(figure)


def notice(text: str, font: FontChoice) -> bytes:
    """A chart that only says `text` (when there is nothing to draw, as a sweep in which no point found a plan)."""
    import matplotlib

    with matplotlib.rc_context(_style(font)):
        figure = _figure(font, 5.6, 2.0)
        figure.text(0.5, 0.5, _guard(text, font), ha="center", va="center", fontsize="large")
        return _png(figure)

"""The province tile map: the 31 mainland provinces as squares in their rough geographic places (a tile grid, which needs
no boundary data), coloured by a measure per province, drawn server-side as inline SVG (no script, nothing inline that
the CSP refuses: colours are SVG attributes, not styles).

A run names provinces by their Chinese names; the map finds each one's tile by the 2-digit division code its regions'
ids start with (110101 -> 11), and by its name when the ids are not division codes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from allocator.report.labels import PROVINCES_EN
from allocator.runformat.run import Run

YUAN_PER_WAN = 10_000.0


@dataclass(frozen=True)
class Tile:
    """A province's square: its name as the data writes it, the short name the tile shows, its column and row."""

    name: str
    short: str
    column: int
    row: int


#: The tile grid, keyed by the province's 2-digit division code (GB/T 2260): north at the top, east on the right.
TILES: dict[str, Tile] = {
    "23": Tile("黑龙江省", "黑龙江", 8, 0),
    "15": Tile("内蒙古自治区", "内蒙古", 5, 1), "11": Tile("北京市", "北京", 6, 1), "22": Tile("吉林省", "吉林", 8, 1),
    "65": Tile("新疆维吾尔自治区", "新疆", 1, 2), "62": Tile("甘肃省", "甘肃", 3, 2), "64": Tile("宁夏回族自治区", "宁夏", 4, 2),
    "14": Tile("山西省", "山西", 5, 2), "13": Tile("河北省", "河北", 6, 2), "12": Tile("天津市", "天津", 7, 2), "21": Tile("辽宁省", "辽宁", 8, 2),
    "54": Tile("西藏自治区", "西藏", 1, 3), "63": Tile("青海省", "青海", 2, 3), "51": Tile("四川省", "四川", 3, 3),
    "61": Tile("陕西省", "陕西", 4, 3), "41": Tile("河南省", "河南", 5, 3), "37": Tile("山东省", "山东", 6, 3),
    "50": Tile("重庆市", "重庆", 4, 4), "42": Tile("湖北省", "湖北", 5, 4), "34": Tile("安徽省", "安徽", 6, 4),
    "32": Tile("江苏省", "江苏", 7, 4), "31": Tile("上海市", "上海", 8, 4),
    "53": Tile("云南省", "云南", 3, 5), "52": Tile("贵州省", "贵州", 4, 5), "43": Tile("湖南省", "湖南", 5, 5),
    "36": Tile("江西省", "江西", 6, 5), "33": Tile("浙江省", "浙江", 7, 5),
    "45": Tile("广西壮族自治区", "广西", 4, 6), "44": Tile("广东省", "广东", 5, 6), "35": Tile("福建省", "福建", 6, 6),
    "46": Tile("海南省", "海南", 4, 7),
}
#: A tile's side and the gap between tiles, in SVG units.
SIDE, GAP = 54, 4
#: The colour scale, light to dark (low to high), and the grey of a province without candidates or without a value.
SCALE = ("#deebf7", "#9ecae1", "#6baed6", "#3182bd", "#08519c")
NO_CANDIDATES, NO_VALUE = "#d0d4d8", "#eef0f2"
#: The measures every run with an allocation has: key -> (Chinese label, English label, unit).
MONEY_MEASURES = {"per_resident": ("人均资金（全部来源）", "money per resident (all sources)", "元/人"),
                  "money": ("资金（全部来源）", "money (all sources)", "万元"),
                  "funded": ("资助项目数", "projects funded", "个")}


@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    unit: str
    percent: bool = False  # an indicator shown as a percentage (0.52 as 52.00%)

    def show(self, value: float) -> str:
        """`value` with its unit, as the tooltip and the legend write it."""
        if not math.isfinite(value):
            return "—"
        if self.percent:
            return f"{value:.2%}"
        decimals = 0 if self.key == "funded" else 2
        return f"{value:,.{decimals}f} {self.unit}".rstrip()


@dataclass(frozen=True)
class DrawnTile:
    code: str
    x: int
    y: int
    fill: str
    ink: str  # the label's colour, readable on `fill`
    label: str
    title: str  # the tooltip: name, value with unit, projects funded / candidates, money
    linked: bool  # a province with candidates opens its page


@dataclass
class TileMap:
    measure: Measure
    tiles: list[DrawnTile]
    legend: list[tuple[str, str]]  # (colour, value with unit), low to high
    width: int
    height: int
    off_map: list[str] = field(default_factory=list)  # provinces of the run no tile stands for
    side: int = SIDE


def province_codes(allocation: pd.DataFrame) -> dict[str, str]:
    """Each province of a run's allocation -> the code of its tile: the 2 digits its region ids share, else the tile
    whose name it has; a province matching neither is left out."""
    by_name = {tile.name: code for code, tile in TILES.items()}
    pairs = pd.DataFrame({"province": allocation["province"].astype(str).to_numpy(),
                          "prefix": allocation["region_id"].astype(str).str[:2].to_numpy()}).drop_duplicates()
    found = {}
    for province, prefixes in pairs.groupby("province", sort=False)["prefix"]:
        code = str(prefixes.iloc[0]) if len(prefixes) == 1 else ""
        if code not in TILES or (TILES[code].name != province and province in by_name):
            code = by_name.get(str(province), "")
        if code:
            found[str(province)] = code
    return found


def residents(run: Run) -> pd.Series:
    """Residents per province (人), as the run's equity.csv counts them; empty when the run has none."""
    equity = run.equity
    if equity is None or not len(equity):
        return pd.Series(dtype=float)
    rows = equity[equity["measure"] == "residents"]
    return pd.Series(rows["value"].astype(float).to_numpy(), index=rows["group"].astype(str).to_numpy())


def figures(run: Run) -> pd.DataFrame:
    """Per province of the allocation: candidates, funded (the funded share, summed), money of all sources (万元), residents
    (人) and money per resident (元/人; NaN without residents)."""
    allocation, keys = run.allocation, run.source_keys
    money = allocation[keys].to_numpy(dtype=float).sum(axis=1) if keys else np.zeros(len(allocation))
    frame = pd.DataFrame({"province": allocation["province"].astype(str).to_numpy(), "candidates": 1,
                          "funded": allocation["selected"].to_numpy(dtype=float), "money": money})
    table = frame.groupby("province").sum()
    table["money"] = table["money"].round(run.money_decimals)
    table["residents"] = residents(run).reindex(table.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["per_resident"] = np.where(table["residents"] > 0, YUAN_PER_WAN * table["money"] / table["residents"], np.nan)
    return table


def measures(run: Run, english: bool) -> list[Measure]:
    """The measures a run's map can show: money per resident (when the run counts residents), money, projects funded,
    and each indicator (its value per province)."""
    has_residents = bool(len(residents(run)))
    found = [Measure(key, en if english else zh, unit) for key, (zh, en, unit) in MONEY_MEASURES.items()
             if key != "per_resident" or has_residents]
    if len(run.indicators):
        for name, label in run.indicators.drop_duplicates("indicator")[["indicator", "label"]].itertuples(index=False):
            found.append(Measure(f"indicator:{name}", str(label) if isinstance(label, str) and label else str(name), ""))
    return found


def draw(run: Run, measure: Measure, values: pd.Series, english: bool) -> TileMap:
    """The map of `run` coloured by `values` (per province name); a tile with candidates links to its province's page."""
    table = figures(run)
    codes = province_codes(run.allocation)
    by_code = {code: name for name, code in codes.items()}
    shown = values.reindex(list(codes)).astype(float)
    finite = shown[np.isfinite(shown)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 0.0)
    tiles = []
    for code, tile in TILES.items():
        name = by_code.get(code)
        label = PROVINCES_EN.get(tile.name, tile.short) if english else tile.short
        x, y = tile.column * (SIDE + GAP), tile.row * (SIDE + GAP)
        if name is None:
            title = f"{tile.name}\n{'no candidate projects' if english else '没有候选项目'}"
            tiles.append(DrawnTile(code, x, y, NO_CANDIDATES, "#5a6570", label, title, False))
            continue
        value = float(shown.get(name, np.nan))
        fill = colour(value, low, high) if math.isfinite(value) else NO_VALUE
        row = table.loc[name]
        funded = f"{row['funded']:,.0f}" if run.binary else f"{row['funded']:,.2f}"
        lines = [name, f"{measure.label}: {measure.show(value)}",
                 (f"funded / candidates: {funded} / {int(row['candidates']):,}" if english else
                  f"资助 / 候选: {funded} / {int(row['candidates']):,} 个项目"),
                 f"{'money' if english else '资金'}: {row['money']:,.2f} 万元"]
        tiles.append(DrawnTile(code, x, y, fill, "#ffffff" if fill in SCALE[3:] else "#1b1f24", label, "\n".join(lines), True))
    legend = [(SCALE[i], measure.show(low + (high - low) * i / (len(SCALE) - 1))) for i in range(len(SCALE))] if len(finite) else []
    columns = 1 + max(t.column for t in TILES.values())
    rows = 1 + max(t.row for t in TILES.values())
    off_map = sorted(set(table.index) - set(codes))
    return TileMap(measure, tiles, legend, columns * (SIDE + GAP), rows * (SIDE + GAP), off_map)


def colour(value: float, low: float, high: float) -> str:
    """The scale's colour of `value` between `low` and `high`: the nearest of its steps (the legend's swatches)."""
    if high <= low:
        return SCALE[len(SCALE) // 2]
    step = round((value - low) / (high - low) * (len(SCALE) - 1))
    return SCALE[min(max(step, 0), len(SCALE) - 1)]

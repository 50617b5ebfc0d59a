"""What a planner reads of a comparison (``allocate compare``): comparison.md, comparison.html, comparison.xlsx and the
terminal table, drawn from a :class:`allocator.compare.Comparison` (which computes; its CSVs keep the machine keys).

The runs are 方案A, 方案B, … (the page names each); a difference reads "B − A". Figures are named in Chinese from
the runs' own labels (sources, types, indicators). Money is 万元 with two decimals and thousands separators, counts
are whole, the solver's gap and shares are percentages with two decimals, other figures have two decimals. Zones
and provinces come in the comparison's order (provinces by region code: the official division order). The page
fits 1280 px and an A4 landscape sheet: every table is narrow (one figure per province table), no cell wraps, and
a long name is shortened on the page (whole in the workbook and the CSVs).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd

from allocator.report.document import Block, render_markdown
from allocator.report.labels import display_width, scope_label, status_label, text_table, zone_label
from allocator.report.workbook import C, Row, Sheet, indicator_displays, write_sheets
from allocator.runformat.cells import finite_number, is_missing
from allocator.runformat.run import Run

MARKDOWN, PAGE, WORKBOOK = "comparison.md", "comparison.html", "comparison.xlsx"
#: Rows of the changed-projects table on the page and in comparison.md (projects.csv and the workbook have them all).
PROJECT_ROWS_SHOWN = 20
#: A text cell of the page wider than this (display columns: a CJK character counts 2) is shortened with "…";
#: project names, in the widest table, sooner.
CLIP = 60
_CLIP_BY_HEADER = {"项目名称": 32}

TEXT, MONEY, COUNT, PERCENT, VALUE = "text", "money", "count", "percent", "value"
#: The workbook's cell style of each kind of figure (allocator.report.workbook).
_STYLES = {TEXT: "text", MONEY: "money", COUNT: "count", PERCENT: "share", VALUE: "fraction"}
#: The columns of the churn table, named.
_CHURN = {"added": ("新增项目数", COUNT), "dropped": ("减少项目数", COUNT), "kept": ("保留项目数", COUNT),
          "money_added": ("新增项目资金（万元）", MONEY), "money_dropped": ("减少项目资金（万元）", MONEY),
          "money_moved": ("调整资金（万元）", MONEY)}
_GROUP_LEVELS = {"zone": ("区域", "分区域"), "province": ("省份", "分省")}


class Comparison(Protocol):
    """What the pages read of a comparison (:class:`allocator.compare.Comparison` is one; a report module reads runs
    through the run format only, so it does not import the module that computes)."""

    runs: dict[str, Run]
    by_zone: pd.DataFrame
    by_province: pd.DataFrame
    projects: pd.DataFrame
    churn: pd.DataFrame

    @property
    def baseline(self) -> str: ...

    @property
    def objective_unit(self) -> str: ...

    @property
    def allocated(self) -> list[str]: ...

    def table(self) -> pd.DataFrame: ...

    def column_run(self, column: str) -> tuple[str, bool]: ...


@dataclass(frozen=True)
class Figure:
    """A figure as a planner reads it: its name and its kind (how it is formatted)."""

    label: str
    kind: str


class Names:
    """The Chinese names of a comparison's runs (方案A …) and figures, from the runs' own labels."""

    def __init__(self, comparison: Comparison):
        self.comparison = comparison
        self.letters = {run: _letter(i) for i, run in enumerate(comparison.runs)}
        self.sources: dict[str, str] = {}
        self.types: dict[str, str] = {}
        self.indicators: dict[str, str] = {}
        self.percent: set[str] = set()  # indicators shown as percentages (display = "percent", as in the workbook)
        for run in comparison.runs.values():
            self.percent |= {key for key, display in indicator_displays(run.manifest).items() if display == "percent"}
            for key, name in run.sources:
                self.sources.setdefault(key, name)
            for key, name in run.types:
                self.types.setdefault(key, name)
            if len(run.indicators):
                for key, name in zip(run.indicators["indicator"], run.indicators["label"]):
                    self.indicators.setdefault(str(key), name if isinstance(name, str) and name else str(key))

    def run(self, run: str) -> str:
        return f"方案{self.letters[run]}"

    def column(self, column: str, base: str) -> str:
        """The header of a run's column ("方案B") or of its difference from `base` ("B − A")."""
        run, delta = self.comparison.column_run(column)
        return f"{self.letters[run]} − {self.letters[base]}" if delta else self.run(run)

    def headline(self, key: str) -> Figure:
        """A figure of the headline table (allocator.compare.headline's keys)."""
        fixed = {"status": ("求解状态", TEXT), "solver": ("求解器", TEXT), "mip_gap": ("相对间隙", PERCENT),
                 "projects_funded": ("资助项目数", COUNT), "money_total": ("安排资金合计（万元）", MONEY),
                 "targets_met": ("达标指标组数", COUNT), "targets_missed": ("未达标指标组数", COUNT)}
        if key in fixed:
            return Figure(*fixed[key])
        if key == "objective":
            unit = self.comparison.objective_unit
            return Figure(f"目标函数值（{unit}）" if unit else "目标函数值", VALUE)
        prefix, _, name = key.partition(":")
        indicator, _, group = name.partition("@")
        shown = self.indicators.get(indicator, indicator)
        value = PERCENT if indicator in self.percent else VALUE
        named = {"used": (f"{self.sources.get(name, name)}已安排（万元）", MONEY),
                 "funded": (f"资助项目数 · {self.types.get(name, name)}", COUNT),
                 "money": (f"资金 · {self.types.get(name, name)}（万元）", MONEY),
                 "target": (f"目标值 · {shown}", value),
                 "achieved": (f"实现值 · {shown}" + (f"（{zone_label(group)}）" if group else ""), value),
                 "groups_met": (f"达标分组数 · {shown}", COUNT),
                 "achieved_mean": (f"实现值（各组平均） · {shown}", value)}
        return Figure(*named.get(prefix, (key, VALUE)))

    def side(self, key: str) -> Figure:
        """A figure of the zone and province tables (funded, money per source, total, share)."""
        fixed = {"funded": ("资助项目数", COUNT), "total": ("资金合计（万元）", MONEY), "share": ("占全国资金比重", PERCENT)}
        if key in fixed:
            return Figure(*fixed[key])
        return Figure(f"{self.sources[key]}（万元）", MONEY) if key in self.sources else Figure(key, VALUE)


def _letter(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else str(index + 1)


def show(value: object, kind: str, *, delta: bool = False) -> str:
    """A figure as the page prints it (module docstring); a difference is signed, and 0 when it rounds to nothing."""
    if kind == TEXT:
        return "" if is_missing(value) else str(value)
    number = finite_number(value)
    if number is None:
        return ""
    decimals = 0 if kind == COUNT and abs(number - round(number)) < 1e-9 else 2
    if kind == PERCENT:
        number *= 100
    if delta and abs(number) < 0.5 * 10 ** -decimals:
        return "0"
    text = f"{number:{'+' if delta else ''},.{decimals}f}"
    return text + "%" if kind == PERCENT else text


# -- the page and comparison.md ------------------------------------------------------------------------------------


def blocks(comparison: Comparison) -> list[Block]:
    """The comparison as report blocks: legend, headline, zones, provinces, churn and changed projects."""
    names = Names(comparison)
    base = names.letters[comparison.baseline]
    unit = comparison.objective_unit
    parts = [Block("h1", f"方案比较（{len(comparison.runs)} 个方案）")]
    parts += [Block("p", f"{names.run(key)}：{key}（{status_label(run.status)}）" + (f"。{run.description}" if run.description else ""))
              for key, run in comparison.runs.items()]
    parts.append(Block("note", f"以方案{base}为基准，“B − {base}”为方案B减方案{base}。金额单位万元，保留两位小数；项目数为整数；"
                               "相对间隙、占比和比例类指标为百分数，保留两位小数（差值为百分点）；其他数值保留两位小数"
                               + (f"；目标函数单位：{unit}。" if unit else "。")))
    parts += [Block("h2", "主要指标"), _headline_table(comparison, names)]
    parts += _zone_blocks(comparison, names)
    parts += _province_blocks(comparison, names)
    parts += _churn_blocks(comparison, names)
    parts += _project_blocks(comparison, names)
    return parts


def _headline_table(comparison: Comparison, names: Names) -> Block:
    table = comparison.table()
    rows = []
    for key, values in table.iterrows():
        figure = names.headline(str(key))
        cells = []
        for column, value in values.items():
            _, delta = comparison.column_run(str(column))
            if figure.kind == TEXT and key == "status" and not delta:
                value = status_label(str(value))
            cells.append(show(value, figure.kind, delta=delta))
        rows.append([figure.label, *cells])
    headers = ["项目", *[names.column(str(c), comparison.baseline) for c in table.columns]]
    return Block("table", headers=headers, rows=rows, numeric=[False] + [True] * len(table.columns))


def _runs_of(frame: pd.DataFrame, comparison: Comparison) -> tuple[list[str], str]:
    """The run columns of one figure of a side-by-side table, and the run they differ from (the first shown)."""
    columns = [str(c) for c in frame.columns]
    base = next(run for run, delta in map(comparison.column_run, columns) if not delta)
    return columns, base


def _zone_blocks(comparison: Comparison, names: Names) -> list[Block]:
    """Zones as one long table: for each zone, funded projects, money per source and the total."""
    frame = comparison.by_zone
    parts = [Block("h2", "分区域资助项目与资金")]
    if not len(frame):
        return [*parts, Block("p", "无分配方案可比较。")]
    figures = list(dict.fromkeys(frame.columns.get_level_values(0)))
    columns, base = _runs_of(frame[figures[0]], comparison)
    rows = []
    for zone, values in frame.iterrows():
        for i, key in enumerate(figures):
            figure = names.side(key)
            cells = [show(values[(key, c)], figure.kind, delta=comparison.column_run(c)[1]) for c in columns]
            rows.append([zone_label(str(zone)) if i == 0 else "", figure.label, *cells])
    headers = ["区域", "项目", *[names.column(c, base) for c in columns]]
    return [*parts, Block("table", headers=headers, rows=rows, numeric=[False, False] + [True] * len(columns))]


def _province_blocks(comparison: Comparison, names: Names) -> list[Block]:
    """One narrow table per figure: funded projects, total money and the share of the national money."""
    frame = comparison.by_province
    if not len(frame):
        return [Block("h2", "分省"), Block("p", "无分配方案可比较。")]
    parts = []
    for key in ("funded", "total", "share"):
        if key not in frame.columns.get_level_values(0):
            continue
        figure = names.side(key)
        columns, base = _runs_of(frame[key], comparison)
        rows = [[str(province), *[show(values[(key, c)], figure.kind, delta=comparison.column_run(c)[1]) for c in columns]]
                for province, values in frame.iterrows()]
        parts += [Block("h2", f"分省 · {figure.label}"),
                  Block("table", headers=["省份", *[names.column(c, base) for c in columns]], rows=rows,
                        numeric=[False] + [True] * len(columns))]
    parts.append(Block("note", "分来源资金见 comparison.xlsx 的“分省”表和 by_province.csv。"))
    return parts


def _churn_blocks(comparison: Comparison, names: Names) -> list[Block]:
    """Projects added, dropped and kept, and money moved, nationally, per zone and in each province that changed."""
    churn = comparison.churn
    if not len(churn):
        return [Block("h2", "项目增减"), Block("p", "没有两个有分配方案的方案可比较。")]
    parts = [Block("h2", f"项目增减（与{names.run(_churn_base(comparison))}相比）")]
    table = churn.reset_index()
    changed = table[["added", "dropped", "money_moved"]].abs().sum(axis=1) > 0
    table = table[(table["level"] != "province") | changed]
    rows = [[names.run(str(r["run"])), _group_text(str(r["level"]), str(r["group"])),
             *[show(r[c], kind) for c, (_, kind) in _CHURN.items()]] for _, r in table.iterrows()]
    headers = ["方案", "范围", *[name for name, _ in _CHURN.values()]]
    return [*parts, Block("table", headers=headers, rows=rows, numeric=[False, False] + [True] * len(_CHURN)),
            Block("note", "未列出的省份没有变化；各省全部数字见 churn.csv 和 comparison.xlsx 的“项目增减”表。")]


def _churn_base(comparison: Comparison) -> str:
    """The run the churn and the changed projects are counted against: the first with an allocation (allocator.compare)."""
    return comparison.allocated[0]


def _projects_not_compared(comparison: Comparison, names: Names) -> str:
    """Why no projects are compared when fewer than two runs have an allocation ("" when they are compared)."""
    if len(comparison.allocated) >= 2:
        return ""
    missing = [f"{names.run(key)}（{status_label(run.status)}）" for key, run in comparison.runs.items() if key not in comparison.allocated]
    return f"无法比较：{'、'.join(missing)}没有分配方案，有分配方案的方案不足两个"


def _projects_base(comparison: Comparison, names: Names) -> str:
    """"与方案B相比" when the changed projects are counted against another run than the first (it has no allocation)."""
    base = _churn_base(comparison)
    return "" if base == comparison.baseline else f"与{names.run(base)}相比"


def _group_text(level: str, group: str) -> str:
    if level == "national":
        return "全国"
    return zone_label(group) if level == "zone" else group


def _project_blocks(comparison: Comparison, names: Names) -> list[Block]:
    """The projects funded in one run and not another (the first PROJECT_ROWS_SHOWN), with each run's money."""
    projects = comparison.projects
    not_compared = _projects_not_compared(comparison, names)
    if not_compared:
        return [Block("h2", "资助安排有变化的项目"), Block("p", f"{not_compared}。")]
    base = _projects_base(comparison, names)
    parts = [Block("h2", f"资助安排有变化的项目（{len(projects):,} 个{'，' + base if base else ''}）")]
    if not len(projects):
        return [*parts, Block("p", "无：各方案资助的项目相同。")]
    runs = [run for run in comparison.runs if f"money[{run}]" in projects]
    headers = ["项目编号", "项目名称", "省份", "项目类型", "总投资（万元）", *[f"资金 · {names.run(r)}" for r in runs], "资助方案"]
    rows = []
    for project_id, row in projects.head(PROJECT_ROWS_SHOWN).iterrows():
        rows.append([str(project_id), show(row.get("name"), TEXT), show(row.get("province"), TEXT),
                     names.types.get(str(row.get("type")), show(row.get("type"), TEXT)), show(row.get("cost"), MONEY),
                     *[show(row[f"money[{r}]"], MONEY) for r in runs], _funded_in(row, runs, names)])
    parts.append(Block("table", headers=headers, rows=rows, numeric=[False] * 4 + [True] * (1 + len(runs)) + [False]))
    if len(projects) > PROJECT_ROWS_SHOWN:
        parts.append(Block("note", f"其余 {len(projects) - PROJECT_ROWS_SHOWN:,} 个见 projects.csv 和 comparison.xlsx 的“变化项目”表。"))
    return parts


def _funded_in(row: pd.Series, runs: Sequence[str], names: Names) -> str:
    funded = [names.letters[r] for r in runs if (finite_number(row[f"selected[{r}]"]) or 0.0) > 0]
    return "、".join(funded) if funded else "无"


_CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei","Microsoft YaHei","PingFang SC",sans-serif;
margin:1.2em auto;max-width:1180px;padding:0 1em;color:#222;line-height:1.45;font-size:14px}
h1{font-size:1.5em;border-bottom:2px solid #1f4e78;padding-bottom:.2em}h2{font-size:1.15em;margin:1.4em 0 .3em;color:#1f4e78}
p{margin:.3em 0}.note{color:#555;border-left:3px solid #ccc;padding-left:.8em;margin:.5em 0}
table{border-collapse:collapse;margin:.4em 0 1em;font-size:13px}th,td{border:1px solid #ccc;padding:.2em .5em;white-space:nowrap}
th{background:#ddebf7;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#f7f9fc}
@page{size:A4 landscape;margin:10mm}
@media print{body{max-width:none;margin:0;padding:0;font-size:10pt}table{font-size:9pt}h2{break-after:avoid}tr{break-inside:avoid}}
"""


def clip(text: str, width: int = CLIP) -> str:
    """`text` cut to `width` display columns, with "…" when cut."""
    if display_width(text) <= width:
        return text
    kept = ""
    for char in text:
        if display_width(kept + char) > width - 1:
            break
        kept += char
    return kept + "…"


def render_page(parts: list[Block]) -> str:
    """A self-contained page (no network: the Content-Security-Policy forbids every fetch) of `parts`, compact for print."""
    e = html.escape
    title = next((b.text for b in parts if b.kind == "h1"), "方案比较")
    out = ["<!DOCTYPE html>", '<html lang="zh-CN">', "<head>", '<meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; style-src \'unsafe-inline\'">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">', f"<title>{e(title)}</title>",
           f"<style>{_CSS}</style>", "</head>", "<body>"]
    for block in parts:
        if block.kind in ("h1", "h2"):
            out.append(f"<{block.kind}>{e(block.text)}</{block.kind}>")
        elif block.kind in ("p", "note"):
            out.append(f'<p class="note">{e(block.text)}</p>' if block.kind == "note" else f"<p>{e(block.text)}</p>")
        elif block.kind == "table":
            out.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in block.headers) + "</tr></thead><tbody>")
            widths = [_CLIP_BY_HEADER.get(h, CLIP) for h in block.headers]
            out += ["<tr>" + "".join(_cell(c, n, w) for c, n, w in zip(row, block.numeric, widths)) + "</tr>" for row in block.rows]
            out.append("</tbody></table>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def _cell(text: str, numeric: bool, width: int) -> str:
    """A cell: a number right-aligned, a text shortened to `width` (whole in its tooltip)."""
    if numeric:
        return f'<td class="n">{html.escape(text)}</td>'
    shown = clip(text, width)
    hint = f' title="{html.escape(text)}"' if shown != text else ""
    return f"<td{hint}>{html.escape(shown)}</td>"


# -- comparison.xlsx -------------------------------------------------------------------------------------------------


def sheets(comparison: Comparison) -> list[Sheet]:
    """The workbook: the runs, the headline, zones, provinces, changed projects and churn, one sheet each."""
    names = Names(comparison)
    return [_legend_sheet(comparison, names), _headline_sheet(comparison, names),
            _side_sheet("zone", comparison.by_zone, comparison, names), _side_sheet("province", comparison.by_province, comparison, names),
            _projects_sheet(comparison, names), _churn_sheet(comparison, names)]


def _header(*texts: str) -> list[C]:
    return [C(text, "header") for text in texts]


def _number(value: object, kind: str) -> C:
    """A number cell in the style of its kind (a count with a part-funded value keeps two decimals)."""
    number = finite_number(value)
    style = _STYLES[kind]
    if kind == COUNT and number is not None and abs(number - round(number)) > 1e-9:
        style = "fraction"
    return C(number, style)


def _legend_sheet(comparison: Comparison, names: Names) -> Sheet:
    rows: list[Row] = [_header("方案", "名称", "说明", "求解状态", "求解器", "目录")]
    for key, run in comparison.runs.items():
        rows.append([C(names.run(key)), C(key), C(run.description), C(status_label(run.status)), C(run.solver),
                     C(str(run.path) if run.path else "")])
    return Sheet("方案说明", rows, freeze="A2")


def _headline_sheet(comparison: Comparison, names: Names) -> Sheet:
    table = comparison.table()
    rows: list[Row] = [_header("项目", *[names.column(str(c), comparison.baseline) for c in table.columns])]
    for key, values in table.iterrows():
        figure = names.headline(str(key))
        if figure.kind == TEXT:
            text = [show(v, TEXT) for v in values]
            rows.append([C(figure.label), *[C((status_label(t) if key == "status" else t) or None) for t in text]])
        else:
            rows.append([C(figure.label), *[_number(v, figure.kind) for v in values]])
    return Sheet("主要指标", rows, freeze="B2")


def _side_sheet(level: str, frame: pd.DataFrame, comparison: Comparison, names: Names) -> Sheet:
    """by_zone.csv or by_province.csv with Chinese headers: every figure, each run and its difference."""
    head, title = _GROUP_LEVELS[level]
    if not len(frame):
        return Sheet(title, [_header(head)], freeze="B2")
    base = _runs_of(frame[frame.columns[0][0]], comparison)[1]
    headers = [f"{names.side(str(key)).label} · {names.column(str(c), base)}" for key, c in frame.columns]
    rows: list[Row] = [_header(head, *headers)]
    for group, values in frame.iterrows():
        shown = zone_label(str(group)) if level == "zone" else str(group)
        rows.append([C(shown), *[_number(v, names.side(str(key)).kind) for (key, _), v in values.items()]])
    return Sheet(title, rows, freeze="B2")


def _projects_sheet(comparison: Comparison, names: Names) -> Sheet:
    """projects.csv with Chinese headers: every project whose funding differs, each run's share funded and money."""
    projects = comparison.projects
    runs = [run for run in comparison.runs if f"money[{run}]" in projects]
    rows: list[Row] = [_header("项目编号", "项目名称", "省份", "区域", "项目类型", "总投资（万元）",
                               *[f"资助比例 · {names.run(r)}" for r in runs], *[f"资金 · {names.run(r)}（万元）" for r in runs], "资助方案")]
    for project_id, row in projects.iterrows():
        rows.append([C(str(project_id)), C(show(row.get("name"), TEXT)), C(show(row.get("province"), TEXT)),
                     C(zone_label(show(row.get("zone"), TEXT))), C(names.types.get(str(row.get("type")), show(row.get("type"), TEXT))),
                     _number(row.get("cost"), MONEY), *[_number(row[f"selected[{r}]"], PERCENT) for r in runs],
                     *[_number(row[f"money[{r}]"], MONEY) for r in runs], C(_funded_in(row, runs, names))])
    return Sheet("变化项目", rows, freeze="B2")


def _churn_sheet(comparison: Comparison, names: Names) -> Sheet:
    """churn.csv with Chinese headers: every run after the first, nationally, per zone and per province."""
    rows: list[Row] = [_header("方案", "范围", "分组", *[name for name, _ in _CHURN.values()])]
    for (run, level, group), values in comparison.churn.iterrows():
        rows.append([C(names.run(str(run))), C(scope_label(str(level))), C(_group_text(str(level), str(group))),
                     *[_number(values[c], kind) for c, (_, kind) in _CHURN.items()]])
    return Sheet("项目增减", rows, freeze="B2")


# -- writing, and the terminal ---------------------------------------------------------------------------------------


def write_pages(comparison: Comparison, folder: Path) -> list[Path]:
    """comparison.md, comparison.html and comparison.xlsx in `folder` (the comparison's staging folder)."""
    parts = blocks(comparison)
    (folder / MARKDOWN).write_text(render_markdown(parts, "zh"), encoding="utf-8")
    (folder / PAGE).write_text(render_page(parts), encoding="utf-8")
    return [folder / MARKDOWN, folder / PAGE, write_sheets(sheets(comparison), folder / WORKBOOK)]


def _text(table: Block) -> str:
    return text_table(table.headers, table.rows, table.numeric)


def terminal_text(comparison: Comparison) -> str:
    """What `allocate compare` prints: the runs, the headline table, money by zone, the churn and the changed projects."""
    names = Names(comparison)
    lines = [f"{names.run(key)} = {key} ({status_label(run.status)})" for key, run in comparison.runs.items()]
    unit = comparison.objective_unit
    lines += ["金额单位万元；相对间隙为百分数" + (f"；目标函数单位 {unit}" if unit else "") + "。", "",
              _text(_headline_table(comparison, names))]
    zones = _zone_blocks(comparison, names)
    if zones[-1].kind == "table":
        lines += ["", "分区域：", _text(zones[-1])]
    churn = comparison.churn
    if len(churn):
        national = churn.xs("national", level="level")
        lines.append("")
        lines += [f"与{names.run(_churn_base(comparison))}相比，{names.run(str(run))}：新增 {int(r.added):,} 个、减少 {int(r.dropped):,} 个项目，"
                  f"调整资金 {show(r.money_moved, MONEY)} 万元" for (run, _), r in national.iterrows()]
    not_compared, base = _projects_not_compared(comparison, names), ""
    if not not_compared:
        base = _projects_base(comparison, names)
    lines += ["", f"资助安排有变化的项目：{not_compared}" if not_compared else
              f"资助安排有变化的项目{'（' + base + '）' if base else ''}：{len(comparison.projects):,} 个（projects.csv，comparison.xlsx）"]
    return "\n".join(lines)

"""What a result page shows, from run directories read back (allocator.runformat): the summary figures, money per
source, zone and province, the indicators, and the differences from the previous run (allocator.compare)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from allocator.compare import DELTA, compare_runs
from allocator.report.comparison import TEXT, Names, show
from allocator.report.labels import status_label
from allocator.runformat.names import DIAGNOSIS
from allocator.runformat.run import Run

BEFORE, AFTER = "上次", "本次"
#: A suggested change in a diagnosis: ``(--set KEY=VALUE)`` at the end of its line.
_FIX = re.compile(r"\(--set (.+)\)\s*$")


@dataclass
class Table:
    """A table as the page shows it: column headers and rows of text."""

    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)


def money(amount: object) -> str:
    """万元 with thousands separators (the unit is in the column header)."""
    return f"{float(amount):,.2f}" if pd.notna(amount) else ""  # type: ignore[arg-type]


def number(value: object) -> str:
    return f"{float(value):,.4g}" if pd.notna(value) else ""  # type: ignore[arg-type]


def signed(amount: object) -> str:
    return f"{float(amount):+,.2f}" if pd.notna(amount) else ""  # type: ignore[arg-type]


def summary(run: Run) -> Table:
    objective = run.manifest.objective
    unit = f"（{objective.unit}）" if objective and objective.unit else ""
    allocation = run.allocation
    rows = [["状态", run.status],
            [f"目标值{unit}", number(run.objective)],
            ["资助项目数", f"{int(allocation['selected'].sum()):,}"],
            ["资金合计（万元）", money(run.by_source["used"].sum())]]
    met = run.indicators["met"].dropna().astype(bool) if len(run.indicators) else pd.Series(dtype=bool)
    rows.append(["指标达成", f"{int(met.sum())} / {len(met)}"])
    return Table(["项目", "数值"], rows)


def by_source(run: Run) -> Table:
    return Table(["资金来源", "预算（万元）", "使用（万元）", "使用比例"],
                 [[f"{r.label} [{r.source}]", money(r.budget), money(r.used), f"{float(r.used_share):.1%}"] for r in run.by_source.itertuples()])


def by_type(run: Run) -> Table:
    return Table(["类型", "资助数", "候选数", "金额（万元）"],
                 [[f"{r.label} [{r.type}]", f"{int(r.funded):,}", f"{int(r.candidates):,}", money(r.total)] for r in run.by_type.itertuples()])


def by_zone(run: Run) -> Table:
    return Table(["地区", "资助数", "金额（万元）"], [[str(r.zone), f"{int(r.funded):,}", money(r.total)] for r in run.by_zone.itertuples()])


def indicators(run: Run) -> Table:
    rows = []
    for r in run.indicators.itertuples():
        state = "" if pd.isna(r.met) else ("达成" if r.met else "未达成")
        group = "" if r.scope == "national" else f" ({r.group})"
        rows.append([f"{r.label}{group}", number(r.achieved), number(r.target), state, number(r.shortfall), "是" if r.hard else "否"])
    return Table(["指标", "达到", "目标", "结果", "差距", "硬约束"], rows)


def by_province(run: Run) -> Table:
    return Table(["省份", "资助数", "金额（万元）"], [[str(r.province), f"{int(r.funded):,}", money(r.total)] for r in run.by_province.itertuples()])


@dataclass
class Differences:
    """This run beside the previous one: headline figures, money by province, projects added and dropped."""

    figures: Table
    provinces: Table
    churn: Table


def differences(previous: Run, current: Run) -> Differences:
    """The comparison of `previous` and `current` (allocator.compare), as tables."""
    comparison = compare_runs({BEFORE: previous, AFTER: current})
    table = comparison.table()
    delta = f"{DELTA}{AFTER}"
    names = Names(comparison)  # the comparison page's own names and formats: 资助项目数 · 社区服务站, 相对间隙 as %, …
    figures = Table(["指标项", BEFORE, AFTER, "差"], [])
    for key, row in table.iterrows():
        figure = names.headline(str(key))
        before, after = (status_label(str(row[BEFORE])), status_label(str(row[AFTER]))) if key == "status" else \
            (show(row[BEFORE], figure.kind), show(row[AFTER], figure.kind))
        figures.rows.append([figure.label, before, after, show(row[delta], figure.kind, delta=True) if figure.kind != TEXT else ""])
    provinces = Table(["省份", f"{BEFORE}（万元）", f"{AFTER}（万元）", "差（万元）"])
    if len(comparison.by_province):
        totals = comparison.by_province["total"]
        for province, row in totals.iterrows():
            provinces.rows.append([str(province), money(row[BEFORE]), money(row[AFTER]), signed(row.iloc[-1])])
    churn = Table(["范围", "新增项目", "取消项目", "保留项目", "变动资金（万元）"])
    for (_, level, group), row in comparison.churn.iterrows():
        if level in ("national", "zone"):
            churn.rows.append([str(group), f"{int(row['added']):,}", f"{int(row['dropped']):,}", f"{int(row['kept']):,}", money(row["money_moved"])])
    return Differences(figures, provinces, churn)


def diagnosis(run: Run) -> tuple[str, list[str]]:
    """A run without an allocation: its diagnosis (diagnosis.md, else the manifest's message) and the suggested fixes."""
    path = run.path / DIAGNOSIS if run.path else None
    text = path.read_text(encoding="utf-8") if path and path.is_file() else (run.manifest.message or run.status)
    fixes = [m.group(1).strip() for line in text.splitlines() if (m := _FIX.search(line))]
    return text, list(dict.fromkeys(fixes))

"""What a result page shows, from run directories read back (allocator.runformat): the summary figures, money per
source, zone and province, the indicators, and the differences from the previous run (allocator.compare)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from allocator.compare import DELTA, RUN, Comparison, churn, headline, province_order, side_by_side
from allocator.report.comparison import TEXT, Names, show
from allocator.report.labels import status_label, zone_label
from allocator.runformat.names import DIAGNOSIS
from allocator.runformat.run import Run

BEFORE, AFTER = "上次", "本次"
#: The two runs' columns of the differences, in English.
BEFORE_EN, AFTER_EN = "Previous", "This run"
#: A suggested change in a diagnosis: ``(--set KEY=VALUE)`` at the end of its line.
_FIX = re.compile(r"\(--set (.+)\)\s*$")


@dataclass
class Table:
    """A table as the page shows it: column headers and rows of text."""

    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)


def pick(lang: str, chinese: str, english: str) -> str:
    """A header or label in the page's language ("zh" or "en")."""
    return english if lang == "en" else chinese


def tables(run: Run, lang: str = "zh") -> list[tuple[str, Table]]:
    """The result tables of a run with an allocation, each with its title."""
    return [(pick(lang, "汇总", "Summary"), summary(run, lang)), (pick(lang, "资金来源", "Sources"), by_source(run, lang)),
            (pick(lang, "项目类型", "Project types"), by_type(run, lang)), (pick(lang, "指标", "Indicators"), indicators(run, lang)),
            (pick(lang, "地区", "Zones"), by_zone(run, lang)), (pick(lang, "省份", "Provinces"), by_province(run, lang))]


def money(amount: object) -> str:
    """万元 with thousands separators (the unit is in the column header)."""
    return f"{float(amount):,.2f}" if pd.notna(amount) else ""  # type: ignore[arg-type]


def number(value: object) -> str:
    return f"{float(value):,.4g}" if pd.notna(value) else ""  # type: ignore[arg-type]


def signed(amount: object) -> str:
    return f"{float(amount):+,.2f}" if pd.notna(amount) else ""  # type: ignore[arg-type]


def summary(run: Run, lang: str = "zh") -> Table:
    objective = run.manifest.objective
    unit = pick(lang, f"（{objective.unit}）", f" ({objective.unit})") if objective and objective.unit else ""
    allocation = run.allocation
    rows = [[pick(lang, "状态", "Status"), run.status],
            [pick(lang, "目标值", "Objective") + unit, number(run.objective)],
            [pick(lang, "资助项目数", "Projects funded"), f"{int(allocation['selected'].sum()):,}"],
            [pick(lang, "资金合计（万元）", "Money allocated (10k yuan)"), money(run.by_source["used"].sum())]]
    met = run.indicators["met"].dropna().astype(bool) if len(run.indicators) else pd.Series(dtype=bool)
    rows.append([pick(lang, "指标达成", "Targets met"), f"{int(met.sum())} / {len(met)}"])
    return Table([pick(lang, "项目", "Figure"), pick(lang, "数值", "Value")], rows)


def by_source(run: Run, lang: str = "zh") -> Table:
    return Table([pick(lang, "资金来源", "Source"), pick(lang, "预算（万元）", "Budget (10k yuan)"), pick(lang, "使用（万元）", "Used (10k yuan)"),
                  pick(lang, "使用比例", "Share used")],
                 [[f"{r.label} [{r.source}]", money(r.budget), money(r.used), f"{float(r.used_share):.1%}"] for r in run.by_source.itertuples()])


def by_type(run: Run, lang: str = "zh") -> Table:
    return Table([pick(lang, "类型", "Type"), pick(lang, "资助数", "Funded"), pick(lang, "候选数", "Candidates"),
                  pick(lang, "金额（万元）", "Money (10k yuan)")],
                 [[f"{r.label} [{r.type}]", f"{int(r.funded):,}", f"{int(r.candidates):,}", money(r.total)] for r in run.by_type.itertuples()])


def by_zone(run: Run, lang: str = "zh") -> Table:
    return Table([pick(lang, "地区", "Zone"), pick(lang, "资助数", "Funded"), pick(lang, "金额（万元）", "Money (10k yuan)")], [[str(r.zone), f"{int(r.funded):,}", money(r.total)] for r in run.by_zone.itertuples()])


def indicators(run: Run, lang: str = "zh") -> Table:
    rows = []
    for r in run.indicators.itertuples():
        state = "" if pd.isna(r.met) else (pick(lang, "达成", "met") if r.met else pick(lang, "未达成", "missed"))
        group = "" if r.scope == "national" else f" ({r.group})"
        rows.append([f"{r.label}{group}", number(r.achieved), number(r.target), state, number(r.shortfall),
                     pick(lang, "是", "yes") if r.hard else pick(lang, "否", "no")])
    return Table([pick(lang, "指标", "Indicator"), pick(lang, "达到", "Achieved"), pick(lang, "目标", "Target"), pick(lang, "结果", "Result"),
                  pick(lang, "差距", "Shortfall"), pick(lang, "硬约束", "Hard")], rows)


def by_province(run: Run, lang: str = "zh") -> Table:
    return Table([pick(lang, "省份", "Province"), pick(lang, "资助数", "Funded"), pick(lang, "金额（万元）", "Money (10k yuan)")], [[str(r.province), f"{int(r.funded):,}", money(r.total)] for r in run.by_province.itertuples()])


@dataclass
class Differences:
    """This run beside the previous one: headline figures, money by province, projects added and dropped."""

    figures: Table
    provinces: Table
    churn: Table


def differences(previous: Run, current: Run, lang: str = "zh") -> Differences:
    """The comparison of `previous` and `current` (allocator.compare), as tables."""
    comparison = _page_comparison(previous, current)
    table = comparison.table()
    delta = f"{DELTA}{AFTER}"
    names = Names(comparison)  # the comparison page's own names and formats: 资助项目数 · 社区服务站, 相对间隙 as %, …
    before_name, after_name = pick(lang, BEFORE, BEFORE_EN), pick(lang, AFTER, AFTER_EN)
    figures = Table([pick(lang, "指标项", "Figure"), before_name, after_name, pick(lang, "差", "Difference")], [])
    for key, row in table.iterrows():
        figure = names.headline(str(key))
        before, after = (status_label(str(row[BEFORE]), lang), status_label(str(row[AFTER]), lang)) if key == "status" else \
            (show(row[BEFORE], figure.kind), show(row[AFTER], figure.kind))
        shown = _figure_en(names, str(key)) if lang == "en" else figure.label
        figures.rows.append([shown, before, after, show(row[delta], figure.kind, delta=True) if figure.kind != TEXT else ""])
    provinces = Table([pick(lang, "省份", "Province"), pick(lang, f"{BEFORE}（万元）", f"{BEFORE_EN} (10k yuan)"),
                       pick(lang, f"{AFTER}（万元）", f"{AFTER_EN} (10k yuan)"), pick(lang, "差（万元）", "Difference (10k yuan)")])
    if len(comparison.by_province):
        totals = comparison.by_province["total"]
        for province, row in totals.iterrows():
            provinces.rows.append([str(province), money(row[BEFORE]), money(row[AFTER]), signed(row.iloc[-1])])
    churn = Table([pick(lang, "范围", "Scope"), pick(lang, "新增项目", "Added"), pick(lang, "取消项目", "Dropped"), pick(lang, "保留项目", "Kept"),
                   pick(lang, "变动资金（万元）", "Money moved (10k yuan)")])
    for (_, level, group), row in comparison.churn.iterrows():
        if level in ("national", "zone"):
            churn.rows.append([str(group), f"{int(row['added']):,}", f"{int(row['dropped']):,}", f"{int(row['kept']):,}", money(row["money_moved"])])
    return Differences(figures, provinces, churn)


def _page_comparison(previous: Run, current: Run) -> Comparison:
    """:func:`allocator.compare.compare_runs` of the two runs without the parts the page does not show (money by zone,
    the list of changed projects): the headline figures, money by province and the churn."""
    runs = {BEFORE: previous, AFTER: current}
    figures = pd.concat([headline(run) for run in runs.values()], axis=1, keys=list(runs), names=[RUN], sort=False)
    by_province = side_by_side({k: r.by_province for k, r in runs.items()}, "province", province_order(runs.values()))
    return Comparison(runs=runs, figures=figures.reindex(list(dict.fromkeys(figures.index))), by_zone=pd.DataFrame(),
                      by_province=by_province, projects=pd.DataFrame(), churn=churn(runs))


def _figure_en(names: Names, key: str) -> str:
    """A headline figure's English name (as :meth:`Names.headline` names it in Chinese; the runs' labels stay as written)."""
    fixed = {"status": "Status", "solver": "Solver", "mip_gap": "Relative gap", "projects_funded": "Projects funded",
             "money_total": "Money allocated (10k yuan)", "targets_met": "Indicator groups met", "targets_missed": "Indicator groups missed"}
    if key in fixed:
        return fixed[key]
    if key == "objective":
        unit = names.comparison.objective_unit
        return f"Objective ({unit})" if unit else "Objective"
    prefix, _, name = key.partition(":")
    indicator, _, group = name.partition("@")
    shown = names.indicators.get(indicator, indicator)
    named = {"used": f"{names.sources.get(name, name)} allocated (10k yuan)", "funded": f"Projects funded · {names.types.get(name, name)}",
             "money": f"Money · {names.types.get(name, name)} (10k yuan)", "target": f"Target · {shown}",
             "achieved": f"Achieved · {shown}" + (f" ({zone_label(group, 'en')})" if group else ""),
             "groups_met": f"Groups met · {shown}", "achieved_mean": f"Achieved (mean of groups) · {shown}"}
    return named.get(prefix, key)


def diagnosis(run: Run) -> tuple[str, list[str]]:
    """A run without an allocation: its diagnosis (diagnosis.md, else the manifest's message) and the suggested fixes."""
    path = run.path / DIAGNOSIS if run.path else None
    text = path.read_text(encoding="utf-8") if path and path.is_file() else (run.manifest.message or run.status)
    fixes = [m.group(1).strip() for line in text.splitlines() if (m := _FIX.search(line))]
    return text, list(dict.fromkeys(fixes))

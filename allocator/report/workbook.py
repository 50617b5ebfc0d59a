"""``budget_proposal.xlsx``: the run as a budget proposal a finance office can open.

Sheets: summary (money by source and zone, projects by type, indicators against targets), by
province, the funded projects grouped by province with subtotals, the indicators, the marginal
values (when computed), the codes behind the names shown (技术信息) and the scenario's parameters.
Money is in 万元 shown as ``#,##0.00``; every total is a value checked here against the sum of its
rows (no formulas, so any reader sees the same numbers). Text that comes from the inputs is written as a string cell and neutralised with the CSV
rule, so a spreadsheet never runs it. Written in openpyxl's write-only mode: ~30,000 funded projects
take seconds (openpyxl is imported by the functions that write).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import numpy as np
import pandas as pd

from allocator.errors import InternalError
from allocator.marginal_table import is_current, ranked
from allocator.report.labels import (display_width, group_name, groups_met_text, label, local_time, scope_label, status_label, unmeasured_text,
                                     yes_no, zone_label)
from allocator.rounding import shares_adding_up
from allocator.runformat.cells import finite_number, is_missing, parse_bool
from allocator.runformat.manifest import Manifest
from allocator.runformat.run import Run, zone_key
from allocator.runformat.tables import neutralise_text
from allocator.scenario import Display, default_display

if TYPE_CHECKING:
    from openpyxl import Workbook

MONEY = "#,##0.00"
COUNT = "#,##0"
FRACTION = "#,##0.00"
SHARE = "0.00%"
#: Places of a share (a fraction) SHARE shows.
SHARE_DECIMALS = 4
VALUE = "#,##0.0000"
#: Totals must equal the sum of their rows to this many 万元 (a tenth of the cent shown).
TOTAL_TOLERANCE = 1e-3
_MAX_WIDTH = 60


class TotalMismatch(InternalError):
    """A total in the workbook is not the sum of its rows (a bug: nothing is written)."""


def safe_text(value: object) -> str:
    """`value` as a text cell: without the control characters a workbook cannot hold (an old run directory
    may have them in a name), and inert as in the CSVs (allocator.runformat.tables.neutralise_text)."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return neutralise_text(ILLEGAL_CHARACTERS_RE.sub("", str(value)))


@dataclass(frozen=True)
class C:
    """One cell: a value and a style name (see ``_styles``)."""

    value: object
    style: str = "text"


Row = Sequence[C]

@lru_cache(maxsize=1)
def _styles() -> dict[str, dict[str, object]]:
    """Each cell style's openpyxl attributes, by style name."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    thin = Side(style="thin", color="999999")
    return {
        "title": {"font": Font(bold=True, size=14)},
        "subtitle": {"font": Font(italic=True, color="555555")},
        "block": {"font": Font(bold=True, size=12)},
        "header": {"font": Font(bold=True), "fill": PatternFill("solid", fgColor="DDEBF7"),
                   "alignment": Alignment(horizontal="center", vertical="center", wrap_text=True), "border": Border(bottom=thin)},
        "text": {},
        "text_bold": {"font": Font(bold=True)},
        "money": {"number_format": MONEY},
        "money_bold": {"number_format": MONEY, "font": Font(bold=True), "border": Border(top=thin)},
        "count": {"number_format": COUNT},
        "count_bold": {"number_format": COUNT, "font": Font(bold=True), "border": Border(top=thin)},
        "fraction": {"number_format": FRACTION},
        "fraction_bold": {"number_format": FRACTION, "font": Font(bold=True), "border": Border(top=thin)},
        "share": {"number_format": SHARE},
        "share_bold": {"number_format": SHARE, "font": Font(bold=True), "border": Border(top=thin)},
        "value": {"number_format": VALUE},
        "total_label": {"font": Font(bold=True), "border": Border(top=thin)},
        "subtotal_label": {"font": Font(bold=True, color="1F4E78"), "border": Border(top=thin)},
        "subtotal_money": {"number_format": MONEY, "font": Font(bold=True, color="1F4E78"), "border": Border(top=thin)},
        "subtotal_count": {"number_format": COUNT, "font": Font(bold=True, color="1F4E78"), "border": Border(top=thin)},
        "subtotal_fraction": {"number_format": FRACTION, "font": Font(bold=True, color="1F4E78"), "border": Border(top=thin)},
    }


@dataclass
class Sheet:
    title: str
    rows: list[Row]
    freeze: str | None = None  # the top-left cell below and right of the frozen panes, e.g. "A5"


def _check_total(what: str, rows: Iterable[float], total: float) -> float:
    expected = math.fsum(rows)
    if abs(expected - total) > TOTAL_TOLERANCE:
        raise TotalMismatch(f"{what}: total {total} is not the sum of its rows {expected}")
    return total


def _total(what: str, values: Iterable[object], decimals: int | None = None) -> float:
    """The sum of `values`; with `decimals` (money), rounded to the run's unit, so that it is the exact decimal sum."""
    numbers = [finite_number(v) or 0.0 for v in values]
    total = math.fsum(numbers)
    return _check_total(what, numbers, total if decimals is None else round(total, decimals) + 0.0)


class _Builder:
    def __init__(self, run: Run, lang: str):
        self.run, self.lang = run, lang
        self.count_style = "count" if run.binary else "fraction"
        self.sources = run.sources
        self.decimals = run.money_decimals

    def money_total(self, what: str, values: Iterable[object]) -> float:
        """A total of money: the exact sum of its rows in the run's unit."""
        return _total(what, values, self.decimals)

    def clean(self, money: float) -> float:
        """A difference of money without its float noise, in the run's unit."""
        return round(money, self.decimals) + 0.0

    def t(self, key: str) -> str:
        return label(key, self.lang)

    def title_rows(self) -> list[Row]:
        run = self.run
        title = run_title(run)
        sep = "；" if self.lang == "zh" else "; "
        colon = "：" if self.lang == "zh" else ": "
        head = f"{self.t('title.proposal')}{colon}{title}"
        created = f"{self.t('report.created')}{colon}{local_time(run.manifest.created)}"
        status = f"{self.t('title.status')}{colon}{status_label(run.status, self.lang)}"
        rows: list[Row] = [[C(f"{head}{sep}{created}{sep}{status}", "title")]]
        rows.append([C(f"{run.description}  ({self.t('title.unit')})" if run.description and run.description != title
                       else self.t("title.unit"), "subtitle")])
        return rows

    def header(self, keys: Sequence[str], extra: Sequence[str] = ()) -> Row:
        return [C(self.t(k), "header") for k in keys] + [C(x, "header") for x in extra]

    # -- sheets --------------------------------------------------------------------------------

    def summary(self) -> Sheet:
        run = self.run
        rows = self.title_rows() + [[]]
        source_labels = [lab for _, lab in self.sources]
        keys = run.source_keys

        rows.append([C(self.t("block.sources"), "block")])
        rows.append(self.header(["col.source", "col.budget", "col.used", "col.left", "col.used_share"]))
        by_source = run.by_source
        allocation = run.allocation
        used = [self.money_total(f"used: {k}", allocation[k]) for k in keys]
        for k, spent, shown in zip(keys, used, by_source["used"] if "used" in by_source else used):
            _check_total(f"used: {k} in by_source", [spent], finite_number(shown) or 0.0)
        budgets = [finite_number(b) or 0.0 for b in by_source["budget"]]
        for (_, lab), budget, spent in zip(self.sources, budgets, used):
            rows.append([C(lab), C(budget, "money"), C(spent, "money"), C(self.clean(budget - spent), "money"),
                         C(spent / budget if budget else None, "share")])
        total_budget, total_used = self.money_total("budget", budgets), self.money_total("used", used)
        rows.append([C(self.t("row.total"), "total_label"), C(total_budget, "money_bold"),
                     C(total_used, "money_bold"), C(self.clean(total_budget - total_used), "money_bold"),
                     C(total_used / total_budget if total_budget else None, "share_bold")])
        rows.append([])

        rows.append([C(self.t("block.zones"), "block")])
        rows.append(self.header(["col.zone", "col.funded"], [*source_labels, self.t("col.total")]))
        zones = run.money_by("zone", run.zone_order)
        rows += self._money_rows(zones, lambda z: zone_label(z, self.lang), "zone")
        rows.append([])

        rows.append([C(self.t("block.types"), "block")])
        rows.append(self.header(["col.type", "col.candidates", "col.funded"], [*source_labels, self.t("col.total")]))
        types = run.money_by("type", [k for k, _ in run.types])
        candidates = allocation.groupby(allocation["type"].astype(str)).size()
        type_labels = dict(run.types)
        for key, row in types.iterrows():
            rows.append([C(type_labels.get(key, key)), C(int(candidates.get(key, 0)), "count"), C(row["funded"], self.count_style),
                         *[C(row[k], "money") for k in keys], C(row["total"], "money")])
        rows.append([C(self.t("row.total"), "total_label"),
                     C(_total("candidates", [candidates.get(k, 0) for k in types.index]), "count_bold"),
                     *self._total_cells(types, "type")])
        rows.append([])
        rows += self._benefit_rows(types)

        rows += self._indicator_rows()
        return Sheet(self.t("sheet.summary"), rows, freeze="A3")

    def _indicator_rows(self) -> list[Row]:
        """Each indicator against its target (percent indicators as percentages), then the groups not counted, named."""
        rows: list[Row] = [[C(self.t("block.indicators"), "block")],
                           self.header(["col.indicator", "col.scope", "col.baseline", "col.achieved", "col.target", "col.met",
                                        "col.shortfall"])]
        items = summarise_indicators(self.run.indicators)
        displays = indicator_displays(self.run.manifest)
        for item in items:
            style = value_style(displays.get(item.indicator, "number"))
            scope = scope_label(item.scope, self.lang)
            if item.groups == 1:
                rows.append([C(item.label), C(scope), C(item.baseline, style), C(item.achieved, style), C(item.target, style),
                             C(met_label(item.met, self.lang)), C(item.shortfall, style)])
            else:
                rows.append([C(item.label), C(scope), C(None), C(None), C(item.target, style), C(groups_met_text(item, self.lang)),
                             C(item.shortfall, style)])
        regions = self.run.region_names
        notes = [unmeasured_text(item, partial(group_name, regions, item.scope, lang=self.lang), self.lang) for item in items]
        rows += [[C(note, "subtitle")] for note in notes if note]
        return rows

    def _benefit_rows(self, types: pd.DataFrame) -> list[Row]:
        """max_benefit: each type's funded projects, benefit (in the objective's unit) and share of the total benefit."""
        shares = benefit_shares(self.run.manifest)
        if not shares:
            return []
        objective = self.run.manifest.objective
        unit = f" ({objective.unit})" if objective and objective.unit else ""
        type_labels = dict(self.run.types)
        rows: list[Row] = [[C(self.t("report.benefit"), "block")],
                           self.header(["col.type", "col.funded"], [self.t("col.benefit") + unit, self.t("col.benefit_share")])]
        for key, value, share in shares:
            rows.append([C(type_labels.get(key, key)), C(types["funded"].get(key, 0.0), self.count_style), C(value, "value"),
                         C(share, "share")])
        rows.append([])
        return rows

    def _money_rows(self, table: pd.DataFrame, name: Callable[[str], str], what: str) -> list[Row]:
        rows: list[Row] = []
        for key, row in table.iterrows():
            rows.append([C(name(key)), C(row["funded"], self.count_style), *[C(row[k], "money") for k in self.run.source_keys],
                         C(row["total"], "money")])
        rows.append([C(self.t("row.total"), "total_label"), *self._total_cells(table, what)])
        return rows

    def _total_cells(self, table: pd.DataFrame, what: str) -> list[C]:
        count_bold = "count_bold" if self.run.binary else "fraction_bold"
        cells = [C(_total(f"{what}: funded", table["funded"]), count_bold)]
        cells += [C(self.money_total(f"{what}: {k}", table[k]), "money_bold") for k in self.run.source_keys]
        total = self.money_total(f"{what}: total", table["total"])
        _check_total(f"{what}: sources add up to the total", [c.value for c in cells[1:]], total)  # type: ignore[misc]
        return [*cells, C(total, "money_bold")]

    def provinces(self) -> Sheet:
        run, keys = self.run, self.run.source_keys
        allocation = run.allocation
        order = run.province_order
        table = run.money_by("province", order)
        zones = allocation.groupby(allocation["province"].astype(str))["zone"].agg(
            lambda z: "/".join(zone_label(x, self.lang) for x in sorted(set(map(str, z)), key=zone_key)))
        types = run.types
        funded = run.funded
        counts = (funded.assign(n=funded["selected"].astype(float)).pivot_table(index="province", columns="type", values="n", aggfunc="sum")
                  if len(funded) else pd.DataFrame())
        counts = counts.reindex(index=order, columns=[k for k, _ in types]).fillna(0.0)
        type_headers = [f"{lab}（个）" if self.lang == "zh" else f"{lab} (projects)" for _, lab in types]
        rows = self.title_rows() + [self.header(["col.province", "col.zone", "col.funded"],
                                                [*[lab for _, lab in self.sources], self.t("col.total"), self.t("col.share"), *type_headers])]
        shares = shares_adding_up(table["total"].to_numpy(), SHARE_DECIMALS)
        for (province, row), share in zip(table.iterrows(), shares):
            rows.append([C(province), C(zones.get(province, "")), C(row["funded"], self.count_style),
                         *[C(row[k], "money") for k in keys], C(row["total"], "money"), C(share, "share"),
                         *[C(counts.at[province, k], self.count_style) for k, _ in types]])
        bold = "count_bold" if run.binary else "fraction_bold"
        totals = self._total_cells(table, "province")
        rows.append([C(self.t("row.total"), "total_label"), C(None, "total_label"), *totals,
                     C(_total("province: share", shares, SHARE_DECIMALS), "share_bold"),
                     *[C(_total(f"province: {k}", counts[k]), bold) for k, _ in types]])
        return Sheet(self.t("sheet.provinces"), rows, freeze="B4")

    def projects(self) -> Sheet:
        """Funded projects grouped by province with subtotals; one row per county above MAX_PROJECT_ROWS."""
        run, keys = self.run, self.run.source_keys
        funded = run.funded
        note = None
        if len(funded) > MAX_PROJECT_ROWS:
            note = self.t("note.by_region").format(count=len(funded), limit=MAX_PROJECT_ROWS)
            funded = self._per_region(funded, keys)
        order = {p: i for i, p in enumerate(run.province_order)}
        funded = funded.assign(_order=funded["province"].astype(str).map(order)).sort_values(["_order"], kind="stable")
        names = "name" in funded
        regions = run.region_names
        type_labels = dict(run.types)
        years = "start_year" in funded
        columns = ["col.project_id", *(["col.name"] if names else []), "col.province", "col.region_id", "col.region",
                   "col.zone", "col.type", *(["col.start_year"] if years else []), "col.cost", *([] if run.binary else ["col.selected"])]
        header = self.header(columns, [*[lab for _, lab in self.sources], self.t("col.total")])
        rows = self.title_rows() + ([[C(note, "subtitle")]] if note else []) + [header]
        label_span = columns.index("col.cost")  # cells before the cost column
        money_columns = ["cost", *keys, "total"]
        grand: dict[str, list[float]] = {c: [] for c in money_columns}
        grand_count: list[float] = []
        for _order, group in funded.groupby("_order", sort=True):
            province_name = str(group["province"].iloc[0])
            values = {c: group[c].astype(float).to_numpy() for c in money_columns}
            ids = group["project_id"].astype(str).to_numpy()
            project_names = group["name"].to_numpy() if names else None
            region_ids = group["region_id"].astype(str).to_numpy()
            zones = group["zone"].astype(str).to_numpy()
            kinds = group["type"].astype(str).to_numpy()
            selected = group["selected"].astype(float).to_numpy()
            starts = group["start_year"].to_numpy() if years else None
            for i in range(len(group)):
                row = [C(ids[i])]
                if project_names is not None:
                    row.append(C("" if is_missing(project_names[i]) else project_names[i]))
                row += [C(province_name), C(region_ids[i]), C(regions.get(region_ids[i], "")), C(zone_label(zones[i], self.lang)),
                        C(type_labels.get(kinds[i], kinds[i]))]
                if starts is not None:
                    row.append(C(None if is_missing(starts[i]) else int(starts[i]), "text"))
                row.append(C(values["cost"][i], "money"))
                if not run.binary:
                    row.append(C(selected[i], "share"))
                row += [C(values[k][i], "money") for k in keys] + [C(values["total"][i], "money")]
                rows.append(row)
            count = float(selected.sum())
            subtotal_label = (f"{self.t('row.subtotal')}：{province_name}（{count:,.0f} 个项目）" if self.lang == "zh"
                              else f"{self.t('row.subtotal')}: {province_name} ({count:,.0f} projects)")
            sums = {c: self.money_total(f"{province_name}: {c}", values[c]) for c in money_columns}
            _check_total(f"{province_name}: sources add up to the total", [sums[k] for k in keys], sums["total"])
            rows.append([C(subtotal_label, "subtotal_label"), *[C(None, "subtotal_label")] * (label_span - 1),
                         C(sums["cost"], "subtotal_money"), *([] if run.binary else [C(None, "subtotal_label")]),
                         *[C(sums[c], "subtotal_money") for c in [*keys, "total"]]])
            for c in money_columns:
                grand[c].append(sums[c])
            grand_count.append(count)
        count = math.fsum(grand_count)
        total_label = (f"{self.t('row.total')}（{count:,.0f} 个项目）" if self.lang == "zh" else f"{self.t('row.total')} ({count:,.0f} projects)")
        rows.append([C(total_label, "total_label"), *[C(None, "total_label")] * (label_span - 1),
                     C(_check_total("cost", grand["cost"], self.money_total("cost", funded["cost"])), "money_bold"),
                     *([] if run.binary else [C(None, "total_label")]),
                     *[C(_check_total(c, grand[c], self.money_total(c, funded[c])), "money_bold") for c in [*keys, "total"]]])
        return Sheet(self.t("sheet.projects"), rows, freeze="C4")

    def _per_region(self, funded: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        """The funded projects summed per county, in the project list's columns (type and start year left blank)."""
        sums = funded.groupby("region_id", sort=False).agg(
            province=("province", "first"), zone=("zone", "first"), count=("project_id", "size"),
            **{c: (c, "sum") for c in ["cost", "selected", *keys, "total"]})
        sums = sums.reset_index()
        sums["project_id"] = sums["region_id"].astype(str)
        sums["name"] = [self.t("note.projects_in_region").format(count=n) for n in sums["count"]]
        sums["type"] = ""
        return sums.drop(columns="count")

    def _indicator_column(self, column: str) -> str:
        """A by_year.csv indicator column (``code`` or ``code[group]``) by the indicator's label, as the 指标 sheet names it."""
        code, _, group = column.partition("[")
        indicators = self.run.indicators
        labels = dict(zip(indicators["indicator"], indicators["label"])) if indicators is not None and "label" in indicators else {}
        name = str(labels.get(code) or code)
        return f"{name}（{group[:-1]}）" if group else name

    def years(self) -> Sheet | None:
        """Five-year phasing (by_year.csv, when the scenario has [phasing]): money and projects per year."""
        frame = self.run.by_year
        if frame is None or not len(frame):
            return None
        keys = [k for k in self.run.source_keys if k in frame]
        known = {"year", *keys, "total", "projects_started", "projects_completed"}
        indicators = [c for c in frame.columns if c not in known]
        rows = self.title_rows() + [self.header(["col.year"], [*[lab for k, lab in self.sources if k in keys], self.t("col.total"),
                                                              self.t("col.projects_started"), self.t("col.projects_completed"),
                                                              *[self._indicator_column(c) for c in indicators]])]
        displays = indicator_displays(self.run.manifest)
        styles = [value_style(displays.get(c.partition("[")[0], "number")) for c in indicators]
        for r in frame.to_dict("records"):
            rows.append([C(r["year"]), *[C(r[k], "money") for k in keys], C(r.get("total"), "money"),
                         C(r.get("projects_started"), self.count_style), C(r.get("projects_completed"), self.count_style),
                         *[C(r[c], style) for c, style in zip(indicators, styles)]])
        cells = [C(self.money_total(f"by year: {k}", frame[k]), "money_bold") for k in keys]
        total = self.money_total("by year: total", frame["total"]) if "total" in frame else None
        if total is not None and keys:
            _check_total("by year: sources add up to the total", [c.value for c in cells], total)  # type: ignore[misc]
        bold = "count_bold" if self.run.binary else "fraction_bold"
        rows.append([C(self.t("row.total"), "total_label"), *cells, C(total, "money_bold"),
                     C(_total("by year: started", frame["projects_started"]) if "projects_started" in frame else None, bold)])
        return Sheet(self.t("sheet.years"), rows, freeze="B4")

    def indicators(self) -> Sheet:
        """Every group of every indicator; percent indicators as percentages; a group without a denominator has no value."""
        frame = self.run.indicators
        displays, regions = indicator_displays(self.run.manifest), self.run.region_names
        rows = self.title_rows() + [self.header(["col.indicator", "col.scope", "col.group", "col.baseline",
                                                 "col.achieved", "col.target", "col.met", "col.shortfall", "col.hard"])]
        for r in frame.itertuples():
            style = value_style(displays.get(str(r.indicator), "number"))
            rows.append([C(r.label if isinstance(r.label, str) and r.label else r.indicator), C(scope_label(r.scope, self.lang)),
                         C(group_name(regions, str(r.scope), str(r.group), self.lang)), C(r.baseline, style), C(r.achieved, style),
                         C(r.target, style), C(yes_no(r.met, self.lang)), C(r.shortfall, style), C(yes_no(r.hard, self.lang))])
        return Sheet(self.t("sheet.indicators"), rows, freeze="B4")

    def marginal(self) -> Sheet | None:
        frame = self.run.marginal
        if not is_current(frame):
            return None  # none computed, or an older run's narrower table (the report says so)
        assert frame is not None
        rows = self.title_rows() + [self.header(["col.rule", "col.group", "col.unit", "col.limit", "col.reached", "col.shortfall",
                                                 "col.used_up", "col.binding", "col.marginal_value", "col.per", "col.step", "col.gain",
                                                 "col.method", "col.fix", "col.key", "col.lp_dual", "col.technical_method"])]
        for r in ranked(frame, self.run.manifest.sense).itertuples():
            rows.append([C(r.label if self.lang == "zh" else r.rule), C(r.group), C(r.unit), C(r.limit, "value"), C(r.used, "value"),
                         C(r.shortfall, "value"), C(yes_no(r.used_up, self.lang)), C(yes_no(r.binding, self.lang)),
                         C(r.marginal_value, "value"), C(r.per), C(r.step, "value"), C(r.gain, "value"),
                         C(r.method if self.lang == "zh" else r.technical_method), C(r.fix), C(r.key), C(r.lp_dual, "value"),
                         C(r.technical_method)])
        return Sheet(self.t("sheet.marginal"), rows, freeze="B4")

    def equity(self) -> Sheet | None:
        """Gini and Theil of money per resident per basis, money per resident per province, and the zone gaps."""
        if self.run.equity is None:
            return None
        spread, provinces, gaps = equity_views(self.run.equity, *equity_names(self.run, self.lang))
        bases = [row[0] for row in spread]
        rows = self.title_rows() + [self.header(["col.basis", "col.gini", "col.theil", "col.theil_between", "col.theil_within"])]
        rows += [[C(row[0]), *(C(v, "value") for v in row[1:])] for row in spread]
        rows += [[], self.header(["col.province"], [f"{b}（元/人）" if self.lang == "zh" else f"{b} (yuan per resident)" for b in bases])]
        rows += [[C(row[0]), *(C(v, "money") for v in row[1:])] for row in provinces]
        if gaps:
            rows += [[], self.header(["col.indicator", "col.gap_before", "col.gap_after"])]
            displays = indicator_displays(self.run.manifest)
            rows += [[C(name), C(before, value_style(displays.get(str(key), "number"))), C(after, value_style(displays.get(str(key), "number")))]
                     for key, name, before, after in gaps]
        return Sheet(self.t("sheet.equity"), rows, freeze="B4")

    def broken_rules(self) -> Sheet | None:
        """The scenario rules a formula allocation breaks (None for a solved run)."""
        broken = broken_rules(self.run.manifest)
        if broken is None:
            return None
        text = self.t("report.broken_rules_text").format(count=len(broken)) if broken else self.t("report.no_broken_rules")
        rows = self.title_rows() + [[C(text)], self.header(["col.rule"])]
        rows.extend([C(rule)] for rule in broken)
        return Sheet(self.t("sheet.broken_rules"), rows, freeze="A5")

    def technical(self) -> Sheet:
        """The codes behind the names the other sheets show (scenario, sources, types, zones, indicators)."""
        run = self.run
        codes = [("kind.scenario", run.name, run_title(run)), *[("kind.source", k, lab) for k, lab in self.sources],
                 *[("kind.type", k, lab) for k, lab in run.types], *[("kind.zone", z, zone_label(z, self.lang)) for z in run.zone_order],
                 *[("kind.indicator", i.indicator, i.label) for i in summarise_indicators(run.indicators)]]
        rows = self.title_rows() + [[C(self.t("block.codes"), "block")], self.header(["col.kind", "col.code", "col.label"])]
        rows += [[C(self.t(kind)), C(code), C(name)] for kind, code, name in codes]
        return Sheet(self.t("sheet.technical"), rows, freeze="A5")

    def parameters(self) -> Sheet:
        rows = self.title_rows() + [self.header(["col.key", "col.value"])]
        rows.append([C(self.t("param.run"), "block")])
        for key, value in run_facts(self.run.manifest):
            rows.append([C(key), _value_cell(value)])
        rows.append([])
        rows.append([C(self.t("param.scenario"), "block")])
        for key, value in flatten(self.run.manifest.scenario.resolved):
            rows.append([C(key), _value_cell(value)])
        return Sheet(self.t("sheet.parameters"), rows, freeze="A4")


def _value_cell(value: object) -> C:
    if isinstance(value, bool):
        return C("true" if value else "false")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return C(value, "text")
    return C(value)


def flatten(value: object, prefix: str = "") -> list[tuple[str, object]]:
    """A nested mapping as (dotted key, scalar) pairs; lists become their TOML-like text."""
    if isinstance(value, dict):
        pairs: list[tuple[str, object]] = []
        for key, item in value.items():
            pairs += flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return pairs
    if isinstance(value, (list, tuple)):
        if all(not isinstance(v, (dict, list, tuple)) for v in value):
            return [(prefix, "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in value) + "]")]
        pairs = []
        for i, item in enumerate(value):
            pairs += flatten(item, f"{prefix}[{i}]")
        return pairs
    return [(prefix, value)]


def broken_rules(manifest: Manifest) -> list[str] | None:
    """The scenario rules a formula allocation (``allocate baseline``) breaks, as the manifest records them; None for
    a run that is not a formula allocation."""
    if manifest.status not in ("formula", "cascade") or manifest.solver is None:
        return None
    return [str(rule) for rule in manifest.solver.details.get("unmet_rules") or []]


def provinces_without_allocation(manifest: Manifest) -> list[tuple[str, str, str]]:
    """The provinces of a two-stage allocation (``allocate cascade``) whose solve found no allocation, as the manifest
    records them: province, status and why (none for any other run)."""
    if manifest.status != "cascade" or manifest.solver is None:
        return []
    return [(str(item["province"]), str(item["status"]), str(item["why"])) for item in manifest.solver.details.get("no_allocation") or []]


def run_facts(manifest: Manifest) -> list[tuple[str, object]]:
    """The manifest's facts about the run itself (everything but the resolved scenario), flattened."""
    content = manifest.to_json()
    scenario = {k: v for k, v in content.pop("scenario").items() if k != "resolved"}
    return flatten(scenario, "scenario") + flatten(content)


def objective_text(manifest: Manifest) -> str:
    """The objective with its unit ([objective] unit; none in runs written before it was recorded)."""
    objective = manifest.objective
    if objective is None or objective.value is None:
        return ""
    return f"{objective.value:,.2f} {objective.unit or ''}".rstrip()


def benefit_shares(manifest: Manifest, decimals: int = SHARE_DECIMALS) -> list[tuple[str, float, float]]:
    """(type, benefit, share of the total benefit before target penalties) per type with benefit, for max_benefit; the
    shares to `decimals` places, adding up to 1 as printed (allocator.rounding.shares_adding_up)."""
    by_type = manifest.objective.by_type if manifest.objective else None
    total = sum(by_type.values()) if by_type else 0.0
    if not by_type or total <= 0:
        return []
    benefit = {key: value for key, value in by_type.items() if value}
    return list(zip(benefit, benefit.values(), shares_adding_up(np.array(list(benefit.values())), decimals)))


@dataclass(frozen=True)
class IndicatorSummary:
    """One indicator of an indicators table (``Result.indicators``, or indicators.csv read back), summed up once for the
    terminal, the workbook and the report: a group is measured when it has a denominator, and only measured groups count."""

    indicator: str
    label: str
    scope: str
    target: float | None
    groups_met: int
    measured: int  # groups with a denominator, so with a value to hold against the target
    unmeasured: tuple[str, ...]  # the groups without a denominator: no value, not counted
    baseline: float | None  # the first group's (the only one of a national indicator)
    achieved: float | None
    shortfall: float | None  # the largest over the measured groups

    @property
    def groups(self) -> int:
        return self.measured + len(self.unmeasured)

    @property
    def met(self) -> bool | None:
        """Whether every measured group meets the target (None when no group is measured)."""
        return self.groups_met == self.measured if self.measured else None


def summarise_indicators(frame: pd.DataFrame) -> list[IndicatorSummary]:
    """Each indicator of an indicators table, in the table's order."""
    items = []
    for name, rows in frame.groupby("indicator", sort=False):
        first = rows.iloc[0]
        met = [parse_bool(m) for m in rows["met"]]
        shortfall = pd.to_numeric(rows["shortfall"], errors="coerce")
        shown = first["label"] if isinstance(first["label"], str) and first["label"] else str(name)
        items.append(IndicatorSummary(
            indicator=str(name), label=shown, scope=str(first["scope"]), target=finite_number(first["target"]),
            groups_met=sum(m is True for m in met), measured=sum(m is not None for m in met),
            unmeasured=tuple(str(g) for g, m in zip(rows["group"], met) if m is None),
            baseline=finite_number(first["baseline"]), achieved=finite_number(first["achieved"]),
            shortfall=float(shortfall.max()) if shortfall.notna().any() else None))
    return items


#: A scenario name that is an identifier (as a file name is), not a title a reader would use.
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.\-]+")


def run_title(run: Run) -> str:
    """The scenario as its reader names it: its name, unless that is a bare identifier (eleventh_plan_national, the
    file name by default); then its description, when it has one."""
    return run.description if _IDENTIFIER.fullmatch(run.name) and run.description else run.name


def indicator_displays(manifest: Manifest) -> dict[str, Display]:
    """Each indicator's display, percent or number: as the resolved scenario says (``display``), else default_display."""
    targets = manifest.scenario.resolved.get("targets")
    specs = targets.get("indicators") if isinstance(targets, Mapping) else None
    displays: dict[str, Display] = {}
    for name, spec in (specs or {}).items():
        if isinstance(spec, Mapping):
            target, scale = finite_number(spec.get("target")), finite_number(spec.get("scale", 1.0))
            given = [d for d in get_args(Display) if d == spec.get("display")]
            displays[str(name)] = given[0] if given else default_display(target or 0.0, 1.0 if scale is None else scale)
    return displays


def value_style(display: str) -> str:
    """The cell style of an indicator's values: a percentage (0.00%) or a number."""
    return "share" if display == "percent" else "value"


def met_label(met: bool | None, lang: str) -> str:
    """达标, 未达标, or 无数据 for a group without a value."""
    return label("na", lang) if met is None else label("met" if met else "missed", lang)


# -- writing -----------------------------------------------------------------------------------


def _templates(workbook: Workbook, sheet: object) -> dict[str, object]:
    from openpyxl.cell import WriteOnlyCell

    styles = {}
    for name, spec in _styles().items():
        cell = WriteOnlyCell(sheet)
        for attribute, value in spec.items():
            setattr(cell, attribute, value)
        styles[name] = cell._style
    return styles


def _cell_text_width(cell: C) -> int:
    value = cell.value
    if value is None:
        return 0
    if isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(value, bool):
        number = float(value)
        if not math.isfinite(number):
            return 0
        if cell.style.startswith("share"):
            return len(f"{number:.2%}")
        if cell.style.startswith("value"):
            return len(f"{number:,.4f}")
        return len(f"{number:,.2f}") + 1
    return display_width(value)


#: Column widths are measured on at most this many rows (plus every total row) of a long sheet.
WIDTH_SAMPLE = 5_000


def _widths(rows: list[Row]) -> dict[int, int]:
    widths: dict[int, int] = {}
    if len(rows) > WIDTH_SAMPLE:
        step = len(rows) // WIDTH_SAMPLE + 1
        rows = [row for i, row in enumerate(rows) if i < 10 or i % step == 0 or (row and row[0].style.endswith("label"))]
    for row in rows:
        if len(row) == 1 and row[0].style in ("title", "subtitle", "block"):
            continue  # long titles overflow into empty neighbours; they must not widen column A
        for i, cell in enumerate(row):
            width = _cell_text_width(cell)
            if cell.style == "header":
                width = min(width, 24)  # headers wrap
            if width > widths.get(i, 0):
                widths[i] = width
    return widths


def _write_sheet(workbook: Workbook, sheet: Sheet) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    ws = workbook.create_sheet(sheet.title)
    styles = _templates(workbook, ws)
    for i, width in _widths(sheet.rows).items():
        ws.column_dimensions[get_column_letter(i + 1)].width = min(max(width + 2, 8), _MAX_WIDTH)
    if sheet.freeze:
        ws.freeze_panes = sheet.freeze
    for row in sheet.rows:
        cells = []
        for cell in row:
            value = cell.value
            if isinstance(value, (np.floating, np.integer)):
                value = value.item()
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            if value is pd.NA:
                value = None
            if isinstance(value, str):
                out = WriteOnlyCell(ws, safe_text(value))
                out.data_type = "s"  # never a formula, whatever the text
            elif value is None or isinstance(value, (int, float)):
                out = WriteOnlyCell(ws, value)
            else:
                out = WriteOnlyCell(ws, safe_text(value))
                out.data_type = "s"
            out._style = styles[cell.style]  # shared: write-only cells are serialised at once and never restyled
            cells.append(out)
        ws.append(cells)


#: Above this many funded projects the project sheet lists counties, not projects (allocation.csv has them all):
#: a spreadsheet of hundreds of thousands of rows is no budget proposal, and costs minutes to write.
MAX_PROJECT_ROWS = 10_000


def build_sheets(run: Run, lang: str = "zh") -> list[Sheet]:
    builder = _Builder(run, lang)
    sheets = [builder.summary(), builder.provinces(), builder.projects()]
    years = builder.years()
    if years is not None:
        sheets.append(years)
    sheets.append(builder.indicators())
    marginal = builder.marginal()
    if marginal is not None:
        sheets.append(marginal)
    equity = builder.equity()
    if equity is not None:
        sheets.append(equity)
    broken = builder.broken_rules()
    if broken is not None:
        sheets.append(broken)
    sheets += [builder.technical(), builder.parameters()]
    return sheets


def write_workbook(run: Run, path: Path, lang: str = "zh") -> Path:
    """Write the budget-proposal workbook to `path` (every total is checked against its rows first)."""
    from openpyxl import Workbook

    label("sheet.summary", lang)  # refuse an unknown language before doing any work
    sheets = build_sheets(run, lang)
    workbook = Workbook(write_only=True)
    for sheet in sheets:
        _write_sheet(workbook, sheet)
    path = Path(path)
    workbook.save(path)
    return path


def write_sheets(sheets: Sequence[Sheet], path: Path) -> Path:
    """Write `sheets` (cells styled by name, see ``_styles``) as a workbook at `path`; used by other workbooks too."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for sheet in sheets:
        _write_sheet(workbook, sheet)
    workbook.save(Path(path))
    return Path(path)


def equity_names(run: Run, lang: str) -> tuple[dict[str, str], dict[str, str]]:
    """How the equity table's bases (all money, each source) and indicators are named in `lang` (codes in English)."""
    bases = {"all": label("basis.all", lang), **(dict(run.sources) if lang == "zh" else {})}
    indicators = {str(r.indicator): str(r.label) for r in run.indicators.itertuples() if isinstance(r.label, str) and r.label} \
        if lang == "zh" else {}
    return bases, indicators


def equity_views(table: pd.DataFrame, basis_names: dict[str, str],
                 indicator_names: dict[str, str]) -> tuple[list[list[object]], list[list[object]], list[list[object]]]:
    """The equity table as three small tables a reader wants: per basis its Gini, Theil and Theil's two parts; per
    province its money per resident on each basis; per indicator (key, name) its gap between zones before and after the plan.
    Bases and indicators are named by `basis_names` / `indicator_names` (codes when absent)."""
    value = pd.to_numeric(table["value"], errors="coerce")
    table = table.assign(value=value, group=table["group"].fillna("").astype(str))
    overall = table[table["group"] == ""]
    bases = [b for b in pd.unique(table.loc[table["measure"] == "gini", "basis"])]
    measures = overall.set_index(["measure", "basis"])["value"]
    spread = [[basis_names.get(b, b), *(float(measures.get((m, b), np.nan)) for m in ("gini", "theil", "theil_between_zones", "theil_within_zones"))]
              for b in bases]
    per = table[table["measure"] == "money_per_resident"].pivot_table(index="group", columns="basis", values="value", sort=False)
    provinces = [[province, *(float(per.loc[province, b]) for b in bases)] for province in per.index]
    gaps = overall[overall["measure"].isin(["zone_gap_before", "zone_gap_after"])].pivot_table(index="basis", columns="measure", values="value", sort=False)
    zone_gaps = [[str(i), indicator_names.get(i, i), float(gaps.loc[i, "zone_gap_before"]), float(gaps.loc[i, "zone_gap_after"])] for i in gaps.index]
    return spread, provinces, zone_gaps


def lorenz_points(table: pd.DataFrame) -> dict[str, tuple[list[float], list[float]]]:
    """Per basis, the Lorenz curve of money per resident over provinces: cumulative shares of residents and of money,
    provinces sorted by money per resident (poorest first), starting at (0, 0); residents from the table's own rows."""
    table = table.assign(value=pd.to_numeric(table["value"], errors="coerce"))
    population = table[table["measure"] == "residents"].set_index("group")["value"]
    per = table[table["measure"] == "money_per_resident"]
    curves = {}
    for basis, rows in per.groupby("basis", sort=False):
        rows = rows.sort_values("value", kind="stable")
        residents = population.reindex(rows["group"]).to_numpy(dtype=float)
        money = rows["value"].to_numpy(dtype=float) * residents
        if not residents.sum() > 0 or not money.sum() > 0:
            continue
        curves[str(basis)] = ([0.0, *np.cumsum(residents) / residents.sum()], [0.0, *np.cumsum(money) / money.sum()])
    return curves

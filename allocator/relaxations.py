"""Every rule of a solved plan as a change a planner could make: relax a hard rule by one stated step, or close a
soft target's shortfall. Each :class:`Relaxation` says which row of the model it moves, by how much, how to read the
row's dual per unit of the step, and how to make the same change in the scenario (``--set``, or the table cell).

:mod:`allocator.marginal` prices them; :mod:`allocator.explain` words them for the planner.

Steps (one unit of each rule):

- money (budgets, minimum spends, capacities): 1亿 or 10% of the limit, whichever is smaller, at least 1万元;
- counts and the minimum per region: one project;
- a hard indicator target: 1% of the target (0.01 when the target is 0);
- a share of money: one percentage point;
- a soft target: its whole shortfall (the change is "meet it in every group").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import scipy.sparse as sp

from allocator.model import BuiltModel
from allocator.model.arrays import ColumnKind, LinearModel, RowKind

from allocator.scenario import ALL_SOURCES, CountTarget, PerResidentRule, Scenario, ShareRule

#: The money step: 1亿 or 10% of the limit, whichever is smaller, never below 1万元.
MAX_MONEY_STEP_WAN = 10_000.0
MIN_MONEY_STEP_WAN = 1.0
MONEY_STEP_SHARE = 0.1
#: A hard indicator target is relaxed by this share of itself.
INDICATOR_STEP_SHARE = 0.01
#: A share rule is relaxed by one percentage point.
SHARE_STEP = 0.01
#: Counts (and indicators, shares) are used up when within this of their limit; money within half its precision.
TIGHT_TOLERANCE = 1e-6

#: How a relaxation changes the model: raise a row's upper bound, lower its lower bound, move a share's bound (in every
#: coefficient of its row), or forbid a soft target's shortfall.
Change = Literal["raise_upper", "lower_lower", "share", "close"]


@dataclass(frozen=True)
class Relaxation:
    """One rule (one row of it, for a rule with a row per province, region, zone or year) and the step that changes it.

    ``dual_scale`` turns the row's dual (of the minimised model) times the objective sign into the change of the
    scenario's objective per unit of the step; ``columns``/``coefficients`` are the share row's money terms (a share's
    bound sits in every coefficient of its row) or a soft target's shortfall columns.
    """

    kind: RowKind
    name: str
    group: str
    row: int
    change: Change
    limit: float
    used: float
    step: float
    unit: str
    per: str
    rule: str
    label: str
    key: str
    fix: str
    tight: bool
    dual_scale: float = 1.0
    row_scale: float = 1.0  # row units per unit of `step` (residents / 10,000 for a rule in 元 per resident)
    shortfall: float = float("nan")
    columns: np.ndarray | None = None
    coefficients: np.ndarray | None = None

    @property
    def soft(self) -> bool:
        return self.change == "close"

    def apply(self, model: LinearModel) -> LinearModel:
        """`model` with this rule relaxed by its step (or, for a soft target, its shortfall forbidden)."""
        match self.change:
            case "raise_upper":
                upper = model.row_upper.copy()
                upper[self.row] += self.step * self.row_scale
                return replace(model, row_upper=upper)
            case "lower_lower":
                lower = model.row_lower.copy()
                lower[self.row] -= self.step * self.row_scale
                return replace(model, row_lower=lower)
            case "share":
                assert self.columns is not None and self.coefficients is not None, self.name
                rows = np.full(len(self.columns), self.row)
                delta = sp.csr_matrix((self.coefficients, (rows, self.columns)), shape=model.A.shape)
                return replace(model, A=sp.csr_matrix(model.A + delta))
            case "close":
                assert self.columns is not None, self.name
                col_upper = model.col_upper.copy()
                col_upper[self.columns] = 0.0
                return replace(model, col_upper=col_upper)
        raise AssertionError(self.change)


#: The rows of rules a planner sets; per-project and per-class rows (funding rules, status, keep) are not among them.
RULE_ROWS = (RowKind.BUDGET, RowKind.MIN_SPEND, RowKind.CAPACITY, RowKind.COUNT, RowKind.MIN_PER_REGION, RowKind.INDICATOR,
             RowKind.SHARE_MIN, RowKind.SHARE_MAX, RowKind.PER_RESIDENT_MIN, RowKind.PER_RESIDENT_MAX, RowKind.ZONE_GAP)


def relaxations(built: BuiltModel, values: np.ndarray, money_tolerance: float) -> list[Relaxation]:
    """Every hard rule of `built` (one per row of it, two for a count with both a minimum and a maximum), then every
    soft target with a shortfall, at the plan `values`, in the model's order.

    A money rule is used up when within `money_tolerance` (万元) of its limit, any other within TIGHT_TOLERANCE."""
    reader = _Reader(built, values, money_tolerance)
    return reader.hard_rules() + reader.soft_targets()


class _Reader:
    """Reads the relaxations off a built model and a plan (one method per kind of rule)."""

    def __init__(self, built: BuiltModel, values: np.ndarray, money_tolerance: float):
        self.built, self.values, self.money_tolerance = built, values, money_tolerance
        self.model = built.linear
        self.scenario: Scenario = built.rules.scenario
        self.activity = self.model.A @ values
        regions = built.rules.data.regions
        self.region_names = dict(zip(regions["region_id"].astype(str), regions["name"].astype(str))) if "name" in regions else {}

    def _place(self, group: str) -> str:
        """A row's group as a planner names it: a region by its name and code, anything else as it is."""
        name = self.region_names.get(group)
        return f"{name}（{group}）" if name and name != group else group

    def hard_rules(self) -> list[Relaxation]:
        found: list[Relaxation] = []
        for block in self.model.rows(*RULE_ROWS):
            for row, group in zip(block.indices, block.groups):
                found += self._of_row(RowKind(block.kind), block.key, int(row), str(group))
        return found

    def _of_row(self, kind: RowKind, name: str, row: int, group: str) -> list[Relaxation]:
        match kind:
            case RowKind.BUDGET:
                return [self._budget(name, row, group)]
            case RowKind.MIN_SPEND:
                return [self._min_spend(name, row)]
            case RowKind.CAPACITY:
                return [self._capacity(name, row, group)]
            case RowKind.COUNT:
                return self._count(self.scenario.counts[name], row)
            case RowKind.MIN_PER_REGION:
                return [self._min_per_region(row, group)]
            case RowKind.INDICATOR:
                return self._indicator(name, row, group)
            case RowKind.SHARE_MIN | RowKind.SHARE_MAX:
                return [self._share(self.scenario.shares[name], kind, row)]
            case RowKind.PER_RESIDENT_MIN | RowKind.PER_RESIDENT_MAX:
                return [self._per_resident(self.scenario.per_resident[name], kind, row, group)]
            case RowKind.ZONE_GAP:
                return [self._zone_gap(name, row, group)]
        raise AssertionError(f"no relaxation for rows of kind {kind}")

    # money ---------------------------------------------------------------------------------------------------

    def _money_step(self, limit: float) -> float:
        return max(MIN_MONEY_STEP_WAN, min(MAX_MONEY_STEP_WAN, MONEY_STEP_SHARE * abs(limit)))

    def _money(self, kind: RowKind, name: str, row: int, group: str, *, upper: bool, rule: str, label: str, key: str,
               fix: str) -> Relaxation:
        limit = float(self.model.row_upper[row] if upper else self.model.row_lower[row])
        used = float(self.activity[row])
        step = self._money_step(limit)
        return Relaxation(kind, name, group, row, "raise_upper" if upper else "lower_lower", limit, used, step, "万元", "万元",
                          rule, label, key, fix, tight=abs(limit - used) <= self.money_tolerance, dual_scale=1.0 if upper else -1.0)

    def _budget(self, name: str, row: int, group: str) -> Relaxation:
        source = self.scenario.sources[name]
        limit = float(self.model.row_upper[row])
        year = f"（{group}年）" if group else ""
        fix = f"--set sources.{name}.budget={_money_text(limit + self._money_step(limit))}" if not group else \
            f"sources.{name}.budget_by_year：{group}年加 {_money_text(self._money_step(limit))}"
        return self._money(RowKind.BUDGET, name, row, group, upper=True, rule=f"budget of {name}", label=f"{source.label}预算{year}",
                           key=f"sources.{name}.budget", fix=fix)

    def _min_spend(self, name: str, row: int) -> Relaxation:
        source = self.scenario.sources[name]
        limit = float(self.model.row_lower[row])
        return self._money(RowKind.MIN_SPEND, name, row, "", upper=False, rule=f"minimum spend of {name}", label=f"{source.label}最低支出",
                           key=f"sources.{name}.min_spend",
                           fix=f"--set sources.{name}.min_spend={_money_text(max(limit - self._money_step(limit), 0.0))}")

    def _capacity(self, name: str, row: int, group: str) -> Relaxation:
        source = self.scenario.sources[name]
        capacity = source.capacity
        assert capacity is not None, name  # a capacity row comes from a source's capacity
        where = "省" if capacity.by == "province" else "地区"
        step = self._money_step(float(self.model.row_upper[row]))
        return self._money(RowKind.CAPACITY, name, row, group, upper=True, rule=f"capacity of {name}",
                           label=f"{source.label}分{where}额度（{self._place(group)}）", key=f"sources.{name}.capacity",
                           fix=f"地区表 {capacity.column} 列：{self._place(group)} 加 {_money_text(step)}")

    # counts ---------------------------------------------------------------------------------------------------

    def _count(self, count: CountTarget, row: int) -> list[Relaxation]:
        used = float(self.activity[row])
        what = self._count_words(count)
        found = []
        if count.max is not None:
            found.append(Relaxation(RowKind.COUNT, count.name, "", row, "raise_upper", float(count.max), used, 1.0, "个项目", "个项目",
                                    f"count {count.name} max", f"{what}数量上限", f"targets.counts.{count.name}.max",
                                    f"--set targets.counts.{count.name}.max={count.max + 1}", tight=abs(used - count.max) <= 0.5))
        if count.min is not None and count.min > 0:
            found.append(Relaxation(RowKind.COUNT, count.name, "", row, "lower_lower", float(count.min), used, 1.0, "个项目", "个项目",
                                    f"count {count.name} min", f"{what}数量下限", f"targets.counts.{count.name}.min",
                                    f"--set targets.counts.{count.name}.min={count.min - 1}", tight=abs(used - count.min) <= 0.5,
                                    dual_scale=-1.0))
        return found

    def _count_words(self, count: CountTarget) -> str:
        what = self.scenario.types[count.type].label if count.type else "全部项目"
        return f"{_zone(count.zone)}{what}" if count.zone else what

    def _min_per_region(self, row: int, group: str) -> Relaxation:
        needed = float(self.model.row_lower[row])
        used = float(self.activity[row])
        least = self.scenario.min_projects_per_region
        return Relaxation(RowKind.MIN_PER_REGION, "min_projects_per_region", group, row, "lower_lower", needed, used, 1.0, "个项目",
                          "个项目", "minimum projects per region", f"每个地区至少资助项目数（{self._place(group)}）", "balance.min_projects_per_region",
                          f"--set balance.min_projects_per_region={least - 1}（所有地区）", tight=abs(used - needed) <= 0.5, dual_scale=-1.0)

    # indicators -------------------------------------------------------------------------------------------------

    def _indicator(self, name: str, row: int, group: str) -> list[Relaxation]:
        indicator = self.scenario.indicators[name]
        if not indicator.hard:
            return []  # a soft target is one relaxation for all its groups: see _soft_targets
        step = INDICATOR_STEP_SHARE * abs(indicator.target) or INDICATOR_STEP_SHARE
        lower = float(self.model.row_lower[row])
        reached = indicator.target + float(self.activity[row]) - lower  # the row is the indicator less its baseline
        where = f"（{self._place(group)}）" if group and group != "national" else ""
        return [Relaxation(RowKind.INDICATOR, name, group, row, "lower_lower", indicator.target, reached, step, "指标值", "指标值",
                           f"target {name}", f"{indicator.label}目标{where}", f"targets.indicators.{name}.target",
                           f"--set targets.indicators.{name}.target={indicator.target - step:.6g}（所有组）",
                           tight=abs(reached - indicator.target) <= TIGHT_TOLERANCE * max(1.0, abs(indicator.target)), dual_scale=-1.0)]

    def soft_targets(self) -> list[Relaxation]:
        """Each soft target with a shortfall: close it in every group (its shortfall columns fixed at 0)."""
        found = []
        for block in (b for b in self.model.col_blocks if b.kind == ColumnKind.SHORTFALL):
            indicator = self.scenario.indicators[block.key]
            missed = self.values[block.indices]
            total = float(missed.sum())
            if total <= TIGHT_TOLERANCE:
                continue
            groups = len(block.indices)
            short = int((missed > TIGHT_TOLERANCE).sum())
            where = f"{short}/{groups} 组未达标" if groups > 1 else ""
            reached = indicator.target - total if groups == 1 else float("nan")
            found.append(Relaxation(RowKind.INDICATOR, indicator.name, where, -1, "close", indicator.target, reached, total, "指标值",
                                    "指标值", f"soft target {indicator.name}", f"{indicator.label}（软目标）",
                                    f"targets.indicators.{indicator.name}.hard", f"--set targets.indicators.{indicator.name}.hard=true",
                                    tight=False, shortfall=total, columns=block.indices))
        return found

    # money per resident ---------------------------------------------------------------------------------------

    def _per_resident(self, rule: PerResidentRule, kind: RowKind, row: int, group: str) -> Relaxation:
        """A province's (or zone's) floor or ceiling on money per resident, in 元 per resident: one step is 10% of the
        limit (at least 0.01元), which moves the row by step x residents / 10,000 万元."""
        minimum = kind is RowKind.PER_RESIDENT_MIN
        limit = float(rule.min if minimum else rule.max)  # type: ignore[arg-type]  # a row has its bound
        _, labels, residents = self.built.rules.per_resident_groups(rule)
        per_wan = float(residents[list(labels).index(group)]) / 10_000.0
        used = float(self.activity[row]) / per_wan
        step = max(0.01, MONEY_STEP_SHARE * limit)
        whose = "全部资金" if rule.source == ALL_SOURCES else self.scenario.sources[rule.source].label
        side = "min" if minimum else "max"
        where = _zone(group) if rule.level == "zone" else group
        relaxed = max(limit - step, 0.0) if minimum else limit + step
        return Relaxation(kind, rule.name, group, row, "lower_lower" if minimum else "raise_upper", limit, used, step, "元/人", "元/人",
                          f"per-resident {rule.name} {side}", f"{whose}人均{'下限' if minimum else '上限'}（{where}）",
                          f"balance.per_resident.{rule.name}.{side}",
                          f"--set balance.per_resident.{rule.name}.{side}={_yuan_text(relaxed)}（所有{'省' if rule.level == 'province' else '区域'}）",
                          tight=abs(float(self.activity[row]) - limit * per_wan) <= self.money_tolerance,
                          dual_scale=(-per_wan if minimum else per_wan), row_scale=per_wan)

    def _zone_gap(self, name: str, row: int, group: str) -> Relaxation:
        """One ordered pair of zones of an indicator's max_zone_gap: a's value less b's, after the plan. One step is 10%
        of the allowed gap (at least 0.001)."""
        indicator = self.scenario.indicators[name]
        gap = float(indicator.max_zone_gap)  # type: ignore[arg-type]  # a zone-gap row comes from max_zone_gap
        used = gap - (float(self.model.row_upper[row]) - float(self.activity[row]))
        step = max(0.001, MONEY_STEP_SHARE * gap)
        a, b = group.split("-", 1)
        return Relaxation(RowKind.ZONE_GAP, name, group, row, "raise_upper", gap, used, step, "指标值", "指标值",
                          f"zone gap {name}", f"{indicator.label}区域差距上限（{_zone(a)}高于{_zone(b)}）",
                          f"targets.indicators.{name}.max_zone_gap", f"--set targets.indicators.{name}.max_zone_gap={gap + step:.6g}",
                          tight=abs(used - gap) <= TIGHT_TOLERANCE * max(1.0, gap))

    # shares -----------------------------------------------------------------------------------------------------

    def _share(self, rule: ShareRule, kind: RowKind, row: int) -> Relaxation:
        funding, rules = self.built.funding, self.built.rules
        inside, columns, coefficients = funding.money_terms(rules.share_members(rule).astype(np.int64), rules.share_sources(rule))
        money = coefficients * self.values[columns]
        total, members = float(money.sum()), float(money[inside == 1].sum())
        minimum = kind is RowKind.SHARE_MIN
        bound = float(rule.min if minimum else rule.max)  # type: ignore[arg-type]  # a share row has its bound
        share = members / total if total > 0 else float("nan")
        # The row is sum (1[member] - bound) * money: moving the bound by d adds -d * money to every coefficient.
        moved = SHARE_STEP * coefficients * (1.0 if minimum else -1.0)
        whose = "全部资金" if rule.source == ALL_SOURCES else self.scenario.sources[rule.source].label
        members_text = "、".join(_zone(m) if rule.level == "zone" else m for m in rule.members)
        side = "min" if minimum else "max"
        relaxed = bound - SHARE_STEP if minimum else bound + SHARE_STEP
        return Relaxation(kind, rule.name, "", row, "share", bound * 100, share * 100, 1.0, "%", "个百分点",
                          f"share {rule.name} {side}", f"{whose}投向{members_text}的比例{'下限' if minimum else '上限'}",
                          f"balance.shares.{rule.name}.{side}", f"--set balance.shares.{rule.name}.{side}={relaxed:.6g}",
                          tight=abs(share - bound) <= TIGHT_TOLERANCE, dual_scale=(-total if minimum else total) * SHARE_STEP,
                          columns=columns, coefficients=moved)


def _yuan_text(yuan: float) -> str:
    return f"{yuan:.2f}".rstrip("0").rstrip(".")


def _zone(zone: str) -> str:
    """A zone's Chinese name (东部, 中部, 西部); imported here, not at the top, so solving never loads the report package."""
    from allocator.report.labels import zone_label

    return zone_label(zone)


def _money_text(wan: float) -> str:
    """An amount as the scenario files write it: 万 with up to two decimals."""
    return f"{wan:.2f}".rstrip("0").rstrip(".") + "万"

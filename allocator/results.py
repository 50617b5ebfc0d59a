"""A solved allocation in the planner's terms: per-project money by source and the summary tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from allocator.backends import FormulaStatus, Solution, SolveStatus
from allocator.data import Data
from allocator.errors import InternalError
from allocator.model import BuiltModel
from allocator.model.classes import split_capped
from allocator.model.objective import benefit_by_type
from allocator.rounding import Precision, RoundedMoney, round_periods, round_plan, shares_adding_up
from allocator.rules import IndicatorGroups, Rules, target_met
from allocator.scenario import Phasing, Scenario

#: Numbers in the tables that are not money (counts of part-funded projects, shares) keep this many decimals;
#: money is in whole units of the scenario's ``output.money_precision`` (allocator.rounding).
TABLE_DECIMALS = 4
#: Values of a selection within this distance of 0 or 1 are read as 0 or 1.
SELECTION_TOLERANCE = 1e-6


@dataclass
class Result:
    """Everything a report needs; money in 万元. Tables are pandas DataFrames."""

    scenario: Scenario
    data: Data
    solution: Solution
    selected: np.ndarray  # per project, 0..1 (0/1 when selection is binary)
    money: np.ndarray  # projects x sources, 万元
    indicator_groups: list[IndicatorGroups]
    model_size: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    model_sign: float = 1.0  # turns the minimised objective into the scenario's own sense
    model: BuiltModel | None = field(default=None, repr=False)  # None for allocations not made by the optimizer
    marginal: pd.DataFrame | None = None  # see allocator.marginal; None when not computed
    # Both default to one period; None is replaced in __post_init__, so the attributes are always arrays.
    starts: np.ndarray = None  # type: ignore[assignment]  # projects x start periods (default: = selected)
    money_by_period: np.ndarray = None  # type: ignore[assignment]  # projects x sources x periods (default: = money)
    cut_short: list[str] = field(default_factory=list)  # the phases solver.time_limit stopped or skipped (allocator.solve)

    def __post_init__(self) -> None:
        if self.starts is None:
            self.starts = self.selected[:, None]
        if self.money_by_period is None:
            self.money_by_period = self.money[:, :, None]

    @property
    def objective_unit(self) -> str:
        """What the objective counts: the scenario's benefit unit (e.g. 万人; "" when it gives none), or 万元 for min_cost."""
        return self.scenario.objective_unit if self.scenario.sense == "max_benefit" else "万元"

    @cached_property
    def benefit_by_type(self) -> dict[str, float] | None:
        """max_benefit: each type's benefit in the objective, before the soft targets' penalties (None for min_cost)."""
        if self.scenario.sense != "max_benefit":
            return None
        return benefit_by_type(Rules(self.scenario, self.data), self.starts)

    @property
    def phasing(self) -> Phasing:
        return self.scenario.phasing

    def completed_by(self, period: int) -> np.ndarray:
        """Per project, how much of it is completed by the end of `period` (0..1)."""
        return self.phasing.completed(self.starts, period)

    @property
    def start_year(self) -> np.ndarray:
        """Per project, the year it starts (NaN when not funded)."""
        years = np.array([self.phasing.label(y) for y in range(self.starts.shape[1])], dtype=object)
        return np.where(self.selected > 0, years[self.starts.argmax(axis=1)], np.array(None))

    @property
    def status(self) -> SolveStatus | FormulaStatus:
        return self.solution.status

    @property
    def objective(self) -> float:
        """The objective in the scenario's own sense (benefit to maximise, or money to minimise)."""
        if self.solution.objective is None:
            raise InternalError(f"a result whose solve ('{self.status.value}') has no objective (a bug)")
        return self.solution.objective * self.model_sign

    @property
    def source_keys(self) -> list[str]:
        return list(self.scenario.sources)

    @property
    def precision(self) -> Precision:
        """The unit every money cell of the run is a whole number of."""
        return Precision(self.scenario.output.money_precision)

    @cached_property
    def rounded(self) -> RoundedMoney:
        """The money every table shows: rounded so that rows add up to costs and columns to by_source's totals."""
        projects, sources = self.data.projects, list(self.scenario.sources.values())
        rules = self.model.rules if self.model is not None else Rules(self.scenario, self.data)
        return round_plan(self.precision, self.money, projects["cost"].to_numpy(), self.selected,
                          budgets=np.array([s.budget for s in sources]), min_spend=np.array([s.min_spend for s in sources]),
                          capacities=[(s, rules.capacity(source)) for s, source in enumerate(sources) if source.capacity is not None],
                          share_cap=rules.max_share_of_cost, matching=rules.matching)

    def _wan(self, units: np.ndarray | pd.DataFrame) -> np.ndarray:
        return self.precision.to_wan(np.asarray(units))

    @cached_property
    def allocation(self) -> pd.DataFrame:
        """Every candidate, funded or not, with its money from each source (in the order of the projects table,
        by project id: allocator.data)."""
        projects = self.data.projects
        columns = {"project_id": projects["project_id"]}
        if "name" in projects:
            columns["name"] = projects["name"]
        columns.update({
            "region_id": projects["region_id"], "province": projects["province"], "zone": projects["zone"],
            "type": projects["type"].astype(str), "cost": self._wan(self.rounded.cost),
            "selected": self.selected.astype(int) if self.scenario.selection == "binary" else np.round(self.selected, 6),
        })
        if self.phasing.years:
            columns["start_year"] = pd.array(self.start_year, dtype="Int64")
        frame = pd.DataFrame(columns)
        for s, key in enumerate(self.source_keys):
            frame[key] = self._wan(self.rounded.money[:, s])
        return frame.reset_index(drop=True)

    def _count(self, counts: pd.Series | float) -> pd.Series | float:
        """A count of projects as the tables write it: whole (13, not 13.0) when every count is, else to TABLE_DECIMALS."""
        rounded = np.round(counts, TABLE_DECIMALS) + 0.0
        if not np.all(np.abs(rounded - np.rint(rounded)) < SELECTION_TOLERANCE):
            return rounded
        return rounded.round().astype(int) if isinstance(rounded, pd.Series) else int(round(rounded))

    def _money_by(self, keys: pd.Series | np.ndarray, name: str) -> pd.DataFrame:
        """Funded count, money by source and total per key: sums of the rounded allocation."""
        frame = pd.DataFrame(self.rounded.money, columns=self.source_keys)
        frame[name] = np.asarray(keys)
        grouped = frame.groupby(name, sort=True)
        units = grouped[self.source_keys].sum()
        table = pd.DataFrame({"funded": self._count(pd.Series(self.selected).groupby(np.asarray(keys), sort=True).sum())}, index=units.index)
        for key in self.source_keys:
            table[key] = self._wan(units[key])
        table["total"] = self._wan(units.sum(axis=1))
        return table

    @cached_property
    def by_source(self) -> pd.DataFrame:
        rows = []
        for s, source in enumerate(self.scenario.sources.values()):
            used, budget = int(self.rounded.money[:, s].sum()), self.precision.limit(source.budget, upper=True)
            rows.append({"source": source.key, "label": source.label, "budget": self._wan(budget).item(),
                         "min_spend": self._wan(self.precision.limit(source.min_spend, upper=False)).item(), "used": self._wan(used).item(),
                         "left": self._wan(budget - used).item(),
                         "used_share": round(used / budget, TABLE_DECIMALS) if budget else np.nan})
        return pd.DataFrame(rows)

    @cached_property
    def by_zone(self) -> pd.DataFrame:
        return self._money_by(self.data.projects["zone"], "zone").reset_index()

    @cached_property
    def by_province(self) -> pd.DataFrame:
        table = self._money_by(self.data.projects["province"], "province")
        table["share"] = shares_adding_up(table["total"].to_numpy(), TABLE_DECIMALS)
        return table.reset_index()

    @cached_property
    def by_region(self) -> pd.DataFrame:
        table = self._money_by(self.data.projects["region_id"], "region_id")
        regions = self.data.regions.set_index("region_id")[["name", "province", "zone"]]
        candidates = self.data.projects.groupby("region_id").size().rename("candidates")
        table = regions.join(candidates, how="inner").join(table, how="inner")
        return table.reset_index()

    @cached_property
    def by_type(self) -> pd.DataFrame:
        projects = self.data.projects
        table = self._money_by(projects["type"].astype(str), "type")
        table.insert(0, "candidates", projects.groupby(projects["type"].astype(str)).size())
        table.insert(0, "label", [self.scenario.types[t].label for t in table.index])
        order = [t for t in self.scenario.types if t in table.index]
        return table.loc[order].reset_index()

    @cached_property
    def indicators(self) -> pd.DataFrame:
        """scope, group, indicator, baseline, achieved, target, met, shortfall (in the indicator's own units)."""
        frames = []
        for groups in self.indicator_groups:
            indicator = groups.indicator
            achieved = groups.achieved(self.completed_by(groups.deadline))
            with np.errstate(divide="ignore", invalid="ignore"):
                baseline = np.where(groups.denominator > 0, groups.baseline / groups.denominator, np.nan)
            shortfall = np.maximum(indicator.target - achieved, 0.0)
            frames.append(pd.DataFrame({
                "indicator": indicator.name, "label": indicator.label, "scope": indicator.scope, "group": groups.labels,
                "baseline": baseline, "achieved": achieved, "target": indicator.target,
                "met": np.where(np.isnan(achieved), pd.NA, target_met(achieved, indicator.target)),
                "shortfall": np.where(np.isnan(achieved), np.nan, shortfall), "hard": indicator.hard,
                "note": np.where(groups.denominator > 0, np.array(None), f"no denominator ({indicator.denominator} sums to 0)"),
                **({"by_year": self.phasing.label(groups.deadline)} if self.phasing.years else {}),
            }))
        columns = ["indicator", "label", "scope", "group", "baseline", "achieved", "target", "met", "shortfall", "hard", "note"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    @cached_property
    def by_year(self) -> pd.DataFrame:
        """Per year: money by source, projects started and completed, and each indicator's value (groups of its scope)."""
        phasing = self.phasing
        periods = round_periods(self.precision, self.money_by_period, self.rounded.money.sum(axis=0))  # sources x periods
        rows = []
        for y in range(phasing.periods):
            row: dict[str, object] = {"year": phasing.label(y)}
            row.update({key: self._wan(periods[s, y]).item() for s, key in enumerate(self.source_keys)})
            row["total"] = self._wan(periods[:, y].sum()).item()
            row["projects_started"] = self._count(float(self.starts[:, y].sum()) if y < self.starts.shape[1] else 0.0)
            row["projects_completed"] = self._count(float(self.completed_by(y).sum()))
            for groups in self.indicator_groups:
                achieved = groups.achieved(self.completed_by(y))
                for label, value in zip(groups.labels, achieved):
                    row[groups.indicator.name if len(groups.labels) == 1 else f"{groups.indicator.name}[{label}]"] = round(value, TABLE_DECIMALS + 2)
            rows.append(row)
        return pd.DataFrame(rows)


def make_result(scenario: Scenario, data: Data, built: BuiltModel, solution: Solution, timings: dict[str, float]) -> Result:
    """Read the starts and split each class's money, year by year, back to its projects in proportion to what they spend."""
    if solution.values is None:
        raise InternalError(f"the solver said '{solution.status.value}' but gave no values (a bug; nothing was written)")
    funding, phasing = built.funding, scenario.phasing
    values = solution.values
    starts = np.clip(values[funding.start], 0.0, 1.0)
    starts[starts < SELECTION_TOLERANCE] = 0.0
    starts[starts > 1 - SELECTION_TOLERANCE] = 1.0
    if scenario.selection == "binary":
        starts = np.round(starts)
    selected = np.minimum(starts.sum(axis=1), 1.0)

    spend = np.zeros((len(selected), phasing.periods))  # share of each project's cost spent in each period
    for offset, share in enumerate(phasing.cost_profile):
        spend[:, offset: offset + phasing.starts] += share * starts
    class_money = np.where(funding.money >= 0, np.clip(values[np.maximum(funding.money, 0)], 0.0, None), 0.0)
    class_total = class_money.sum(axis=1, keepdims=True)
    mix = np.divide(class_money, class_total, out=np.zeros_like(class_money), where=class_total > 0)
    cost = data.projects["cost"].to_numpy()
    in_class = funding.classes.of_project >= 0
    money = np.zeros((len(cost), len(scenario.sources), phasing.periods))
    money[in_class] = (cost[in_class, None] * spend[in_class])[:, None, :] * mix[funding.classes.of_project[in_class]]
    money = split_capped(built.rules, funding.classes, selected, money)
    declared, requests = built.rules.declared, built.rules.requests
    money[declared] = requests[declared][:, :, None] * spend[declared][:, None, :]

    linear = built.linear
    size = {"rows": linear.num_rows, "columns": linear.num_cols, "nonzeros": int(linear.A.nnz),
            "integer_columns": int(linear.integer.sum()), "rule_classes": funding.classes.count, "projects": len(cost)}
    return Result(scenario=scenario, data=data, solution=solution, selected=selected, money=money.sum(axis=2),
                  indicator_groups=built.rules.indicator_groups, model_size=size, timings=timings, model_sign=linear.objective_sign,
                  model=built, starts=starts, money_by_period=money)

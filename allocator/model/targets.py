"""What targets add: counts of funded projects, a minimum per region, and coverage indicators."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocator.data import Data
from allocator.model.arrays import ModelBuilder
from allocator.model.funding import Funding
from allocator.model.scopes import project_groups, region_groups
from allocator.scenario import Indicator, Phasing, Scenario


@dataclass(frozen=True)
class IndicatorGroups:
    """One indicator evaluated per group of its scope: value_g = (baseline_g + sum c_p x_p) / denominator_g."""

    indicator: Indicator
    labels: np.ndarray
    baseline: np.ndarray  # per group, in the contribution's units
    denominator: np.ndarray  # per group, already multiplied by the scale
    contribution: np.ndarray  # per project (zero for types that do not count)
    group_of_project: np.ndarray
    shortfall: np.ndarray | None  # per group: column of the shortfall variable, -1 where no row

    def achieved(self, selected: np.ndarray) -> np.ndarray:
        added = np.bincount(self.group_of_project, weights=self.contribution * selected, minlength=len(self.labels))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.denominator > 0, (self.baseline + added) / self.denominator, np.nan)

    def unmeasured(self) -> np.ndarray:
        """Per group: no denominator, yet a baseline or a project that counts (dropped from the model, so worth a word)."""
        counting = np.bincount(self.group_of_project, weights=self.contribution != 0, minlength=len(self.labels)) > 0
        return (self.denominator <= 0) & ((self.baseline != 0) | counting)


def add_counts(builder: ModelBuilder, scenario: Scenario, data: Data, funding: Funding) -> None:
    """min <= number of funded projects (of a type, in a zone) <= max."""
    projects = data.projects
    for count in scenario.counts.values():
        mask = np.ones(len(projects), dtype=bool)
        if count.type is not None:
            mask &= (projects["type"] == count.type).to_numpy()
        if count.zone is not None:
            mask &= (projects["zone"] == count.zone).to_numpy()
        _, cols = funding.selection_terms(mask)
        builder.add_rows(f"count:{count.name}", 1, np.zeros(len(cols)), cols, np.ones(len(cols)),
                         lower=-np.inf if count.min is None else count.min, upper=np.inf if count.max is None else count.max)


def add_min_per_region(builder: ModelBuilder, scenario: Scenario, data: Data, funding: Funding) -> None:
    """Each region with candidates funds at least min(n, its number of candidates)."""
    n = scenario.min_projects_per_region
    if n <= 0:
        return
    region = data.projects["region"].to_numpy()
    candidates = np.bincount(region, minlength=len(data.regions))
    with_candidates = np.flatnonzero(candidates > 0)
    row_of_region = np.full(len(data.regions), -1)
    row_of_region[with_candidates] = np.arange(len(with_candidates))
    projects, cols = funding.selection_terms()
    builder.add_rows("min_per_region", len(with_candidates), row_of_region[region[projects]], cols,
                     np.ones(len(cols)), lower=np.minimum(n, candidates[with_candidates]),
                     labels=data.regions["region_id"].to_numpy(dtype=object)[with_candidates])


def deadline_period(indicator: Indicator, phasing: Phasing) -> int:
    """The period by whose end the indicator is measured: its deadline, or the plan's last year."""
    return phasing.years.index(indicator.deadline) if indicator.deadline is not None else phasing.periods - 1


def add_indicators(builder: ModelBuilder, scenario: Scenario, data: Data, funding: Funding) -> list[IndicatorGroups]:
    return [_add_indicator(builder, indicator, data, funding) for indicator in scenario.indicators.values()]


def indicator_groups(indicator: Indicator, data: Data) -> IndicatorGroups:
    """The indicator's per-group baseline, denominator and per-project contribution, without a model."""
    of_region, labels = region_groups(data, indicator.scope)
    regions, projects = data.regions, data.projects
    baseline = np.bincount(of_region, weights=regions[indicator.baseline].to_numpy(dtype=float), minlength=len(labels)) \
        if indicator.baseline else np.zeros(len(labels))
    denominator = np.bincount(of_region, weights=regions[indicator.denominator].to_numpy(dtype=float), minlength=len(labels)) * indicator.scale
    contribution = projects[indicator.contribution].to_numpy(dtype=float).copy()
    if indicator.types is not None:
        contribution[~projects["type"].isin(list(indicator.types)).to_numpy()] = 0.0
    group_of_project, _ = project_groups(data, indicator.scope)
    return IndicatorGroups(indicator, labels, baseline, denominator, contribution, group_of_project, None)


def _add_indicator(builder: ModelBuilder, indicator: Indicator, data: Data, funding: Funding) -> IndicatorGroups:
    """sum_p (c_p / D_g) x_p [+ u_g] >= target - B_g / D_g, one row per group with a positive denominator;
    x_p counts the starts completed by the indicator's deadline."""
    groups = indicator_groups(indicator, data)
    active = np.flatnonzero(groups.denominator > 0)
    row_of_group = np.full(len(groups.labels), -1)
    row_of_group[active] = np.arange(len(active))
    member = (row_of_group[groups.group_of_project] >= 0) & (groups.contribution != 0)
    projects, cols = funding.selection_terms(member, completed_by=deadline_period(indicator, funding.phasing))
    group = groups.group_of_project[projects]
    rows = row_of_group[group]
    vals = groups.contribution[projects] / groups.denominator[group]
    shortfall = None
    if not indicator.hard:
        shortfall = np.full(len(groups.labels), -1, dtype=np.int64)
        shortfall[active] = builder.add_variables(f"shortfall:{indicator.name}", len(active), labels=groups.labels[active])
        builder.add_objective(shortfall[active], indicator.penalty)
        rows = np.concatenate([rows, np.arange(len(active))])
        cols = np.concatenate([cols, shortfall[active]])
        vals = np.concatenate([vals, np.ones(len(active))])
    lower = indicator.target - groups.baseline[active] / groups.denominator[active]
    builder.add_rows(f"indicator:{indicator.name}", len(active), rows, cols, vals, lower=lower, labels=groups.labels[active])
    return IndicatorGroups(indicator, groups.labels, groups.baseline, groups.denominator, groups.contribution,
                           groups.group_of_project, shortfall)

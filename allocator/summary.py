"""The short terminal summary of a result: money per source, projects per type, targets met or missed."""

from __future__ import annotations

import numpy as np

from allocator.data import Data
from allocator.results import Result
from allocator.rules import Rules
from allocator.scenario import Scenario
from allocator.units import format_wan


def summary(result: Result) -> str:
    scenario, solution = result.scenario, result.solution
    gap = f", gap {solution.mip_gap:.2e}" if solution.mip_gap is not None else ", gap not measured"  # CBC measures none
    if result.model is None:  # a formula allocation (allocate baseline) has no gap at all
        gap = ""
    sense = "benefit" if scenario.sense == "max_benefit" else "money"
    sense += f", {result.objective_unit}" if result.objective_unit else ""
    lines = [
        f"{scenario.name}: {solution.status.value} ({solution.solver_version}{gap}, {solution.seconds:.2f} s)",
        *(f"cut short by solver.time_limit: {note}" for note in result.cut_short),
        f"objective ({sense}): {result.objective:,.2f}",
        "",
        "money by source (万元):",
    ]
    for row in result.by_source.itertuples():
        share = f"{row.used_share:6.1%}" if np.isfinite(row.used_share) else "   n/a"
        lines.append(f"  {row.label} [{row.source}]: {format_wan(row.used)} of {format_wan(row.budget)} ({share})")
    lines += ["", "projects funded by type:"]
    for row in result.by_type.itertuples():
        lines.append(f"  {row.label} [{row.type}]: {row.funded:,.0f} of {row.candidates:,} candidates, {format_wan(row.total)}")
    lines += _benefit_lines(result)
    indicators = result.indicators
    if len(indicators):
        lines += ["", "targets:"]
        for _name, rows in indicators.groupby("indicator", sort=False):
            first = rows.iloc[0]
            met = rows["met"].dropna().astype(bool)
            if first["scope"] == "national":
                verdict = "met" if met.all() else f"missed by {first['shortfall']:.4g}"
                lines.append(f"  {first['label']}: {first['achieved']:.4g} vs target {first['target']:.4g} ({verdict})")
            else:
                unmeasured = rows.loc[rows["met"].isna(), "group"].astype(str).tolist()
                without = f" ({len(unmeasured)} without a denominator: {', '.join(unmeasured)})" if unmeasured else ""
                lines.append(f"  {first['label']} ({first['scope']}): target {first['target']:.4g} met in {int(met.sum())} of "
                             f"{len(met)} measured groups{without}")
    return "\n".join(lines)


def _benefit_lines(result: Result) -> list[str]:
    """max_benefit: each type's benefit and its share of the total benefit (before the targets' penalties)."""
    benefit = result.benefit_by_type
    total = sum(benefit.values()) if benefit else 0.0
    if not benefit or total <= 0:
        return []
    labels = {t: result.scenario.types[t].label for t in benefit}
    unit = f"{result.objective_unit}, " if result.objective_unit else ""
    return ["", f"benefit by type ({unit}share of {total:,.2f} before target penalties):",
            *(f"  {labels[t]} [{t}]: {value:,.2f} ({value / total:.1%})" for t, value in benefit.items() if value)]


def unaffordable_warning(scenario: Scenario, data: Data) -> str | None:
    """A warning when no candidate can be fully funded even by all the money its sources could give it."""
    reach, cost = most_money(scenario, data), data.projects["cost"].to_numpy(dtype=float)
    if not len(cost) or (reach >= cost * (1 - 1e-9)).any():
        return None
    best = int(np.argmax(reach / cost))
    return (f"no candidate project can be fully funded: the closest, {data.projects['project_id'].iloc[best]}, could get at most "
            f"{format_wan(reach[best])} of its cost {format_wan(cost[best])} from all its sources; check the budgets and their units")


def most_money(scenario: Scenario, data: Data) -> np.ndarray:
    """Per project, an upper bound on the money all sources together could give it (万元).

    Per source: the least of its budget, its share cap times the cost, its per-project cap and the
    capacity of the project's province or region (a declared plan: its requested amount). Matching
    rules, counts and shares can only lower it, so a project above its bound is surely unaffordable.
    """
    rules = Rules(scenario, data)
    limit = rules.money_limit.copy()
    for s, source in enumerate(rules.sources):
        limit[:, s] = np.minimum(limit[:, s], source.budget)
        if source.capacity is not None:
            capacity = rules.capacity(source)
            limit[:, s] = np.minimum(limit[:, s], capacity.limit[capacity.group_of_project])
    return limit.sum(axis=1)

"""The short terminal summary of a result: money per source, projects per type, targets met or missed."""

from __future__ import annotations

import numpy as np

from allocator.data import Data
from allocator.model.classes import absolute_caps, eligibility
from allocator.model.scopes import project_groups, region_groups
from allocator.results import Result
from allocator.scenario import Scenario
from allocator.units import format_wan


def summary(result: Result) -> str:
    scenario, solution = result.scenario, result.solution
    gap = f", gap {solution.mip_gap:.2e}" if solution.mip_gap is not None else ", gap not measured"  # CBC measures none
    if result.model is None:  # a formula allocation (allocate baseline) has no gap at all
        gap = ""
    sense = "benefit" if scenario.sense == "max_benefit" else "money (万元)"
    lines = [
        f"{scenario.name}: {solution.status.value} ({solution.solver_version}{gap}, {solution.seconds:.2f} s)",
        *(f"cut short by solver.time_limit: {note}" for note in solution.details.get("cut_short", [])),
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
    indicators = result.indicators
    if len(indicators):
        lines += ["", "targets:"]
        for name, rows in indicators.groupby("indicator", sort=False):
            first = rows.iloc[0]
            met = rows["met"].dropna().astype(bool)
            if first["scope"] == "national":
                verdict = "met" if met.all() else f"missed by {first['shortfall']:.4g}"
                lines.append(f"  {first['label']}: {first['achieved']:.4g} vs target {first['target']:.4g} ({verdict})")
            else:
                lines.append(f"  {first['label']} ({first['scope']}): target {first['target']:.4g} met in {int(met.sum())} of {len(met)} groups")
    return "\n".join(lines)


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
    projects = data.projects
    cost = projects["cost"].to_numpy(dtype=float)
    types = projects["type"].astype(str)
    limit = np.minimum(np.where(eligibility(scenario, data), np.inf, 0.0), absolute_caps(scenario, data))
    declared = data.declared
    requests = data.request_columns()
    for s, source in enumerate(scenario.sources.values()):
        share = types.map(source.max_share_of_cost).fillna(1.0).to_numpy(dtype=float)
        limit[:, s] = np.minimum(limit[:, s], share * cost)
        asked = projects.loc[declared, requests[source.key]].to_numpy(dtype=float) if source.key in requests else 0.0
        limit[declared, s] = asked
        limit[:, s] = np.minimum(limit[:, s], source.budget)
        if source.capacity is not None:
            of_region, labels = region_groups(data, source.capacity.by)
            capacity = np.bincount(of_region, weights=data.regions[source.capacity.column].to_numpy(dtype=float), minlength=len(labels))
            limit[:, s] = np.minimum(limit[:, s], capacity[project_groups(data, source.capacity.by)[0]])
    return limit.sum(axis=1)

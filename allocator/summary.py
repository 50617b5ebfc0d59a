"""The short terminal summary of a result: money per source, projects per type, targets met or missed."""

from __future__ import annotations

from functools import partial

import numpy as np

from allocator.backends import SolveStatus
from allocator.data import Data
from allocator.equity import equity_table, equity_text
from allocator.floor import floor_text
from allocator.report.labels import format_indicator, groups_met_text
from allocator.report.workbook import summarise_indicators
from allocator.results import Result
from allocator.rounding import shares_adding_up
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
        *_gap_lines(result),
        f"objective ({sense}): {result.objective:,.2f}",
        *_floor_lines(result),
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
    lines += _target_lines(result)
    lines += ["", equity_text(equity_table(result))]
    return "\n".join(lines)


def _gap_lines(result: Result) -> list[str]:
    """Why a plan that the time limit did not stop is short of the requested gap (the decomposition by blocks)."""
    solution = result.solution
    if solution.status is not SolveStatus.FEASIBLE or result.cut_short or solution.mip_gap is None:
        return []
    return [f"gap {solution.mip_gap:.2e} is above solver.mip_rel_gap {result.scenario.solver.mip_rel_gap:g}: {solution.message}"]


def _floor_lines(result: Result) -> list[str]:
    """[objective] raise_lowest: the floor reached and what it cost (allocator.floor)."""
    details = result.solution.details.get("raise_lowest")
    return [floor_text(details, result.objective, result.objective_unit)] if isinstance(details, dict) else []


def _target_lines(result: Result) -> list[str]:
    """Each indicator against its target, as its display says (98.96% or a number); for a scope of many groups, the groups
    met out of those measured (summarise_indicators, as the workbook and report count them)."""
    items = summarise_indicators(result.indicators)
    if not items:
        return []
    lines = ["", "targets:"]
    for item in items:
        show = partial(format_indicator, display=result.scenario.indicators[item.indicator].display)
        if item.groups == 1:
            verdict = "no value: no denominator" if item.met is None else "met" if item.met else f"missed by {show(item.shortfall)}"
            lines.append(f"  {item.label}: {show(item.achieved) or 'n/a'} vs target {show(item.target)} ({verdict})")
        else:  # groups by their codes, as the terminal shows sources and types
            lines.append(f"  {item.label} ({item.scope}): target {show(item.target)} {groups_met_text(item, 'en', str)}")
    return lines


def _benefit_lines(result: Result) -> list[str]:
    """max_benefit: each type's benefit and its share of the total benefit (before the targets' penalties)."""
    benefit = {t: value for t, value in (result.benefit_by_type or {}).items() if value}
    total = sum(benefit.values())
    if not benefit or total <= 0:
        return []
    labels = {t: result.scenario.types[t].label for t in benefit}
    unit = f"{result.objective_unit}, " if result.objective_unit else ""
    shares = shares_adding_up(np.array(list(benefit.values())), 3)  # as printed, 0.1%: they add up to 100.0%
    return ["", f"benefit by type ({unit}share of {total:,.2f} before target penalties):",
            *(f"  {labels[t]} [{t}]: {value:,.2f} ({share:.1%})" for (t, value), share in zip(benefit.items(), shares))]


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

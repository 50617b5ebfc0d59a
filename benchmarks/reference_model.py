"""The straightforward per-project formulation, kept as a reference for the engine's class formulation.

A money variable per project and eligible source, and per project: full funding
(``sum_s m_ps = cost_p x_p``), matching (``m_p,local >= r_p (m_p,central + m_p,lottery)``) and
share-of-cost caps (``m_ps <= alpha cost_p x_p``). Budgets, capacities and share rules sum the
per-project money. It produces the engine's :class:`allocator.model.arrays.LinearModel`, so
:func:`allocator.solve.solve_model` solves it like the engine's own model.

Every rule is written here from the scenario, independently of allocator/model/ (only the array
builder and the scope helpers are shared), for one-period plans. Declared funding plans, absolute
per-project caps and multi-year phasing are out of scope (NotImplementedError).

    python benchmarks/reference_model.py SCENARIO.toml     # build + solve, print a JSON line
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass

import numpy as np

from allocator.data import Data
from allocator.model.arrays import ColumnKind, LinearModel, ModelBuilder, RowKind
from allocator.rules import project_groups, region_groups
from allocator.scenario import ALL_SOURCES, Scenario


@dataclass(frozen=True)
class ReferenceModel:
    linear: LinearModel
    select: np.ndarray  # per project: column of x_p
    money: np.ndarray  # projects x sources: column of m_ps, -1 where not eligible


def _eligible(scenario: Scenario, data: Data) -> np.ndarray:
    types = data.projects["type"].astype(str).to_numpy()
    zones = data.projects["zone"].to_numpy(dtype=object)
    out = np.zeros((len(types), len(scenario.sources)), dtype=bool)
    for s, source in enumerate(scenario.sources.values()):
        out[:, s] = np.isin(types, list(source.types))
        if source.zones is not None:
            out[:, s] &= np.isin(zones, list(source.zones))
    return out


def _ratio(scenario: Scenario, data: Data, key: str) -> np.ndarray:
    matching = scenario.sources[key].matching
    region = data.projects["region"].to_numpy()
    if matching.ratio is not None:
        return np.full(len(region), float(matching.ratio))
    if matching.ratio_by_zone is not None:
        zones = data.projects["zone"].to_numpy(dtype=object)
        return np.array([matching.ratio_by_zone[z] for z in zones], dtype=float)
    return data.regions[matching.ratio_column].to_numpy(dtype=float)[region]


def build_reference(scenario: Scenario, data: Data) -> ReferenceModel:
    projects = data.projects
    n, keys = len(projects), list(scenario.sources)
    if "declared" in projects and projects["declared"].any():
        raise NotImplementedError("the reference formulation does not model declared funding plans")
    if any(source.cap_per_project for source in scenario.sources.values()):
        raise NotImplementedError("the reference formulation does not model absolute per-project caps")
    phasing = getattr(scenario, "phasing", None)
    if phasing is not None and phasing.periods > 1:
        raise NotImplementedError("the reference formulation is for one-period plans")
    cost = projects["cost"].to_numpy(dtype=float)
    types = projects["type"].astype(str).to_numpy()
    eligible = _eligible(scenario, data)
    fundable = eligible.any(axis=1)

    b = ModelBuilder()
    select = b.add_variables(ColumnKind.SELECT, n, upper=fundable.astype(float), integer=scenario.selection == "binary",
                             labels=projects["project_id"].to_numpy(dtype=object))
    p_idx, s_idx = np.nonzero(eligible)
    money = np.full(eligible.shape, -1, dtype=np.int64)
    money[p_idx, s_idx] = b.add_variables(ColumnKind.MONEY, len(p_idx))

    # full funding per project: sum_s m_ps - cost_p x_p = 0
    b.add_rows(RowKind.FULL_FUNDING, n, np.concatenate([p_idx, np.arange(n)]), np.concatenate([money[p_idx, s_idx], select]),
               np.concatenate([np.ones(len(p_idx)), -cost]), lower=0.0, upper=0.0)
    for s, source in enumerate(scenario.sources.values()):
        has = money[:, s] >= 0
        # matching per project: m_p,s - r_p * sum_{o in of} m_p,o >= 0
        if source.matching is not None:
            ratio = _ratio(scenario, data, source.key)
            rows, cols, vals = [np.flatnonzero(has)], [money[has, s]], [np.ones(int(has.sum()))]
            for other in source.matching.of:
                o = keys.index(other)
                other_has = (money[:, o] >= 0) & (ratio > 0)
                rows.append(np.flatnonzero(other_has))
                cols.append(money[other_has, o])
                vals.append(-ratio[other_has])
            b.add_rows(RowKind.MATCHING, n, np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), key=source.key, lower=0.0)
        # share-of-cost cap per project: m_ps - alpha_p cost_p x_p <= 0
        alpha = np.array([source.max_share_of_cost.get(t, 1.0) for t in types])
        capped = np.flatnonzero(has & (alpha < 1.0))
        if capped.size:
            count = capped.size
            b.add_rows(RowKind.SHARE_CAP, count, np.concatenate([np.arange(count)] * 2),
                       np.concatenate([money[capped, s], select[capped]]),
                       np.concatenate([np.ones(count), -alpha[capped] * cost[capped]]), key=source.key, upper=0.0)
        # budget and minimum spend
        b.add_rows(RowKind.BUDGET, 1, np.zeros(int(has.sum())), money[has, s], np.ones(int(has.sum())), key=source.key,
                   lower=source.min_spend if source.min_spend > 0 else -np.inf, upper=source.budget)
        # capacity per province (or region)
        if source.capacity is not None:
            of_region, labels = region_groups(data, source.capacity.by)
            limit = np.bincount(of_region, weights=data.regions[source.capacity.column].to_numpy(dtype=float), minlength=len(labels))
            group, _ = project_groups(data, source.capacity.by)
            b.add_rows(RowKind.CAPACITY, len(labels), group[has], money[has, s], np.ones(int(has.sum())), key=source.key,
                       upper=limit, labels=labels)

    _targets(b, scenario, data, select)
    _shares(b, scenario, data, money)
    sign = _objective(b, scenario, data, select, money)
    return ReferenceModel(linear=b.build(objective_sign=sign), select=select, money=money)


def _targets(b: ModelBuilder, scenario: Scenario, data: Data, select: np.ndarray) -> None:
    """Counts, minimum funded per region and coverage indicators (soft ones with a shortfall variable)."""
    projects = data.projects
    types = projects["type"].astype(str).to_numpy()
    zones = projects["zone"].to_numpy(dtype=object)
    for count in scenario.counts.values():
        mask = np.ones(len(projects), dtype=bool)
        if count.type is not None:
            mask &= types == count.type
        if count.zone is not None:
            mask &= zones == count.zone
        b.add_rows(RowKind.COUNT, 1, np.zeros(int(mask.sum())), select[mask], np.ones(int(mask.sum())), key=count.name,
                   lower=-np.inf if count.min is None else count.min, upper=np.inf if count.max is None else count.max)
    if scenario.min_projects_per_region > 0:
        region = projects["region"].to_numpy()
        candidates = np.bincount(region, minlength=len(data.regions))
        used, row = np.unique(region, return_inverse=True)
        b.add_rows(RowKind.MIN_PER_REGION, len(used), row, select, np.ones(len(region)),
                   lower=np.minimum(scenario.min_projects_per_region, candidates[used]))
    for indicator in scenario.indicators.values():
        of_region, labels = region_groups(data, indicator.scope)
        regions = data.regions
        baseline = (np.bincount(of_region, weights=regions[indicator.baseline].to_numpy(dtype=float), minlength=len(labels))
                    if indicator.baseline else np.zeros(len(labels)))
        denominator = np.bincount(of_region, weights=regions[indicator.denominator].to_numpy(dtype=float),
                                  minlength=len(labels)) * indicator.scale
        contribution = projects[indicator.contribution].to_numpy(dtype=float).copy()
        if indicator.types is not None:
            contribution[~np.isin(types, list(indicator.types))] = 0.0
        group = of_region[projects["region"].to_numpy()]
        active = np.flatnonzero(denominator > 0)
        row_of = np.full(len(labels), -1)
        row_of[active] = np.arange(len(active))
        member = (row_of[group] >= 0) & (contribution != 0)
        rows, cols = row_of[group[member]], select[member]
        vals = contribution[member] / denominator[group[member]]
        if not indicator.hard:
            shortfall = b.add_variables(ColumnKind.SHORTFALL, len(active), key=indicator.name)
            b.add_objective(shortfall, indicator.penalty)
            rows, cols = np.concatenate([rows, np.arange(len(active))]), np.concatenate([cols, shortfall])
            vals = np.concatenate([vals, np.ones(len(active))])
        b.add_rows(RowKind.INDICATOR, len(active), rows, cols, vals, key=indicator.name,
                   lower=indicator.target - baseline[active] / denominator[active])


def _shares(b: ModelBuilder, scenario: Scenario, data: Data, money: np.ndarray) -> None:
    """min * total <= money to the members <= max * total."""
    keys = list(scenario.sources)
    for rule in scenario.shares.values():
        sources = range(len(keys)) if rule.source == ALL_SOURCES else [keys.index(rule.source)]
        group, labels = project_groups(data, rule.level)
        inside = np.isin(labels, list(rule.members))[group].astype(float)
        p_idx, s_idx = np.nonzero(money[:, list(sources)] >= 0)
        cols = money[:, list(sources)][p_idx, s_idx]
        for bound, kind, limits in ((rule.min, RowKind.SHARE_MIN, {"lower": 0.0}), (rule.max, RowKind.SHARE_MAX, {"upper": 0.0})):
            if bound is not None:
                b.add_rows(kind, 1, np.zeros(len(cols)), cols, inside[p_idx] - bound, key=rule.name, **limits)


def _objective(b: ModelBuilder, scenario: Scenario, data: Data, select: np.ndarray, money: np.ndarray) -> float:
    if scenario.sense == "max_benefit":
        benefit = np.zeros(len(select))
        for column, weight in scenario.benefit.items():
            benefit += weight * data.projects[column].to_numpy(dtype=float)
        b.add_objective(select, -benefit)
        return -1.0
    b.add_objective(money[money >= 0], 1.0)
    return 1.0


def allocation(reference: ReferenceModel, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(selected per project, money projects x sources) from a solution of the reference model."""
    selected = values[reference.select]
    money = np.where(reference.money >= 0, values[np.maximum(reference.money, 0)], 0.0)
    return selected, money


def main() -> None:
    from allocator.data import load_data
    from allocator.scenario_toml import load_scenario
    from allocator.solve import solve_model

    scenario = load_scenario(sys.argv[1])
    seconds = {}
    started = time.perf_counter()
    data = load_data(scenario)
    seconds["read_and_validate"] = time.perf_counter() - started
    started = time.perf_counter()
    reference = build_reference(scenario, data)
    seconds["build"] = time.perf_counter() - started
    started = time.perf_counter()
    solution = solve_model(reference.linear, scenario.solver, log="--log" in sys.argv)
    seconds["solve"] = time.perf_counter() - started
    linear = reference.linear
    print(json.dumps({
        "status": solution.status.value, "message": solution.message,
        "objective": None if solution.objective is None else solution.objective * linear.objective_sign,
        "mip_gap": solution.mip_gap,
        "dual_bound": None if solution.dual_bound is None else solution.dual_bound * linear.objective_sign,
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
        "model_size": {"rows": linear.num_rows, "columns": linear.num_cols, "nonzeros": int(linear.A.nnz),
                       "integer_columns": int(linear.integer.sum())},
    }))


if __name__ == "__main__":
    main()

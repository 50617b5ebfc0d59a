"""The formula method planners use today (因素法), as a second allocation method beside the optimizer.

Both methods have one signature, ``method(scenario, data=None) -> Result``, and one result type, so a
run directory, a summary and ``allocate compare`` treat them alike (:data:`METHODS`).

The factor method, read from the scenario's ``[baseline]`` table:

1. Each group (province by default) gets a share of each source:
   ``share_g = sum_k w_k * factor_k(g) / sum_k w_k``, every factor normalised to a share of its total
   (``inverse:<column>`` takes the reciprocal first), then held within ``[floor, cap]`` and renormalised.
   Only groups with candidate projects (and, for a source limited to some zones, in those zones) share.
2. Projects are taken in priority order (a projects column, highest first; ties by project_id). A
   project is funded when its cost can be split over the sources its group still holds: money per
   source in proportion to what the group holds, within each source's eligibility, share of cost,
   absolute cap and capacity, then shifted to a matching source until its matching ratio holds. A
   project whose split breaks a rule is skipped and the next one is tried.

The result meets every per-project rule, budgets and capacities, but need not meet counts, targets or
balance rules: those are reported (``Solution.message``), not enforced. Its status is
``FormulaStatus.FORMULA`` and its objective is :func:`allocator.model.objective.objective_value`, the optimizer's own objective
evaluated on the allocation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import metadata

import numpy as np
import pandas as pd

from allocator.backends import FormulaStatus, Solution
from allocator.checks import ABSOLUTE_TOLERANCE_WAN, project_checks, rule_violations
from allocator.data import Data, load_data
from allocator.errors import InputError, VerificationError
from allocator.model.objective import objective_value
from allocator.results import Result
from allocator.rules import Rules, project_groups, region_groups
from allocator.scenario import INVERSE_PREFIX, BaselineSpec, Scenario
from allocator.solve import solve

#: Every allocation method takes a scenario (and optionally its loaded data) and returns a Result.
Method = Callable[..., Result]
FACTOR_SOLVER = "factor-method"


def factor_shares(scenario: Scenario, data: Data) -> pd.DataFrame:
    """Per group: each factor's share, the weighted share before and after floor/cap, and each source's money (万元)."""
    spec = _spec(scenario)
    of_region, labels = region_groups(data, spec.level)
    group_of_project, _ = project_groups(data, spec.level)
    has_candidates = np.bincount(group_of_project, minlength=len(labels)) > 0
    table = pd.DataFrame({spec.level: labels})
    weighted = np.zeros(len(labels))
    for name, weight in spec.factors.items():
        column = name.removeprefix(INVERSE_PREFIX)
        if column not in data.regions:
            raise InputError(f"baseline factor '{name}' names no column of the regions table "
                             f"(columns: {', '.join(data.regions.columns)})", source=str(scenario.path), where="baseline.factors")
        values = pd.to_numeric(data.regions[column], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        value = np.bincount(of_region, weights=values, minlength=len(labels))
        if name.startswith(INVERSE_PREFIX):
            value = np.divide(1.0, value, out=np.zeros_like(value), where=value > 0)
        value[~has_candidates] = 0.0
        total = value.sum()
        table[f"factor:{name}"] = value / total if total > 0 else 0.0
        weighted += weight * table[f"factor:{name}"].to_numpy()
    weighted /= sum(spec.factors.values())
    table["weighted"] = weighted
    zone_of_group = _zone_of_group(data, of_region, len(labels))
    for source in scenario.sources.values():
        member = has_candidates & (np.ones(len(labels), dtype=bool) if source.zones is None else np.isin(zone_of_group, list(source.zones)))
        share = np.zeros(len(labels))
        share[member] = bounded_shares(weighted[member], spec.floor, spec.cap, where=f"source '{source.key}'")
        table[f"share:{source.key}"] = share
        table[source.key] = share * source.budget
    return table


def bounded_shares(raw: np.ndarray, floor: float, cap: float, *, where: str = "") -> np.ndarray:
    """`raw` normalised to sum 1, each share held within [floor, cap], the others renormalised to fill the rest."""
    n = len(raw)
    if n == 0:
        return raw.astype(float)
    if n * floor > 1 + 1e-12 or n * cap < 1 - 1e-12:
        raise InputError(f"[baseline] floor {floor:g} and cap {cap:g} cannot both hold for {n} groups ({where}): "
                         f"need floor <= {1 / n:.4g} <= cap")
    raw = np.where(raw > 0, raw, 0.0)
    fixed = np.full(n, np.nan)
    for _ in range(n + 1):
        free = np.isnan(fixed)
        rest = 1.0 - np.nansum(fixed)
        weights = raw[free]
        share = weights / weights.sum() * rest if weights.sum() > 0 else np.full(free.sum(), rest / free.sum())
        low, high = share < floor - 1e-15, share > cap + 1e-15
        # Fix the side that is further out first, so a floor does not push others over the cap and back.
        if not low.any() and not high.any():
            break
        indices = np.flatnonzero(free)
        if (floor - share[low]).sum() >= (share[high] - cap).sum():
            fixed[indices[low]] = floor
        else:
            fixed[indices[high]] = cap
        if np.isnan(fixed).sum() == 0:
            share = np.zeros(0)
            break
    result = fixed.copy()
    result[np.isnan(fixed)] = share
    return result / result.sum()


def factor_method(scenario: Scenario, data: Data | None = None) -> Result:
    """Allocate by the formula method: shares by factors, then projects by priority within each group."""
    started = time.perf_counter()
    spec = _spec(scenario)
    phasing = getattr(scenario, "phasing", None)
    if phasing is not None and phasing.periods > 1:
        raise InputError("the factor method allocates one period; it does not phase projects over the years of [phasing]",
                         source=str(scenario.path), where="phasing")
    data = load_data(scenario) if data is None else data
    projects = data.projects
    if spec.priority not in projects:
        raise InputError(f"[baseline] priority column '{spec.priority}' is not in the projects table; set "
                         f"baseline.priority to one of: {', '.join(projects.columns)}", source=str(scenario.path), where="baseline.priority")
    shares = factor_shares(scenario, data)
    rules = Rules(scenario, data)
    keys = list(scenario.sources)
    holdings = shares[keys].to_numpy(dtype=float)  # groups x sources, 万元 still to give
    group_of_project, _ = project_groups(data, spec.level)
    cost = projects["cost"].to_numpy(dtype=float)
    eligible, caps, alpha, requests = rules.eligible, rules.absolute_caps, rules.max_share_of_cost, rules.requests
    capacity, capacity_group = _capacities(rules)

    priority = pd.to_numeric(projects[spec.priority], errors="coerce").fillna(-np.inf).to_numpy(dtype=float)
    order = np.lexsort((projects["project_id"].to_numpy(dtype=str), -priority))
    selected = np.zeros(len(cost))
    money = np.zeros((len(cost), len(keys)))
    for p in order:
        g = group_of_project[p]
        room = np.array([min(holdings[g, s], capacity[s][capacity_group[s][p]]) for s in range(len(keys))])
        if rules.declared[p]:
            split = requests[p]
            if (split > room + 1e-9).any():
                continue
        else:
            upper = np.where(eligible[p], np.minimum(np.minimum(room, alpha[p] * cost[p]), caps[p]), 0.0)
            split = _split(cost[p], holdings[g], np.maximum(upper, 0.0), [(m.source, m.of, m.ratio[p]) for m in rules.matching])
            if split is None:
                continue
        selected[p] = 1.0
        money[p] = split
        holdings[g] -= split
        for s in range(len(keys)):
            capacity[s][capacity_group[s][p]] -= split[s]

    broken = [what for what, mask in project_checks(scenario, data, selected, money) if mask.any()]
    if broken:
        raise VerificationError(f"the factor method broke a per-project rule (a bug; nothing was written): {'; '.join(broken)}")
    unmet = rule_violations(scenario, data, selected, money)
    objective = objective_value(rules, selected[:, None], money)
    message = "formula allocation (factor method), not an optimum" + (
        f"; it breaks {len(unmet)} scenario rule(s) the optimizer must meet: " + "; ".join(unmet) if unmet else "; it meets every scenario rule")
    solution = Solution(status=FormulaStatus.FORMULA, solver=FACTOR_SOLVER, solver_version=f"allocator {_version()} factor method",
                        objective=objective, seconds=time.perf_counter() - started, message=message,
                        details={"shares": shares, "unmet_rules": unmet, "level": spec.level})
    return Result(scenario=scenario, data=data, solution=solution, selected=selected, money=money,
                  indicator_groups=rules.indicator_groups,
                  model_size={"projects": len(cost), "groups": int((shares["weighted"] > 0).sum())},
                  timings={"factor_method": time.perf_counter() - started}, model_sign=1.0)


#: The allocation methods, by the name `allocate baseline --method` and :func:`allocate` take.
METHODS: dict[str, Method] = {"optimizer": solve, "factor": factor_method}


def allocate(scenario: Scenario, method: str = "optimizer", data: Data | None = None) -> Result:
    """Allocate with a named method (``"optimizer"`` or ``"factor"``); both return a :class:`Result`."""
    if method not in METHODS:
        raise InputError(f"unknown method '{method}'; use one of {', '.join(METHODS)}")
    return METHODS[method](scenario, data)


def _split(cost: float, held: np.ndarray, upper: np.ndarray, matching: list[tuple[int, list[int], float]]) -> np.ndarray | None:
    """Money per source for one project, or None when no split by this rule meets every per-project rule."""
    if upper.sum() < cost - ABSOLUTE_TOLERANCE_WAN * 0.5:
        return None
    split = _waterfill(cost, held, upper)
    for m, of, ratio in matching:
        need = ratio * split[of].sum() - split[m]
        if need <= 0:
            continue
        # Move delta from the matched sources to the matching one: m + delta >= ratio * (others - delta).
        delta = min(need / (1.0 + ratio), upper[m] - split[m])
        taken = split[of] / split[of].sum()
        split[of] -= delta * taken
        split[m] += delta
    split = np.clip(split, 0.0, upper)
    tolerance = 1e-9 * max(1.0, cost)
    if abs(split.sum() - cost) > tolerance:
        return None
    if any(split[m] < ratio * split[of].sum() - tolerance for m, of, ratio in matching):
        return None
    return split


def _waterfill(total: float, weights: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Split `total` in proportion to `weights`, none above its `upper`; the excess goes to the others alike."""
    split = np.zeros(len(upper))
    free = upper > 0
    remaining = total
    while remaining > 0 and free.any():
        w = np.where(free, np.maximum(weights, 0.0), 0.0)
        w = w if w.sum() > 0 else free.astype(float)
        give = remaining * w / w.sum()
        over = free & (split + give > upper)
        if not over.any():
            return split + give
        remaining -= float((upper[over] - split[over]).sum())
        split[over] = upper[over]
        free &= ~over
    return split


def _spec(scenario: Scenario) -> BaselineSpec:
    if scenario.baseline is None:
        raise InputError("the factor method needs a [baseline] table in the scenario, e.g.\n"
                         '[baseline]\nlevel = "province"\nfactors = { population = 0.5, households = 0.3, "inverse:local_capacity" = 0.2 }\n'
                         'floor = 0.01\ncap = 0.2\npriority = "priority"', source=str(scenario.path))
    return scenario.baseline


def _zone_of_group(data: Data, of_region: np.ndarray, count: int) -> np.ndarray:
    zones = np.empty(count, dtype=object)
    zones[of_region] = data.regions["zone"].to_numpy(dtype=object)
    return zones


def _capacities(rules: Rules) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per source: money it may still spend per capacity group (one unlimited group if none), and each project's group."""
    remaining, group_of = [], []
    for source in rules.sources:
        if source.capacity is None:
            remaining.append(np.array([np.inf]))
            group_of.append(np.zeros(len(rules.data.projects), dtype=np.int64))
            continue
        capacity = rules.capacity(source)
        remaining.append(capacity.limit)
        group_of.append(capacity.group_of_project)
    return remaining, group_of


def _version() -> str:
    try:
        return metadata.version("allocator")
    except metadata.PackageNotFoundError:
        return "unknown"

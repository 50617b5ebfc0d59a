"""The formula method planners use today (因素法), as a second allocation method beside the optimizer.

Both methods have one signature, ``method(scenario, data=None) -> Result``, and one result type, so a
run directory, a summary and ``allocate compare`` treat them alike (:data:`METHODS`).

The factor method, read from the scenario's ``[baseline]`` table:

1. The factors split the money of each source that matches nothing (central money, lottery money)
   between groups (province by default): ``share_g = sum_k w_k * factor_k(g) / sum_k w_k``, every
   factor normalised to a share of its total (``inverse:<column>`` takes the reciprocal first), then
   held within ``[floor, cap]`` and renormalised. Only groups with candidate projects (and, for a
   source limited to some zones, in those zones) share.
2. A matching source (local money) is not split by the formula: each project's local money is the
   rest of its cost, at least its matching ratio times the money it matches, within the source's
   budget and capacity.
3. Projects are taken in order: continuing, must_fund and kept (``[stability] keep``) projects first,
   then by priority (a projects column, highest first; ties by project_id); excluded projects never.
   A project is funded when its group's share pays its part: each split source pays the most it may
   (its subsidy standard exactly where it has one, else up to its share of cost and absolute cap), in
   proportion to what the group still holds, less what the matching rule moves to the matching source.
   A project that gets no split money, or whose split breaks a rule, is skipped and the next one tried.

The result meets every per-project rule, budgets and capacities, but need not meet statuses, counts,
targets or balance rules: those are reported (``Solution.message`` and ``details["unmet_rules"]``, which
the run's report.md and workbook list), not enforced. Its status is ``FormulaStatus.FORMULA`` and its
objective is :func:`allocator.model.objective.objective_value`, the optimizer's own objective evaluated
on the allocation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import metadata

import numpy as np
import pandas as pd

from allocator.backends import FormulaStatus, Solution
from allocator.checks import project_checks, rule_violations
from allocator.data import Data, load_data, numeric_column
from allocator.errors import InputError, VerificationError
from allocator.model.objective import objective_value
from allocator.results import Result
from allocator.rules import Rules, project_groups, region_groups
from allocator.scenario import INVERSE_PREFIX, BaselineSpec, Scenario, Source
from allocator.solve import solve

#: Every allocation method takes a scenario (and optionally its loaded data) and returns a Result.
Method = Callable[..., Result]
FACTOR_SOLVER = "factor-method"


def factor_shares(scenario: Scenario, data: Data) -> pd.DataFrame:
    """Per group: each factor's share, the weighted share before and after floor/cap, and the money (万元) of each
    source the factors split (:func:`split_sources`)."""
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
        # numbers only: a text column, or a cell such as n/a, read as 0 would shift every share unsaid
        values = numeric_column(data.regions, column, data.files["regions"].path, fill_empty=0.0)
        value = np.bincount(of_region, weights=values, minlength=len(labels))
        if name.startswith(INVERSE_PREFIX):
            value = np.divide(1.0, value, out=np.zeros_like(value), where=value > 0)
        value[~has_candidates] = 0.0
        total = value.sum()
        if total <= 0 and weight > 0:
            raise InputError(f"baseline factor '{name}' is 0 in every {spec.level} with candidates: its weight {weight:g} would "
                             "count for nothing", source=str(scenario.path), where="baseline.factors")
        table[f"factor:{name}"] = value / total if total > 0 else 0.0
        weighted += weight * table[f"factor:{name}"].to_numpy()
    weighted /= sum(spec.factors.values())
    table["weighted"] = weighted
    zone_of_group = _zone_of_group(data, of_region, len(labels))
    for source in split_sources(scenario):
        member = has_candidates & (np.ones(len(labels), dtype=bool) if source.zones is None else np.isin(zone_of_group, list(source.zones)))
        share = np.zeros(len(labels))
        share[member] = bounded_shares(weighted[member], spec.floor, spec.cap, where=f"source '{source.key}'")
        table[f"share:{source.key}"] = share
        table[source.key] = share * source.budget
    return table


def split_sources(scenario: Scenario) -> list[Source]:
    """The sources the factors split between groups: every one that matches no other (central, lottery money)."""
    return [source for source in scenario.sources.values() if source.matching is None]


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
    split = np.array([scenario.sources[k].matching is None for k in keys])
    group_of_project, _ = project_groups(data, spec.level)
    # groups x sources, 万元 still to give: a split source's share per group; a matching source's whole budget in each.
    holdings = np.array([shares[k].to_numpy(dtype=float) if split[s] else np.full(len(shares), scenario.sources[k].budget)
                         for s, k in enumerate(keys)]).T
    pool = np.array([np.inf if split[s] else scenario.sources[k].budget for s, k in enumerate(keys)])
    cost = projects["cost"].to_numpy(dtype=float)
    capacity, capacity_group = _capacities(rules)
    upper_by_rule = np.where(rules.eligible, np.minimum(rules.max_share_of_cost * cost[:, None], rules.absolute_caps), 0.0)
    fixed_by_standard = rules.standard_share * cost[:, None]
    matching = [(m.source, m.of, m.ratio) for m in rules.matching]

    selected = np.zeros(len(cost))
    money = np.zeros((len(cost), len(keys)))
    for p in _order(rules, projects[spec.priority], projects["project_id"]):
        g = group_of_project[p]
        room = np.array([min(holdings[g, s], pool[s], capacity[s][capacity_group[s][p]]) for s in range(len(keys))])
        if rules.declared[p]:
            amounts: np.ndarray | None = rules.requests[p] if (rules.requests[p] <= room + 1e-9).all() else None
        else:
            amounts = _project_split(cost[p], holdings[g], room, upper_by_rule[p], fixed_by_standard[p], split,
                                     [(m, of, ratio[p]) for m, of, ratio in matching])
        if amounts is None:
            continue
        selected[p] = 1.0
        money[p] = amounts
        holdings[g, split] -= amounts[split]
        pool[~split] -= amounts[~split]
        for s in range(len(keys)):
            capacity[s][capacity_group[s][p]] -= amounts[s]

    broken = [what for what, mask in project_checks(scenario, data, selected, money) if mask.any()]
    if broken:
        raise VerificationError(f"the factor method broke a per-project rule (a bug; nothing was written): {'; '.join(broken)}")
    unmet = rule_violations(scenario, data, selected, money)
    objective = objective_value(rules, selected[:, None], money)
    message = "formula allocation (factor method, 因素法), not an optimum" + (
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


def _order(rules: Rules, priority: pd.Series, ids: pd.Series) -> np.ndarray:
    """Projects in the order the formula funds them: continuing, must_fund and kept first, then by priority (highest
    first), ties by project_id; excluded projects left out."""
    first = rules.status_mask("continuing") | rules.status_mask("must_fund") | rules.kept
    value = pd.to_numeric(priority, errors="coerce").fillna(-np.inf).to_numpy(dtype=float)
    order = np.lexsort((ids.to_numpy(dtype=str), -value, ~first))
    return order[~rules.status_mask("exclude")[order]]


def _project_split(cost: float, held: np.ndarray, room: np.ndarray, upper: np.ndarray, standard: np.ndarray, split: np.ndarray,
                   matching: list[tuple[int, list[int], float]]) -> np.ndarray | None:
    """Money per source (万元) for one project, or None when the formula cannot fund it.

    Each split source pays its standard exactly where it has one, else the most it may (in proportion to what the
    group holds); the matching sources pay the rest, at least their ratio; matching moves money from the split
    sources that have no standard to the matching source."""
    upper = np.maximum(np.minimum(upper, room), 0.0)
    fixed = ~np.isnan(standard)
    amounts = np.zeros(len(upper))
    if (standard[fixed] > room[fixed] + 1e-9).any():
        return None
    amounts[fixed] = upper[fixed] = standard[fixed]
    free_split = split & ~fixed
    wanted = max(cost - amounts.sum(), 0.0)
    amounts[free_split] = _waterfill(min(wanted, upper[free_split].sum()), held[free_split], upper[free_split])
    rest = ~split & ~fixed
    amounts[rest] = _waterfill(max(cost - amounts.sum(), 0.0), upper[rest], upper[rest])
    for m, of, ratio in matching:
        movable = [s for s in of if free_split[s]]
        need = ratio * amounts[of].sum() - amounts[m]
        if need <= 0 or fixed[m] or not movable or amounts[movable].sum() <= 0:
            continue
        # Move delta from the matched sources to the matching one: m + delta >= ratio * (others - delta).
        delta = min(need / (1.0 + ratio), upper[m] - amounts[m], amounts[movable].sum())
        amounts[movable] -= delta * amounts[movable] / amounts[movable].sum()
        amounts[m] += delta
    tolerance = 1e-9 * max(1.0, cost)
    if amounts[split].sum() <= tolerance or abs(amounts.sum() - cost) > tolerance or (amounts > upper + tolerance).any():
        return None
    if any(amounts[m] < ratio * amounts[of].sum() - tolerance for m, of, ratio in matching):
        return None
    return np.clip(amounts, 0.0, None)


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

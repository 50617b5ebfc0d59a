"""What one more unit of each budget, target or rule is worth, in the objective's own terms.

- An LP (``selection = "continuous"``): the solver's row duals.
- A MIP: the duals of the LP left when every selection is fixed at its optimal value (they price money
  and rules for *this* set of projects), and for budgets also a finite difference: re-solve the MIP
  with the budget raised by a step (1亿 or 10% of the budget, whichever is smaller).

Every value is d(objective)/d(limit) in the scenario's own sense: for ``max_benefit`` the benefit gained
per unit the limit is loosened upward; for ``min_cost`` the change in money needed. Each row says which
method produced it.

Every solve here runs by the deadline of the whole solve: the re-solves share what the main solve left,
and those with too little time are skipped, each noted in the deadline's ``cut_short`` (the manifest).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from allocator.backends import Deadline, Solution, SolveStatus
from allocator.model import BuiltModel
from allocator.model.arrays import LinearModel, RowKind
from allocator.results import Result
from allocator.scenario import Scenario

BINDING_TOLERANCE = 1e-7
#: The finite-difference step: 1亿 or 10% of the budget, whichever is smaller (万元).
MAX_STEP_WAN = 10_000.0
#: A budget re-solve is skipped when its share of the time left is below this many seconds, or below what
#: the main solve took (a re-solve of the same MIP needs about as long).
MIN_RE_SOLVE_SECONDS = 0.2
COLUMNS = ["rule", "key", "group", "unit", "limit", "marginal_value", "per", "method", "binding"]
#: The rows the table prices: every budget, and the others where they bind.
PRICED = (RowKind.BUDGET, RowKind.MIN_SPEND, RowKind.CAPACITY, RowKind.COUNT, RowKind.SHARE_MIN, RowKind.SHARE_MAX, RowKind.INDICATOR)


def fixed_selection(model: LinearModel, values: np.ndarray) -> LinearModel:
    """The LP left when every integer variable is fixed at its (rounded) value."""
    lower, upper = model.col_lower.copy(), model.col_upper.copy()
    lower[model.integer] = upper[model.integer] = np.round(values[model.integer])
    return replace(model.relaxed(), col_lower=lower, col_upper=upper)


def re_solves(model: LinearModel, scenario: Scenario, finite_differences: bool) -> bool:
    """Will :func:`marginal_values` re-solve the MIP (finite differences on budgets)?"""
    return model.is_mip and finite_differences and scenario.phasing.periods == 1


def marginal_values(result: Result, solve_model: Callable[..., Solution], *, finite_differences: bool,
                    deadline: Deadline) -> pd.DataFrame:
    """The marginal-value table of a solved result (see the module docstring for methods and signs)."""
    built = result.model
    if built is None:
        return pd.DataFrame(columns=COLUMNS)
    model, scenario = built.linear, result.scenario
    if model.is_mip:
        lp = solve_model(fixed_selection(model, _values(result)), scenario.solver, deadline=deadline)
        duals, method = lp.row_duals, "fixed-selection LP dual"
        if duals is None and deadline.expired:
            deadline.note("marginal: fixed-selection LP duals skipped (time limit)")
    else:
        duals, method = result.solution.row_duals, "LP dual"
    rows = _dual_rows(result, duals, method) if duals is not None else []
    if re_solves(model, scenario, finite_differences):
        rows += _finite_differences(result, solve_model, deadline)
    return pd.DataFrame(rows, columns=COLUMNS)


def _dual_rows(result: Result, duals: np.ndarray, method: str) -> list[dict[str, object]]:
    """Read each rule's rows' duals as d(objective)/d(limit) in the scenario's sense: every budget, and the other
    rules where they bind."""
    model = _built(result).linear
    activity = model.A @ _values(result)
    value = model.objective_sign * duals
    at_bound = np.minimum(np.abs(activity - model.row_lower), np.abs(activity - model.row_upper)) <= 1e-6 * np.maximum(1.0, np.abs(activity))
    rows = model.row_frame(*PRICED, value=value, activity=activity, upper=model.row_upper,
                           binding=(np.abs(value) > BINDING_TOLERANCE) & at_bound)
    return [{**_describe_row(row, result), "binding": bool(row.binding), "method": method}
            for row in rows.itertuples(index=False) if row.kind == RowKind.BUDGET or row.binding]


def _describe_row(row: Any, result: Result) -> dict[str, object]:
    """A line of :meth:`LinearModel.row_frame` (kind, key, group, value, activity, upper) in the planner's words."""
    scenario, name, group, value = result.scenario, row.key, row.group, row.value
    match row.kind:
        case RowKind.BUDGET:
            return {"rule": f"budget of {name}", "key": f"sources.{name}.budget", "group": group, "unit": "万元",
                    "limit": row.upper, "marginal_value": value, "per": "万元"}
        case RowKind.MIN_SPEND:
            return {"rule": f"minimum spend of {name}", "key": f"sources.{name}.min_spend", "group": "", "unit": "万元",
                    "limit": scenario.sources[name].min_spend, "marginal_value": value, "per": "万元"}
        case RowKind.CAPACITY:
            capacity = scenario.sources[name].capacity
            assert capacity is not None, name  # a capacity row comes from a source's capacity
            return {"rule": f"capacity of {name}", "key": capacity.column, "group": group, "unit": "万元",
                    "limit": row.upper, "marginal_value": value, "per": "万元"}
        case RowKind.COUNT:
            count = scenario.counts[name]
            limit = count.min if count.min is not None and abs(row.activity - count.min) < 1e-6 else count.max
            return {"rule": f"count {name}", "key": f"targets.counts.{name}", "group": "", "unit": "projects",
                    "limit": limit, "marginal_value": value, "per": "project"}
        case RowKind.SHARE_MIN | RowKind.SHARE_MAX:
            rule = scenario.shares[name]
            total = float(result.money[:, _built(result).rules.share_sources(rule)].sum())
            bound = "min" if row.kind == RowKind.SHARE_MIN else "max"
            # The row is sum (1[member] - bound) * money >= 0 (or <= 0): d(row)/d(bound) = -total money.
            return {"rule": f"share {name}", "key": f"balance.shares.{name}.{bound}", "group": "", "unit": "share",
                    "limit": getattr(rule, bound), "marginal_value": -value * total * 0.01, "per": "percentage point"}
        case RowKind.INDICATOR:
            indicator = scenario.indicators[name]
            return {"rule": f"target {name}", "key": f"targets.indicators.{name}.target", "group": group, "unit": "indicator",
                    "limit": indicator.target, "marginal_value": value, "per": "indicator unit"}
    raise AssertionError(f"no description for rows of kind {row.kind}")


def _finite_differences(result: Result, solve_model: Callable[..., Solution], deadline: Deadline) -> list[dict[str, object]]:
    """Re-solve the MIP with each budget raised by its step, each in an equal share of the time left."""
    model, scenario = _built(result).linear, result.scenario
    steps = _budget_steps(result)
    needed = max(MIN_RE_SOLVE_SECONDS, result.solution.seconds)
    rows = []
    for done, (row, name, step) in enumerate(steps):
        share = deadline.left() / (len(steps) - done)
        if share < needed:
            deadline.note(f"marginal: {len(steps) - done} of {len(steps)} budget re-solves skipped (time limit)")
            break
        upper = model.row_upper.copy()
        upper[row] += step
        answer = solve_model(replace(model, row_upper=upper), scenario.solver, deadline=deadline.portion(share))
        if answer.status is not SolveStatus.OPTIMAL:
            deadline.note(f"marginal: the re-solve for the budget of {name} ended {answer.status.value} in its {share:.1f} s")
        if not answer.status.has_solution:
            continue
        assert answer.objective is not None and result.solution.objective is not None  # both found an allocation
        gain = model.objective_sign * (answer.objective - result.solution.objective)
        gap = "gap not measured" if answer.mip_gap is None else f"gap {answer.mip_gap:.1e}"
        rows.append({"rule": f"budget of {name}", "key": f"sources.{name}.budget", "group": "", "unit": "万元",
                     "limit": scenario.sources[name].budget, "marginal_value": gain / step, "per": "万元",
                     "method": f"finite difference (+{step:,.2f}万元, MIP re-solved, {gap})",
                     "binding": bool(abs(gain) > BINDING_TOLERANCE)})
    return rows


def _budget_steps(result: Result) -> list[tuple[int, str, float]]:
    """Each budget to raise: its row, its source and its step (1亿 or 10% of the budget, whichever is smaller)."""
    steps = []
    for block in _built(result).linear.rows(RowKind.BUDGET):
        step = min(MAX_STEP_WAN, 0.1 * result.scenario.sources[block.key].budget)
        if step > 0:
            steps.append((block.start, block.key, step))
    return steps


def _built(result: Result) -> BuiltModel:
    """The optimizer's model behind `result` (marginal values are computed only for such results)."""
    assert result.model is not None, "marginal values of a result the optimizer did not make"
    return result.model


def _values(result: Result) -> np.ndarray:
    """The solved column values behind `result`."""
    assert result.solution.values is not None, result.status
    return result.solution.values


def binding_rules_text(table: pd.DataFrame) -> str:
    """The binding rules of a marginal-value table, one line each, most valuable first."""
    binding = table[table["binding"]].copy()
    if binding.empty:
        return "No budget or rule binds: loosening any of them would not change the result."
    binding["size"] = binding["marginal_value"].abs()
    lines = ["Binding rules (loosening them would change the result), with d(objective)/d(limit):"]
    for row in binding.sort_values(["size", "rule"], ascending=[False, True]).itertuples():
        where = f" in {row.group}" if row.group else ""
        lines.append(f"  - {row.rule}{where} (limit {row.limit:,.6g}): {row.marginal_value:+,.6g} per {row.per}   [{row.method}]")
    return "\n".join(lines)

"""What each rule of a plan is worth: relax it by one step (allocator.relaxations) and see the objective move.

One row per hard rule (per row of it: a budget per year, a capacity per province, a minimum per region, a hard
target per group) and one per soft target with a shortfall. Each row has one value a planner reads,
``marginal_value``: the change of the scenario's objective per unit of the rule's step (benefit for
``max_benefit``, money for ``min_cost``), and ``gain`` for the whole step. Its ``method`` says in plain words how it was
obtained, ``technical_method`` exactly:

- an LP (``selection = "continuous"``): the row's dual, exact per unit;
- a MIP: the model re-solved with the rule relaxed by its step, started from the plan (a finite difference, within the
  solver's gaps) for every budget and every scenario-wide rule the plan uses up (a count, a share, a minimum spend), and
  with ``--marginal full`` (``allocate explain``) also every used-up row of a per-group rule (a capacity per province, a
  minimum per region, a target per group), largest dual first; a rule the plan does not use up is not re-solved
  (relaxing it leaves the plan feasible and, but for lumpy projects, optimal), nor is a row past the limit on re-solves;
- a soft target: re-solved with the target made hard; the gain is what meeting it in every group would cost (its
  penalty weight is not a price), or the row says it cannot be met under the other rules.

``lp_dual`` keeps, as a technical column, the dual of the LP with the selection fixed (for a MIP) or of the LP.
``binding`` is true only when the plan uses the rule up (money to within half the printed precision) and relaxing
it improves the objective by more than the solvers' gaps could explain: a budget with money left is never binding.

Every solve here runs by the deadline of the whole solve: the re-solves share what the main solve left, and those with
too little time are skipped, each noted in the deadline's ``cut_short`` (the manifest); their rows fall back to the dual.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from allocator.backends import Deadline, Solution, SolveStatus
from allocator.model import BuiltModel
from allocator.marginal_modes import ReSolveScope
from allocator.marginal_table import (BINDING_TOLERANCE, CANNOT_CLOSE, CLOSED, COLUMNS, LP_DUAL, NOT_PRICED, RE_SOLVED, ROUND_OFF,
                                      SELECTION_DUAL, SLACK, as_printed)
from allocator.model.arrays import LinearModel, RowKind
from allocator.relaxations import Relaxation, relaxations
from allocator.results import Result
from allocator.scenario import Scenario

#: A re-solve is skipped when its share of the time left is below this many seconds, or below what the main solve
#: took (a re-solve of the same MIP, started from the plan, needs at most about as long).
MIN_RE_SOLVE_SECONDS = 0.2
#: At most this many MIP re-solves: budgets and soft targets first, then the used-up rules by their dual.
MAX_RE_SOLVES = 60


def fixed_selection(model: LinearModel, values: np.ndarray) -> LinearModel:
    """The LP left when every integer variable is fixed at its (rounded) value."""
    lower, upper = model.col_lower.copy(), model.col_upper.copy()
    lower[model.integer] = upper[model.integer] = np.round(values[model.integer])
    return replace(model.relaxed(), col_lower=lower, col_upper=upper)


def re_solves(model: LinearModel, scenario: Scenario, scope: ReSolveScope) -> bool:
    """Will :func:`marginal_values` re-solve the model (a MIP's rules, or an LP's soft targets)? Never for a phased plan."""
    return scope != "none" and scenario.phasing.periods == 1 and (model.is_mip or bool(scenario.indicators))


def marginal_values(result: Result, solve_model: Callable[..., Solution], *, scope: ReSolveScope, deadline: Deadline) -> pd.DataFrame:
    """The marginal-value table of a solved result: one row per hard rule (per row of it), one per soft target with
    a shortfall (see the module docstring for the methods and their signs)."""
    built = result.model
    if built is None:
        return pd.DataFrame(columns=COLUMNS)
    model, values = built.linear, _values(result)
    found = relaxations(built, values, money_tolerance=0.5 * result.precision.unit_wan)
    duals, dual_method = _duals(result, solve_model, deadline)
    answers = _re_solve(result, found, duals, solve_model, scope, deadline) if re_solves(model, result.scenario, scope) else {}
    table = pd.DataFrame([_priced(result, relaxation, duals, dual_method, answers.get(index))
                          for index, relaxation in enumerate(found)], columns=COLUMNS)
    return as_printed(table, result.by_source, result.by_province, result.by_region, result.precision.decimals)


def _duals(result: Result, solve_model: Callable[..., Solution], deadline: Deadline) -> tuple[np.ndarray | None, str]:
    """The row duals that price the rules: the LP's own, or for a MIP those of the LP left when the selection is fixed."""
    model = _built(result).linear
    if not model.is_mip:
        return result.solution.row_duals, "LP dual"
    lp = solve_model(fixed_selection(model, _values(result)), result.scenario.solver, deadline=deadline)
    if lp.row_duals is None and deadline.expired:
        deadline.note("marginal: fixed-selection LP duals skipped (time limit)")
    return lp.row_duals, "fixed-selection LP dual"


def _dual_value(result: Result, relaxation: Relaxation, duals: np.ndarray | None) -> float:
    """The change of the scenario's objective per unit of `relaxation`'s step, read from the row's dual."""
    if duals is None or relaxation.row < 0:
        return float("nan")
    return float(_built(result).linear.objective_sign * duals[relaxation.row] * relaxation.dual_scale)


def _re_solve(result: Result, found: list[Relaxation], duals: np.ndarray | None, solve_model: Callable[..., Solution],
              scope: ReSolveScope, deadline: Deadline) -> dict[int, Solution]:
    """Re-solve the model once per relaxation worth it (:func:`_worth_re_solving`), each in an equal share of the time
    left but at least what the main solve took, and, for a relaxation, from the plan itself (it stays feasible);
    keyed by the relaxation's index. Stops when less than that is left."""
    model, scenario = _built(result).linear, result.scenario
    chosen = _worth_re_solving(result, found, duals, scope)
    needed = max(MIN_RE_SOLVE_SECONDS, result.solution.seconds)
    answers: dict[int, Solution] = {}
    for done, index in enumerate(chosen):
        left = deadline.left()
        if left < needed:
            deadline.note(f"marginal: {len(chosen) - done} of {len(chosen)} re-solves skipped (time limit)")
            break
        share = max(left / (len(chosen) - done), needed)
        relaxation = found[index]
        start = None if relaxation.soft else _values(result)
        answer = solve_model(relaxation.apply(model), scenario.solver, deadline=deadline.portion(share), start=start)
        if answer.status not in (SolveStatus.OPTIMAL, SolveStatus.INFEASIBLE):
            deadline.note(f"marginal: the re-solve for {relaxation.rule} ended {answer.status.value} in its {share:.1f} s")
        answers[index] = answer
    return answers


def _worth_re_solving(result: Result, found: list[Relaxation], duals: np.ndarray | None, scope: ReSolveScope) -> list[int]:
    """Which relaxations to re-solve, most telling first, at most MAX_RE_SOLVES: every soft target (closing one needs a
    re-solve even in an LP); in a MIP also every budget, then the scenario-wide rules the plan uses up (counts, shares,
    minimum spends), then (scope "every") the used-up rows of per-group rules by the size of their dual."""
    soft = [i for i, r in enumerate(found) if r.soft]
    if not _built(result).linear.is_mip:
        return soft[:MAX_RE_SOLVES]
    budgets = [i for i, r in enumerate(found) if r.kind is RowKind.BUDGET]
    used_up = [i for i, r in enumerate(found) if r.tight and not r.soft and r.kind is not RowKind.BUDGET]
    wide = [i for i in used_up if not _per_group(found[i])]
    grouped = sorted((i for i in used_up if _per_group(found[i])), key=lambda i: -abs(np.nan_to_num(_dual_value(result, found[i], duals))))
    return (budgets + soft + wide + (grouped if scope == "every" else []))[:MAX_RE_SOLVES]


def _per_group(relaxation: Relaxation) -> bool:
    """A row of a rule with one row per province, region or group (a capacity, a minimum per region, a scoped target)."""
    per_group = (RowKind.CAPACITY, RowKind.MIN_PER_REGION, RowKind.INDICATOR, RowKind.PER_RESIDENT_MIN, RowKind.PER_RESIDENT_MAX,
                 RowKind.ZONE_GAP)
    return relaxation.kind in per_group and relaxation.group not in ("", "national")


def _priced(result: Result, relaxation: Relaxation, duals: np.ndarray | None, dual_method: str,
            answer: Solution | None) -> dict[str, object]:
    """One line of the table: the rule in the planner's words, what the plan uses of it, and what its step is worth."""
    dual = _dual_value(result, relaxation, duals)
    value, method, technical = _value(result, relaxation, dual, dual_method, answer)
    value += 0.0  # no -0.0 in the table
    gain = value * relaxation.step
    noise = gap_noise(result, answer)
    improvement = -_built(result).linear.objective_sign * gain  # > 0: better in the scenario's own sense
    return {"label": relaxation.label, "group": relaxation.group, "unit": relaxation.unit, "limit": relaxation.limit,
            "used": relaxation.used, "shortfall": relaxation.shortfall, "used_up": relaxation.tight,
            "binding": bool(relaxation.tight and np.isfinite(improvement) and improvement > max(noise, BINDING_TOLERANCE)),
            "marginal_value": value, "per": relaxation.per, "step": relaxation.step, "gain": gain, "method": method,
            "fix": relaxation.fix, "rule": relaxation.rule, "key": relaxation.key, "lp_dual": dual, "technical_method": technical}


def _value(result: Result, relaxation: Relaxation, dual: float, dual_method: str,
           answer: Solution | None) -> tuple[float, str, str]:
    """(value per unit of the step, the planner's method, the technical method) of one relaxation."""
    if answer is not None and answer.status.has_solution:
        assert answer.objective is not None and result.solution.objective is not None  # both found an allocation
        model = _built(result).linear
        before = result.solution.objective
        if relaxation.soft:  # compare with the plan's objective less this target's penalty: the penalty is not a price
            assert relaxation.columns is not None
            before -= float(model.c[relaxation.columns] @ _values(result)[relaxation.columns])
        gain = model.objective_sign * (answer.objective - before)
        if abs(gain) <= ROUND_OFF * max(1.0, abs(answer.objective)):
            gain = 0.0  # the same optimum, up to round-off
        gap = "gap not measured" if answer.mip_gap is None else f"gap {answer.mip_gap:.1e}"
        what = "closed" if relaxation.soft else f"+{relaxation.step:,.6g} {relaxation.per}"
        return gain / relaxation.step, CLOSED if relaxation.soft else RE_SOLVED, f"finite difference ({what}, re-solved, {gap})"
    if answer is not None and answer.status is SolveStatus.INFEASIBLE and relaxation.soft:
        return float("nan"), CANNOT_CLOSE, "re-solve with the target hard: infeasible"
    if relaxation.soft or np.isnan(dual):
        return float("nan"), NOT_PRICED, "not priced"
    if not _built(result).linear.is_mip:
        return dual, LP_DUAL, dual_method
    return dual, SELECTION_DUAL if relaxation.tight else SLACK, dual_method


def gap_noise(result: Result, answer: Solution | None) -> float:
    """How far apart two objectives may be by the solver's proven gaps alone (0 for an LP)."""
    if answer is None or not _built(result).linear.is_mip:
        return 0.0
    noise = 0.0
    for solution in (result.solution, answer):
        if solution.objective is not None and solution.mip_gap is not None:
            noise += solution.mip_gap * abs(solution.objective)
    return noise


def _built(result: Result) -> BuiltModel:
    """The optimizer's model behind `result` (marginal values are computed only for such results)."""
    assert result.model is not None, "marginal values of a result the optimizer did not make"
    return result.model


def _values(result: Result) -> np.ndarray:
    """The solved column values behind `result`."""
    assert result.solution.values is not None, result.status
    return result.solution.values

"""The workbench's longer jobs, in a worker process of the warm pool: a budget sweep written as ``allocate sweep`` writes
it, and ``allocate explain``'s ranking of the rules that shape a plan. Engine only: no web code is imported here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Longest wait for a worker's job (a solve, a sweep, an explain), in seconds, beyond the time limits of its solves.
GRACE = 600.0
#: 万元 in one 亿元: "what one more 亿 is worth" is the marginal value per 万元 times this.
WAN_PER_YI = 10_000.0


@dataclass(frozen=True)
class SweepOutcome:
    """A sweep's directory under runs/, or the error that stopped it before anything was written."""

    folder: Path | None = None
    error: str = ""


def sweep_job(scenario_file: Path, overrides: list[str], vary: str, runs: Path) -> SweepOutcome:
    """``allocate sweep SCENARIO --set … --vary VARY`` with the sweep directory ``runs/sweep-<scenario>-<time>``."""
    from allocator.errors import AllocatorError
    from allocator.outdir import Target, check
    from allocator.rundir import inputs_of
    from allocator.scenario_toml import load_scenario
    from allocator.sweep import checked_points, default_sweep_dir, parse_vary, sweep

    try:
        scenario = load_scenario(scenario_file, overrides)
        axes = [parse_vary(vary)]
        checked = checked_points(scenario, axes)
        target = Target(default_sweep_dir(scenario.path, root=runs), kind="sweep", unique=True, inputs=inputs_of(scenario))
        check(target)
        result = sweep(scenario, axes, out=target.path, unique=True, checked=checked)
    except AllocatorError as exc:
        return SweepOutcome(error=" ".join(str(exc).split()))
    return SweepOutcome(folder=result.out)


@dataclass(frozen=True)
class Rule:
    """One row of the marginal table as the explain page shows it (allocator.marginal_table's columns)."""

    label: str
    used: float
    limit: float
    unit: str
    step: float
    per: str
    gain: float
    method: str
    fix: str
    used_up: bool


@dataclass(frozen=True)
class Budget:
    """A source's budget: the objective gained per 万元 of it, per 亿 (that rate times 10,000) and by its own step."""

    label: str
    key: str
    per_wan: float
    per_yi: float
    step: float
    gain: float
    method: str
    fix: str


@dataclass(frozen=True)
class Explained:
    """``allocate explain`` of a feasible scenario: its text, its binding rules ranked, and what each budget is worth."""

    text: str = ""
    unit: str = ""
    binding: list[Rule] = field(default_factory=list)
    budgets: list[Budget] = field(default_factory=list)
    error: str = ""


def explain_job(scenario_file: Path, overrides: list[str]) -> Explained:
    """Solve `scenario_file` with `overrides` as ``allocate explain`` does (every marginal value re-solved)."""
    from allocator.errors import AllocatorError, SolveFailed
    from allocator.explain import explanation
    from allocator.marginal_table import ranked
    from allocator.scenario_toml import load_scenario
    from allocator.solve import solve, solve_model

    try:
        result = solve(load_scenario(scenario_file, overrides), marginal="full")
    except SolveFailed as failure:
        return Explained(error=f"{failure.status}: " + " ".join(str(failure).split()))
    except AllocatorError as exc:
        return Explained(error=" ".join(str(exc).split()))
    table = result.marginal
    if table is None or not len(table):
        return Explained(text=explanation(result, solve_model), error="no marginal values")
    order = ranked(table, result.scenario.sense)  # binding rules first, by the gain of their step, as explain lists them
    binding = [_rule(row) for row in order[order["binding"].astype(bool)].to_dict("records")]
    budgets = [_budget(row) for row in table.to_dict("records") if str(row["key"]).startswith("sources.") and str(row["key"]).endswith(".budget")]
    return Explained(text=explanation(result, solve_model), unit=result.objective_unit or "", binding=binding, budgets=budgets)


def _rule(row: dict[str, Any]) -> Rule:
    return Rule(label=str(row["label"]), used=float(row["used"]), limit=float(row["limit"]), unit=str(row["unit"]), step=float(row["step"]),
                per=str(row["per"]), gain=float(row["gain"]), method=str(row["method"]), fix=str(row["fix"]), used_up=bool(row["used_up"]))


def _budget(row: dict[str, Any]) -> Budget:
    """A budget's row; its rate per 亿 when the rate is per 万元 (a budget per year is named with its year)."""
    rate, group = float(row["marginal_value"]), row["group"]
    label = str(row["label"]) if not isinstance(group, str) or not group or group in str(row["label"]) else f"{row['label']}（{group}）"
    return Budget(label=label, key=str(row["key"]), per_wan=rate, per_yi=rate * WAN_PER_YI if row["per"] == "万元" else math.nan,
                  step=float(row["step"]), gain=float(row["gain"]), method=str(row["method"]), fix=str(row["fix"]))

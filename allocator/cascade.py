"""``allocate cascade``: the programme as two levels of government run it (central → province → project).

Stage 1 divides each source between provinces: a source matched by no other (central and lottery money) by the factor
formula of the scenario's ``[baseline]`` (allocator/baseline.py, level ``province``); a matching source (local money)
is each province's own: its capacity when the source has one per province (all capacities scaled down together when
they add up to more than the budget), else its factor share of the budget.
Stage 2 gives each province the scenario cut to its own regions and projects (allocator/importing/derived.py), with
those budgets, each national count's maximum cut to the province as a quota ceiling (its minimum dropped: a province is
not made to fund what its share cannot pay for), and solves it on its own. A province with no candidate projects gets
no money, as the formula baseline gives it a share of 0.
The provinces' plans together are the cascade's allocation, checked against every national rule: the rules it breaks
are reported, not enforced, as for the formula baseline. A province whose solve finds no allocation is named, with
why, in the message and ``details["no_allocation"]``, and its diagnosis is written under ``runs/<province>``: the plan
is then incomplete (``allocate cascade`` exits 3). ``allocate compare`` sets it beside the national optimum:
the price of deciding in two stages.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from allocator.backends import FormulaStatus, Solution
from allocator.baseline import factor_shares
from allocator.checks import rule_violations
from allocator.cluster import local_pool
from allocator.data import Data, load_data
from allocator.errors import InputError, SolveFailed
from allocator.importing.derived import derive_document, toml_text
from allocator.model.objective import objective_value
from allocator.results import Result
from allocator.rules import Rules
from allocator.runformat.tables import write_csv
from allocator.scenario import Scenario
from allocator.scenario_toml import load_scenario
from allocator.solve import solve

CASCADE_SOLVER = "cascade"
#: Said under a province's diagnosis: its changes are to the province's own scenario, not to the national one.
PROVINCE_NOTE = ("(This is the province's own scenario in stage 2 of allocate cascade: its budgets are the money stage 1 "
                 "gave it; a --set named here changes the province's cut, not the national scenario.)")


@dataclass(frozen=True)
class NoAllocation:
    """A province whose stage-2 solve found no allocation: its scenario and why (the fields of the SolveFailed, which
    does not survive the trip back from a worker process; the report ends with :data:`PROVINCE_NOTE`)."""

    scenario: Scenario
    status: str
    message: str
    report: str
    progress: dict[str, object] | None

    def failure(self) -> SolveFailed:
        """The failure, for its diagnosis.md (allocator.rundir.write_failure)."""
        return SolveFailed(self.message, status=self.status, report=self.report, progress=self.progress)


@dataclass
class Cascade:
    """The combined allocation (a Result whose ``solution.details["provinces"]`` is cascade.csv), each province's own,
    and the provinces that found none."""

    result: Result
    provinces: dict[str, Result]
    failed: dict[str, NoAllocation]


def cascade(scenario: Scenario, data: Data | None = None, *, workers: int | None = None) -> Cascade:
    """The two-stage allocation of `scenario` (module docstring); the provinces are solved in `workers` processes (default:
    one per CPU)."""
    started = time.perf_counter()
    data = load_data(scenario) if data is None else data
    budgets = province_budgets(scenario, data)
    keys = list(scenario.sources)
    ids = data.projects["project_id"].astype(str).to_numpy()
    position = {project: i for i, project in enumerate(ids)}
    selected, money = np.zeros(len(ids)), np.zeros((len(ids), len(keys)))
    rows: list[dict[str, object]] = []
    plans: dict[str, Result] = {}
    failed: dict[str, NoAllocation] = {}
    with tempfile.TemporaryDirectory(prefix="allocate-cascade-") as work:
        folders = {str(province): province_scenario(scenario, str(province), amounts, Path(work) / f"p{i}")
                   for i, (province, amounts) in enumerate(budgets.iterrows())}
        outcomes = _solve_all(folders, workers)
    for province, amounts in budgets.iterrows():
        row: dict[str, object] = {"province": province, **{f"budget:{k}": float(amounts[k]) for k in keys}}
        plan = outcomes[str(province)]
        if isinstance(plan, NoAllocation):
            failed[str(province)] = plan
            row.update(status=plan.status, candidates=int((data.projects["province"] == province).sum()), funded=0, objective=float("nan"))
            rows.append(row)
            continue
        plans[str(province)] = plan
        where = np.array([position[str(p)] for p in plan.data.projects["project_id"]])
        selected[where] = plan.selected
        money[where] = plan.money  # exact, not the rounded allocation.csv: the national rules are checked on it
        row.update(status=plan.status.value, candidates=len(where), funded=float(plan.selected.sum()), objective=plan.objective,
                   **{f"used:{k}": float(plan.money[:, i].sum()) for i, k in enumerate(keys)})
        rows.append(row)
    table = pd.DataFrame(rows)
    rules = Rules(scenario, data)
    unmet = rule_violations(scenario, data, selected, money)
    objective = objective_value(rules, selected[:, None], money)
    message = ("two-stage allocation (cascade): money split between provinces by the factor formula, then each province's "
               "projects chosen by the optimizer with its share; not a national optimum" +
               (f"; {len(failed)} of {len(table)} provinces found no allocation, so the plan is incomplete: " +
                ", ".join(f"{province} ({plan.status})" for province, plan in failed.items()) if failed else "") +
               (f"; it breaks {len(unmet)} national rule(s): " + "; ".join(unmet) if unmet else "; it meets every national rule"))
    missing = [{"province": province, "status": plan.status, "why": plan.report} for province, plan in failed.items()]
    solution = Solution(status=FormulaStatus.CASCADE, solver=CASCADE_SOLVER, solver_version="allocator cascade", objective=objective,
                        seconds=time.perf_counter() - started, message=message,
                        details={"provinces": table, "unmet_rules": unmet, "no_allocation": missing})
    combined = Result(scenario=scenario, data=data, solution=solution, selected=selected, money=money, indicator_groups=rules.indicator_groups,
                      model_size={"projects": len(ids), "provinces": len(table)}, timings={"cascade": time.perf_counter() - started},
                      model_sign=1.0)
    return Cascade(combined, plans, failed)


def province_budgets(scenario: Scenario, data: Data) -> pd.DataFrame:
    """Stage 1: per province (rows, in the factor table's order) each source's money for it (万元)."""
    if scenario.baseline is None or scenario.baseline.level != "province":
        raise InputError("allocate cascade splits money between provinces by the [baseline] factors: give the scenario a "
                         '[baseline] table with level = "province"', source=str(scenario.path), where="baseline.level")
    shares = factor_shares(scenario, data).set_index("province")
    shares = shares[shares.index.isin(data.projects["province"])]  # a province without candidates gets nothing (share 0)
    budgets = pd.DataFrame(index=shares.index)
    for key, source in scenario.sources.items():
        if source.matching is None:
            budgets[key] = shares[key]
        elif source.capacity is not None and source.capacity.by == "province":
            # 万元 (the tables are read into 万元), scaled down together when the provinces could put in more than the budget
            capacity = data.regions.groupby("province")[source.capacity.column].sum().reindex(shares.index).fillna(0.0).to_numpy(dtype=float)
            budgets[key] = capacity * min(1.0, source.budget / capacity.sum()) if capacity.sum() > 0 else 0.0
        else:
            budgets[key] = shares["weighted"] * source.budget
    first_code = data.regions.groupby("province")["region_id"].min()  # division-code order: 北京, 天津, 河北, …
    budgets = budgets.loc[sorted(budgets.index, key=lambda province: str(first_code.get(province, "")))]
    return budgets[budgets.sum(axis=1) > 0]


def province_scenario(scenario: Scenario, province: str, amounts: pd.Series, folder: Path) -> Path:
    """Stage 2's scenario for one province, written into `folder`: its cut of the scenario with its budgets and count
    ceilings; returns the scenario file."""
    derived = derive_document(scenario.document, [province], scenario.path)
    values = derived.values
    for key in scenario.sources:
        source = values["sources"][key]
        source.pop("budget_by_year", None)
        source.pop("min_spend", None)
        source["budget"] = f"{max(float(amounts[key]), 0.0):.4f}万"
    counts = values.get("targets", {}).get("counts", {})
    for name in list(counts):  # a province gets a ceiling (its cut of the national maximum), never a floor it may not afford
        counts[name].pop("min", None)
        if "max" not in counts[name]:
            del counts[name]
    values.pop("baseline", None)
    values.setdefault("solver", {})["time_limit"] = scenario.solver.time_limit
    folder.mkdir(parents=True)
    (folder / "scenario.toml").write_text(toml_text(values, {}), encoding="utf-8")
    write_csv(derived.regions, folder / "regions.csv")
    write_csv(derived.projects, folder / "projects.csv")
    return folder / "scenario.toml"


def _solve_all(scenarios: dict[str, Path], workers: int | None) -> dict[str, Result | NoAllocation]:
    """Each province's scenario solved in a process of its own (at most `workers` at once): its result, or why it found
    no allocation."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(scenarios)))
    if workers == 1:
        return {province: solve_province(path) for province, path in scenarios.items()}
    with local_pool(workers) as pool:
        futures = {province: pool.submit(solve_province, path) for province, path in scenarios.items()}
        return {province: future.result() for province, future in futures.items()}


def solve_province(path: Path) -> Result | NoAllocation:
    """One province's plan (in a worker process), or why its solve found none."""
    scenario = load_scenario(path)
    try:
        return solve(scenario, marginal="none")
    except SolveFailed as failure:
        return NoAllocation(scenario, failure.status, str(failure), f"{failure.report}\n{PROVINCE_NOTE}", failure.progress)

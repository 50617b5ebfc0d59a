"""Replay a plan many times under uncertain inputs: matching money that does not all arrive, cost
overruns and late starts (the scenario's ``[uncertainty]`` table; docs/simulation.md).

The rule of one draw, for each funded project p (money in 万元, from the plan):

* ``other_p``: its money from every source but the matching source (central, lottery), which arrives
  in full; ``need_p = cost_p x selected_p x overrun_p - other_p``: what the matching source must pay.
* The matching source pays from a pool. With a ``capacity`` (per province or region) the pool of a
  group is ``sum over its regions of arrival_share x capacity``: promised money arrives at the share
  of the draw, and a shortfall (or an overrun) is covered from the part of the capacity the plan did
  not promise, which arrives at the same share. The group pays its projects in the plan's order
  (start year, then the allocation table's order), each in full while the pool lasts; the first it
  cannot pay in full gets what is left, the later ones nothing. Without a capacity each project is its
  own pool: ``arrival_share x its promised matching money``.
* A project whose received money is below ``need_p`` falls short. Under ``stall_rule = "stall"`` it
  is never completed and everything put into it (``other_p`` + what the pool paid) is stranded;
  under ``"late"`` it is completed after the plan: nothing is stranded, but it counts toward no target.
* With ``delay_probability`` (phased plans only) a project starts one year late; one that then
  finishes after the plan's last year, or after an indicator's deadline, does not count there.
* The realised objective of a draw is the model's own (allocator.model.objective.objective_value) on
  what the draw completes within the plan, at its realised start: for ``max_benefit`` the benefit of
  those projects (per-type caps applied) less the soft-target penalties of the indicators the draw
  achieves (``benefit_realised``); for ``min_cost`` the money put in (``other_p`` + what the pool paid,
  stalled projects included) plus those penalties (``cost_realised``).

Draw ``i`` uses ``SeedSequence(seed, spawn_key=(i,))``, so the outcome does not depend on how draws are
split into chunks or across workers; chunks run on a local process pool or on a Dask cluster.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from allocator.backends import FormulaStatus
from allocator.cluster import engine, in_order
from allocator.data import Data, load_data
from allocator.model.objective import objective_value
from allocator.errors import InputError
from allocator.results import Result
from allocator.rules import IndicatorGroups, Rules, project_groups, region_groups, target_met
from allocator.outdir import Target, staged
from allocator.rundir import inputs_of
from allocator.runformat.markdown import escape_markdown, markdown_table
from allocator.runformat.run import Run, read_run
from allocator.runformat.tables import write_csv
from allocator.scenario import Scenario, StallRule, Triangular, Uncertainty
from allocator.scenario_toml import load_scenario, with_overrides
from allocator.warm import feasible_start

#: Indicators with more groups than this are summarised by the number of groups meeting the target.
MAX_GROUP_COLUMNS = 40
#: A project falls short when it receives less than its need by more than this share of its cost.
TOLERANCE = 1e-9
YUAN_PER_WAN = 10_000


# --------------------------------------------------------------------------------------------------
# Plans: what was decided, per candidate project, in the order of data.projects


@dataclass
class Plan:
    name: str
    selected: np.ndarray  # per candidate, 0..1
    start: np.ndarray  # per candidate, start period (0-based), -1 when not funded
    money: np.ndarray  # candidates x sources, 万元
    objective: float
    indicators: pd.DataFrame | None = None  # the plan's own indicators table (deterministic)
    values: np.ndarray | None = None  # the plan as its model's columns, when solved here: a warm start for a re-solve


def plan_from_result(result: Result, name: str = "nominal") -> Plan:
    start = np.where(result.selected > 0, result.starts.argmax(axis=1), -1)
    return Plan(name=name, selected=result.selected.astype(float), start=start, money=result.money.copy(),
                objective=result.objective, indicators=result.indicators, values=result.solution.values)


def plan_from_run(run: Run, scenario: Scenario, data: Data, name: str = "nominal") -> Plan:
    """A plan read back from a run directory, aligned with `data`'s candidates by project_id."""
    if not run.has_allocation:
        raise InputError(f"the run has no allocation (status {run.status}); nothing to simulate", source=str(run.path))
    allocation = run.allocation.set_index("project_id")
    ids = data.projects["project_id"].astype(str)
    missing = ~ids.isin(allocation.index)
    if missing.any() or len(allocation) != len(ids):
        raise InputError(f"the run's allocation.csv does not list the scenario's {len(ids):,} candidates "
                         f"(e.g. {ids[missing].iloc[0] if missing.any() else 'extra rows'}); the data changed since the run",
                         source=str(run.path))
    allocation = allocation.loc[ids]
    keys = list(scenario.sources)
    absent = [k for k in keys if k not in allocation]
    if absent:
        raise InputError(f"allocation.csv has no money column for source '{absent[0]}'", source=str(run.path))
    selected = allocation["selected"].to_numpy(dtype=float)
    start = np.full(len(ids), -1)
    if scenario.phasing.years and "start_year" in allocation:
        years = pd.to_numeric(allocation["start_year"], errors="coerce").to_numpy()
        for period, year in enumerate(scenario.phasing.years):
            start[years == year] = period
    else:
        start[selected > 0] = 0
    start[selected <= 0] = -1
    return Plan(name=name, selected=selected, start=start, money=allocation[keys].to_numpy(dtype=float),
                objective=run.objective, indicators=run.indicators)


def scenario_of_run(run: Run, *, allow_outside_paths: bool = False) -> Scenario:
    """The run's scenario: its file, with the run's --set overrides applied again."""
    recorded = run.manifest.scenario
    path = Path(recorded.file)
    if not path.is_file():
        raise InputError(f"the run's scenario file {path} is gone; simulate the scenario file instead", source=str(run.path))
    scenario = load_scenario(path, allow_outside_paths=allow_outside_paths)
    overrides = {item.key: item.new for item in recorded.overrides}
    return with_overrides(scenario, overrides, allow_outside_paths=allow_outside_paths) if overrides else scenario


# --------------------------------------------------------------------------------------------------
# Robust planning: a scenario transformation, not a change to the model


def robust_inputs(scenario: Scenario, data: Data) -> tuple[Scenario, Data, dict[str, float]]:
    """The scenario and data that plan on the `robust_quantile` of each zone's arrival share.

    The matching source's capacity column is scaled, region by region, by that quantile of its zone,
    and its budget (and year budgets) by the capacity-weighted mean of the quantiles (the smallest
    quantile when it has no capacity). Returns the scaled scenario, data and the factors used.
    """
    spec = _spec(scenario)
    source = scenario.sources[spec.matching_source]
    q = spec.robust_quantile
    zone_of_region = data.regions["zone"].astype(str).to_numpy()
    factor_of_region = np.array([spec.local_arrival[z].quantile(q) if z in spec.local_arrival else 1.0 for z in zone_of_region])
    factors = {zone: (spec.local_arrival[zone].quantile(q) if zone in spec.local_arrival else 1.0) for zone in data.zones}
    if source.capacity is not None:
        capacity = data.regions[source.capacity.column].to_numpy(dtype=float)
        regions = data.regions.copy()
        regions[source.capacity.column] = capacity * factor_of_region
        data = replace(data, regions=regions)
        budget_factor = float((capacity * factor_of_region).sum() / capacity.sum()) if capacity.sum() > 0 else min(factors.values())
    else:
        budget_factor = min(factors.values())
    factors["budget"] = budget_factor
    prefix = f"sources.{source.key}"
    values = scenario.document.values["sources"][source.key]
    overrides: dict[str, Any] = {}
    if "budget_by_year" in values:
        overrides[f"{prefix}.budget_by_year"] = [f"{amount * budget_factor:.10g}万" for amount in source.by_year]
        if "budget" in values:
            overrides[f"{prefix}.budget"] = f"{source.budget * budget_factor:.10g}万"
    else:
        overrides[f"{prefix}.budget"] = f"{source.budget * budget_factor:.10g}万"
    if source.min_spend > source.budget * budget_factor:
        overrides[f"{prefix}.min_spend"] = f"{source.budget * budget_factor:.10g}万"
    robust = with_overrides(scenario, overrides, allow_outside_paths=True)
    return replace(robust, name=f"{scenario.name} (robust q={q:g})"), data, factors


def _spec(scenario: Scenario) -> Uncertainty:
    if scenario.uncertainty is None:
        raise InputError(f"scenario '{scenario.name}' has no [uncertainty] table; add one (docs/simulation.md)", source=str(scenario.path))
    return scenario.uncertainty


# --------------------------------------------------------------------------------------------------
# The replay: plain arrays shipped to every worker


@dataclass
class PlanArrays:
    name: str
    selected: np.ndarray
    finish: np.ndarray  # planned finish period (start + duration - 1); -1 when not funded
    other: np.ndarray  # money from sources that arrive in full, 万元
    local: np.ndarray  # promised money of the matching source, 万元
    order: np.ndarray  # funded projects in paying order (by pool group, start, table order)
    pool_starts: np.ndarray  # per position of `order`: the first position of its pool group


@dataclass
class Replay:
    cost: np.ndarray
    overrun: tuple[np.ndarray, np.ndarray, np.ndarray]  # low, mode, high per project
    arrival: tuple[np.ndarray, np.ndarray, np.ndarray]  # low, mode, high per arrival group
    arrival_labels: np.ndarray
    arrival_of_region: np.ndarray
    region_of_project: np.ndarray
    pool_of_project: np.ndarray | None  # capacity group per project; None: each project its own pool
    pool_of_region: np.ndarray | None
    capacity_of_region: np.ndarray | None  # 万元
    pool_count: int
    periods: int
    phased: bool
    delay_probability: float
    stall_rule: StallRule
    indicators: list[IndicatorGroups]
    plans: list[PlanArrays]
    rules: Rules  # the objective's definition, evaluated on each draw's completed projects
    regions: int = 0
    columns: list[str] = field(default_factory=list)


def _triangular_arrays(laws: Sequence[Triangular]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lows, modes and highs of `laws`, as three arrays."""
    return np.array([law.low for law in laws]), np.array([law.mode for law in laws]), np.array([law.high for law in laws])


def build_replay(scenario: Scenario, data: Data, plans: Sequence[Plan], spec: Uncertainty | None = None) -> Replay:
    spec = spec or _spec(scenario)
    projects, regions = data.projects, data.regions
    unknown = sorted(set(spec.local_arrival) - set(data.zones))
    if unknown:
        raise InputError(f"[uncertainty] local_arrival names zone '{unknown[0]}', which is not in the regions table "
                         f"(it has {', '.join(data.zones)})", source=str(scenario.path), where="uncertainty.local_arrival")
    keys = list(scenario.sources)
    local_index = keys.index(spec.matching_source)
    types = projects["type"].astype(str).to_numpy()
    laws = [spec.cost_overrun.get(t, Triangular(1.0, 1.0, 1.0)) for t in types]
    overrun = _triangular_arrays(laws)

    arrival_of_region, arrival_labels = region_groups(data, spec.arrival_by)
    zone_of_label = pd.Series(regions["zone"].astype(str).to_numpy()).groupby(arrival_of_region).first().to_numpy()
    arrival_laws = [spec.local_arrival.get(z, Triangular(1.0, 1.0, 1.0)) for z in zone_of_label]
    arrival = _triangular_arrays(arrival_laws)

    source = scenario.sources[spec.matching_source]
    pool_of_project = pool_of_region = capacity = None
    pool_count = 0
    if source.capacity is not None:
        pool_of_region, pool_labels = region_groups(data, source.capacity.by)
        pool_of_project, _ = project_groups(data, source.capacity.by)
        capacity = regions[source.capacity.column].to_numpy(dtype=float)
        pool_count = len(pool_labels)

    phasing = scenario.phasing
    plan_arrays = []
    for plan in plans:
        funded = plan.selected > 0
        local = np.where(funded, plan.money[:, local_index], 0.0)
        other = np.where(funded, plan.money.sum(axis=1) - plan.money[:, local_index], 0.0)
        finish = np.where(funded, plan.start + phasing.duration - 1, -1)
        members = np.flatnonzero(funded)
        group = pool_of_project[members] if pool_of_project is not None else members
        order = members[np.lexsort((members, plan.start[members], group))]
        ordered_group = pool_of_project[order] if pool_of_project is not None else order
        first = np.r_[True, ordered_group[1:] != ordered_group[:-1]] if len(order) else np.zeros(0, bool)
        pool_starts = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0)) if len(order) else np.zeros(0, np.int64)
        plan_arrays.append(PlanArrays(plan.name, plan.selected.astype(float), finish, other, local, order, pool_starts))

    rules = Rules(scenario, data)
    return Replay(
        cost=projects["cost"].to_numpy(dtype=float), overrun=overrun, arrival=arrival, arrival_labels=arrival_labels,
        arrival_of_region=arrival_of_region, region_of_project=projects["region"].to_numpy(dtype=np.int64),
        pool_of_project=pool_of_project, pool_of_region=pool_of_region, capacity_of_region=capacity, pool_count=pool_count,
        periods=phasing.periods, phased=bool(phasing.years), delay_probability=spec.delay_probability,
        stall_rule=spec.stall_rule, indicators=rules.indicator_groups, plans=plan_arrays, rules=rules, regions=len(regions),
    )


def triangular(u: np.ndarray, low: np.ndarray, mode: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Inverse distribution function of triangular(low, mode, high) at uniforms `u` (a point mass when low = high)."""
    width = high - low
    with np.errstate(divide="ignore", invalid="ignore"):
        split = np.where(width > 0, (mode - low) / width, 0.0)
        rising = low + np.sqrt(u * width * (mode - low))
        falling = high - np.sqrt((1.0 - u) * width * (high - mode))
    return np.where(width > 0, np.where(u < split, rising, falling), low)


def draw_inputs(replay: Replay, seed: int, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw `index`: the arrival share per arrival group, the overrun factor and a delay flag per candidate."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
    arrival = triangular(rng.random(len(replay.arrival_labels)), *replay.arrival)
    overrun = triangular(rng.random(len(replay.cost)), *replay.overrun)
    delayed = rng.random(len(replay.cost)) < replay.delay_probability
    return arrival, overrun, delayed


def replay_plan(replay: Replay, plan: PlanArrays, arrival: np.ndarray, overrun: np.ndarray, delayed: np.ndarray) -> dict[str, np.ndarray]:
    """One plan under one draw: per project received money, short, completed (0..1 selected), stranded (yuan)."""
    funded = plan.selected > 0
    need = np.where(funded, np.maximum(replay.cost * plan.selected * overrun - plan.other, 0.0), 0.0)
    received = np.zeros_like(need)
    if replay.pool_of_project is None:
        share = arrival[replay.arrival_of_region[replay.region_of_project]]
        received = np.minimum(need, share * plan.local)
    elif len(plan.order):
        assert replay.pool_of_region is not None and replay.capacity_of_region is not None  # set with pool_of_project
        pool = np.bincount(replay.pool_of_region, weights=arrival[replay.arrival_of_region] * replay.capacity_of_region,
                           minlength=replay.pool_count)
        needs = need[plan.order]
        cumulative = np.cumsum(needs)
        before = cumulative - needs - (cumulative - needs)[plan.pool_starts]  # need of earlier projects in the same pool
        received[plan.order] = np.clip(pool[replay.pool_of_project[plan.order]] - before, 0.0, needs)
    short = funded & (received < need - TOLERANCE * np.maximum(replay.cost, 1.0))
    finish = plan.finish + (delayed & funded & replay.phased)
    stalled = short & (replay.stall_rule == "stall")
    done = funded & ~short
    in_plan = done & (finish <= replay.periods - 1)
    stranded = np.where(stalled, np.rint((plan.other + received) * YUAN_PER_WAN), 0.0)  # everything put in
    return {"need": need, "received": received, "short": short, "stalled": stalled, "finish": finish,
            "in_plan": in_plan, "late": funded & ~stalled & ~in_plan, "stranded_yuan": stranded}


def realised_measure(scenario: Scenario) -> str:
    """The name of the per-draw realised objective: ``benefit_realised`` or ``cost_realised``."""
    return "benefit_realised" if scenario.sense == "max_benefit" else "cost_realised"


def realised_objective(replay: Replay, plan: PlanArrays, out: dict[str, np.ndarray]) -> float:
    """The objective of what one draw achieves: each project completed within the plan counts at its realised
    start (the plan's, one year later when delayed); the money is what was put in (万元)."""
    phasing = replay.rules.scenario.phasing
    starts = np.zeros((len(plan.selected), phasing.starts))
    done = np.flatnonzero(out["in_plan"])
    starts[done, out["finish"][done] - phasing.duration + 1] = plan.selected[done]
    spent = np.where(plan.selected > 0, plan.other + out["received"], 0.0)
    return objective_value(replay.rules, starts, spent[:, None])


def run_chunk(replay: Replay, seed: int, indices: Sequence[int]) -> dict[str, Any]:
    """Draws `indices` for every plan: rows (one per plan and draw) and per-region sums (exact: counts, yuan)."""
    rows: list[dict[str, Any]] = []
    sums = {plan.name: {k: np.zeros(replay.regions) for k in ("stalled", "draws_with_stall", "stranded_yuan", "late")}
            for plan in replay.plans}
    for index in indices:
        arrival, overrun, delayed = draw_inputs(replay, seed, index)
        for plan in replay.plans:
            out = replay_plan(replay, plan, arrival, overrun, delayed)
            row: dict[str, Any] = {"plan": plan.name, "draw": int(index)}
            row.update({f"arrival:{label}": float(a) for label, a in zip(replay.arrival_labels, arrival)}
                       if len(replay.arrival_labels) <= MAX_GROUP_COLUMNS else {})
            row["funded"] = float(plan.selected.sum())
            row["completed"] = float((plan.selected * out["in_plan"]).sum())
            row["stalled"] = float((plan.selected * out["stalled"]).sum())
            row["late"] = float((plan.selected * out["late"]).sum())
            row["stranded"] = float(out["stranded_yuan"].sum()) / YUAN_PER_WAN
            row["matching_paid"] = float(np.rint(out["received"] * YUAN_PER_WAN).sum()) / YUAN_PER_WAN
            row[realised_measure(replay.rules.scenario)] = realised_objective(replay, plan, out)
            for groups in replay.indicators:
                name = groups.indicator.name
                achieved = groups.achieved(plan.selected * (out["in_plan"] & (out["finish"] <= groups.deadline)))
                if len(groups.labels) == 1:
                    row[name] = float(achieved[0])
                elif len(groups.labels) <= MAX_GROUP_COLUMNS:
                    row.update({f"{name}[{label}]": float(v) for label, v in zip(groups.labels, achieved)})
                if len(groups.labels) > 1:
                    row[f"{name}:groups_met"] = int(np.sum(target_met(achieved, groups.indicator.target)))
            rows.append(row)
            region = replay.region_of_project
            total = sums[plan.name]
            stalled = np.bincount(region, weights=plan.selected * out["stalled"], minlength=replay.regions)
            total["stalled"] += stalled
            total["draws_with_stall"] += stalled > 0
            total["stranded_yuan"] += np.bincount(region, weights=out["stranded_yuan"], minlength=replay.regions)
            total["late"] += np.bincount(region, weights=plan.selected * out["late"], minlength=replay.regions)
    return {"rows": rows, "sums": sums, "draws": len(indices)}


# --------------------------------------------------------------------------------------------------
# Running the draws: a local process pool or a Dask cluster, the same chunk function


def chunks(draws: int, workers: int) -> list[list[int]]:
    """About four chunks per worker (at most 50 draws each), in draw order."""
    size = max(1, min(50, math.ceil(draws / max(1, workers * 4))))
    return [list(range(i, min(i + size, draws))) for i in range(0, draws, size)]


def run_draws(replay: Replay, draws: int, seed: int, *, workers: int | None = None, scheduler: str | None = None,
              client: Any = None, on_done: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Every chunk's output, in draw order. `scheduler` (an address) or `client`: a Dask cluster; else a
    process pool of `workers` (default: one per CPU; 1 runs in this process). See allocator.cluster."""
    if draws < 1:
        raise InputError("--draws must be at least 1", where="--draws")
    if scheduler is None and client is None and (workers or os.cpu_count() or 1) == 1:
        outputs = []
        for part in chunks(draws, 1):
            outputs.append(run_chunk(replay, seed, part))
            if on_done:
                on_done(len(part))
        return outputs
    with engine(workers=workers, scheduler=scheduler, client=client) as eng:
        shared = eng.share(replay)
        parts = chunks(draws, eng.slots)
        futures = {eng.submit(run_chunk, shared, seed, part): i for i, part in enumerate(parts)}
        return in_order(eng, futures, (lambda output: on_done(output["draws"])) if on_done else None)


# --------------------------------------------------------------------------------------------------
# Outcome tables


@dataclass
class Simulation:
    """``draws``: one row per plan and draw; ``summary``: P10/P50/P90 per plan and measure;
    ``regions``: per plan and region, stall probability and expected stranded money; ``plans``: the plans."""

    scenario: Scenario
    plans: list[Plan]
    draws: pd.DataFrame
    summary: pd.DataFrame
    regions: pd.DataFrame
    seed: int
    robust_factors: dict[str, float] | None = None

    def comparison(self) -> pd.DataFrame:
        """Per measure (the realised objective among them): each plan's mean, side by side."""
        table = self.summary.pivot_table(index="measure", columns="plan", values="mean", sort=False)
        return table[[p.name for p in self.plans]]

    def write(self, out: str | Path, *, force: bool = False, unique: bool = False) -> Path:
        """Every output in a new folder `out`, which appears whole (allocator.outdir: `force` replaces a
        simulation already there, `unique` takes the first free of out, out-2, …); the folder written."""
        with staged(Target(Path(out), kind="simulate", force=force, unique=unique, inputs=inputs_of(self.scenario))) as slot:
            folder = slot.staging
            write_csv(self.draws, folder / "draws.csv")
            write_csv(self.summary, folder / "summary.csv")
            write_csv(self.regions, folder / "regions_at_risk.csv")
            chart(self, folder / "simulation.png")
            (folder / "summary.md").write_text(self.markdown(), encoding="utf-8")
        return slot.path

    @property
    def objective_unit(self) -> str:
        """The objective's unit, with a leading space ("" when the scenario names none)."""
        unit = self.scenario.objective_unit if self.scenario.sense == "max_benefit" else "万元"
        return f" {unit}" if unit else ""

    def markdown(self) -> str:
        spec = _spec(self.scenario)
        names = [p.name for p in self.plans]
        draws = int(self.draws["draw"].nunique())
        lines = [f"# Simulation of {escape_markdown(self.scenario.name)}", "",
                 f"{draws:,} draws, seed {self.seed}; stall rule `{spec.stall_rule}`; matching source {escape_markdown(spec.matching_source)}, "
                 f"arrival drawn per {spec.arrival_by}. Money in 万元.", ""]
        lines += ["## Plans", "", markdown_table(pd.DataFrame([{
            "plan": p.name, f"objective{self.objective_unit}": round(p.objective, 4), "projects funded": float(p.selected.sum()),
            "money planned (万元)": round(float(p.money.sum()), 4)} for p in self.plans])), ""]
        if len(self.plans) > 1:
            base, other = self.plans[0], self.plans[1]
            stalls = {n: float(self.draws.loc[self.draws["plan"] == n, "stalled"].mean()) for n in names}
            stranded = {n: float(self.draws.loc[self.draws["plan"] == n, "stranded"].mean()) for n in names}
            completed = {n: float(self.draws.loc[self.draws["plan"] == n, "completed"].mean()) for n in names}
            measure, unit = realised_measure(self.scenario), self.objective_unit
            realised = {n: float(self.draws.loc[self.draws["plan"] == n, measure].mean()) for n in names}
            lines += [f"**What robustness costs**: the planned objective changes from {base.objective:,.4f} to {other.objective:,.4f} "
                      f"({other.objective - base.objective:+,.4f}{unit}), and {other.selected.sum():,.0f} projects are funded instead of {base.selected.sum():,.0f}; "
                      f"the expected realised objective (`{measure}`, what the draws complete) changes from {realised[base.name]:,.4f} "
                      f"to {realised[other.name]:,.4f} ({realised[other.name] - realised[base.name]:+,.4f}{unit}). "
                      f"**What it buys**: expected stalled projects {stalls[base.name]:,.1f} → {stalls[other.name]:,.1f}, "
                      f"expected stranded money {stranded[base.name]:,.1f} → {stranded[other.name]:,.1f} 万元, "
                      f"expected projects completed within the plan {completed[base.name]:,.1f} → {completed[other.name]:,.1f}.", ""]
            if self.robust_factors:
                factors = ", ".join(f"{escape_markdown(k)} ×{v:.4f}" for k, v in self.robust_factors.items())
                lines += [f"The robust plan scaled the matching source's capacity by zone and its budget: {factors}.", ""]
        table = self.summary[["plan", "measure", "planned", "target", "mean", "p10", "p50", "p90", "prob_met"]].copy()
        lines += ["## Outcomes", "", "`planned`: the plan's own figure (every input as declared); `prob_met`: share of draws "
                  f"meeting the target; `{realised_measure(self.scenario)}`: the objective ({self.objective_unit.strip() or 'no unit named'}) "
                  "of what the draw completes within the plan, soft-target penalties of what it achieves included.", "", markdown_table(table), ""]
        regions = self.regions[self.regions["plan"] == names[0]].head(10)
        lines += [f"## Regions most at risk ({names[0]})", "", "By expected stranded money, then stall probability "
                  "(the share of draws in which at least one of the region's funded projects falls short).", "",
                  markdown_table(regions.drop(columns=["plan"])), "", "![distributions](simulation.png)", ""]
        return "\n".join(lines)


def simulate(scenario: Scenario, plans: Sequence[Plan], data: Data | None = None, *, draws: int = 1000, seed: int = 0,
             workers: int | None = None, scheduler: str | None = None, client: Any = None,
             on_done: Callable[[int], None] | None = None, robust_factors: dict[str, float] | None = None) -> Simulation:
    """Replay `plans` (same candidates as `data`) under the same `draws` of the scenario's [uncertainty]."""
    data = data if data is not None else load_data(scenario)
    if len({p.name for p in plans}) != len(plans):
        raise InputError("plans must have different names")
    replay = build_replay(scenario, data, plans)
    outputs = run_draws(replay, draws, seed, workers=workers, scheduler=scheduler, client=client, on_done=on_done)
    rows = [row for output in outputs for row in output["rows"]]
    frame = pd.DataFrame(rows)
    order = {p.name: i for i, p in enumerate(plans)}
    frame = frame.sort_values(["plan", "draw"], key=lambda s: s.map(order) if s.name == "plan" else s, kind="stable").reset_index(drop=True)
    sums = {p.name: {k: sum(o["sums"][p.name][k] for o in outputs) for k in ("stalled", "draws_with_stall", "stranded_yuan", "late")}
            for p in plans}
    return Simulation(scenario=scenario, plans=list(plans), draws=frame, summary=_summary(frame, replay, plans),
                      regions=_regions(sums, replay, plans, data, draws), seed=seed, robust_factors=robust_factors)


def _summary(frame: pd.DataFrame, replay: Replay, plans: Sequence[Plan]) -> pd.DataFrame:
    rows = []
    for plan, arrays in zip(plans, replay.plans):
        draws = frame[frame["plan"] == plan.name]
        planned: dict[str, float] = {"funded": float(plan.selected.sum()), "completed": float(plan.selected.sum()),
                                     "stalled": 0.0, "late": 0.0, "stranded": 0.0, "matching_paid": float(arrays.local.sum()),
                                     realised_measure(replay.rules.scenario): plan.objective}
        targets: dict[str, float] = {}
        for groups in replay.indicators:
            name, target = groups.indicator.name, groups.indicator.target
            achieved = groups.achieved(plan.selected * (arrays.finish <= min(groups.deadline, replay.periods - 1)) * (arrays.finish >= 0))
            if len(groups.labels) == 1:
                planned[name], targets[name] = float(achieved[0]), target
            elif len(groups.labels) <= MAX_GROUP_COLUMNS:
                for label, value in zip(groups.labels, achieved):
                    planned[f"{name}[{label}]"], targets[f"{name}[{label}]"] = float(value), target
            if len(groups.labels) > 1:
                planned[f"{name}:groups_met"] = float(np.sum(target_met(achieved, target)))
        for measure, value in planned.items():
            series = draws[measure].astype(float)
            goal = targets.get(measure)
            rows.append({"plan": plan.name, "measure": measure, "planned": value, "target": goal,
                         "mean": series.mean(), "p10": series.quantile(0.1), "p50": series.quantile(0.5), "p90": series.quantile(0.9),
                         "min": series.min(), "max": series.max(),
                         "prob_met": float(target_met(series.to_numpy(), goal).mean()) if goal is not None else None})
    return pd.DataFrame(rows)


def _regions(sums: dict[str, dict[str, np.ndarray]], replay: Replay, plans: Sequence[Plan], data: Data, draws: int) -> pd.DataFrame:
    frames = []
    for plan in plans:
        funded = np.bincount(replay.region_of_project, weights=plan.selected, minlength=replay.regions)
        total = sums[plan.name]
        frame = pd.DataFrame({
            "plan": plan.name, "region_id": data.regions["region_id"].astype(str).to_numpy(),
            "name": data.regions["name"].astype(str).to_numpy(), "province": data.regions["province"].astype(str).to_numpy(),
            "zone": data.regions["zone"].astype(str).to_numpy(), "funded": funded,
            "stall_probability": total["draws_with_stall"] / draws, "expected_stalled": total["stalled"] / draws,
            "expected_stranded": total["stranded_yuan"] / YUAN_PER_WAN / draws, "expected_late": total["late"] / draws,
        })
        frame = frame[frame["funded"] > 0].sort_values(["expected_stranded", "stall_probability", "region_id"],
                                                       ascending=[False, False, True], kind="stable")
        frames.append(frame.round({"expected_stranded": 4, "expected_stalled": 6, "expected_late": 6}))
    return pd.concat(frames, ignore_index=True)


def chart(simulation: Simulation, path: Path) -> Path:
    """Histograms of projects completed, stranded money and each single-group indicator (target dashed), one colour per plan."""
    import matplotlib

    from allocator.report.charts import PLAIN_TEXT

    matplotlib.use("Agg")
    with matplotlib.rc_context(PLAIN_TEXT):  # indicator keys drawn as they are: a '$' in one is no mathtext
        return _histograms(simulation, path)


def _histograms(simulation: Simulation, path: Path) -> Path:
    import matplotlib.pyplot as plt

    indicators = [i.name for i in simulation.scenario.indicators.values() if i.name in simulation.draws]
    panels = [("completed", "projects completed within the plan"), ("stranded", "money stranded in stalled projects (10k yuan)"),
              *((name, f"indicator {name}") for name in indicators)]
    columns = 2
    rows = math.ceil(len(panels) / columns)
    figure, grid = plt.subplots(rows, columns, figsize=(11, 3.2 * rows), squeeze=False)
    targets = {i.name: i.target for i in simulation.scenario.indicators.values()}
    for (measure, title), ax in zip(panels, grid.flat):
        values = [simulation.draws.loc[simulation.draws["plan"] == p.name, measure].astype(float) for p in simulation.plans]
        low = min(v.min() for v in values)
        high = max(v.max() for v in values)
        bins = np.linspace(low, high if high > low else low + 1e-9 + abs(low) * 1e-6, 31)
        for plan, series in zip(simulation.plans, values):
            ax.hist(series, bins=bins, alpha=0.55, label=plan.name)
            ax.axvline(float(series.median()), linewidth=1, color=ax.patches[-1].get_facecolor()[:3])
        if measure in targets:  # the target line only when it does not squash the histograms
            target, span = targets[measure], max(high - low, 1e-9 * max(1.0, abs(high)))
            if low - span <= target <= high + span:
                ax.axvline(target, color="black", linestyle="--", linewidth=1, label="target")
            else:
                title += f" (target {target:g}: off the scale, {'above' if target > high else 'below'})"
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("draws")
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
    for ax in list(grid.flat)[len(panels):]:
        ax.set_visible(False)
    figure.suptitle(f"{len(simulation.draws) // max(1, len(simulation.plans)):,} draws, seed {simulation.seed} (solid line: median)", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


# --------------------------------------------------------------------------------------------------
# From a scenario file or a run directory


def _refuse_changed_inputs(run: Run, data: Data) -> None:
    """The run's own tables, as its manifest recorded them: a plan replayed on tables changed since (a capacity, a
    cost) would report stalls the plan never faced."""
    for name, recorded in (run.manifest.inputs or {}).items():
        current = data.files.get(name)
        if current is not None and current.sha256 != recorded.sha256:
            raise InputError(f"{Path(current.path).name} changed since the run (its SHA-256 differs from the run's "
                             "manifest.json): the plan would be replayed on other data; run the scenario again, or give "
                             "--scenario for a scenario meant to differ", source=str(run.path))


def load_plan(target: str | Path, overrides: Sequence[str] = (), *, scenario_file: str | Path | None = None,
              allow_outside_paths: bool = False, robust: bool = False) -> tuple[Scenario, Data, Plan]:
    """A run directory's allocation, or the scenario file solved now; with the scenario and its data.

    For a run directory the scenario is the run's own (its file and overrides, then `overrides`), or `scenario_file`
    (e.g. the same plan's scenario extended by an [uncertainty] table); it must list the same candidates. With `robust`
    (the plan is to be set beside the robust plan) a run the optimizer did not make is refused (:func:`refuse_robust`)."""
    from allocator.solve import solve

    target = Path(target)
    if target.is_dir():
        run = read_run(target)
        if robust:
            refuse_robust(run)
        if scenario_file is not None:
            scenario = load_scenario(scenario_file, list(overrides), allow_outside_paths=allow_outside_paths)
        else:
            scenario = scenario_of_run(run, allow_outside_paths=allow_outside_paths)
            if overrides:
                scenario = with_overrides(scenario, list(overrides), allow_outside_paths=allow_outside_paths)
        _spec(scenario)
        data = load_data(scenario)
        if scenario_file is None:
            _refuse_changed_inputs(run, data)
        return scenario, data, plan_from_run(run, scenario, data)
    scenario = load_scenario(target, list(overrides), allow_outside_paths=allow_outside_paths)
    _spec(scenario)
    data = load_data(scenario)
    return scenario, data, plan_from_result(solve(scenario, data, marginal="none"))


def refuse_robust(run: Run) -> None:
    """--robust sets the optimizer's robust plan beside the nominal one, and credits the difference to robustness: a plan
    made by a formula (allocate baseline) or in two stages (allocate cascade) is no nominal optimum, and the difference
    would be mostly what optimizing nationally gains."""
    makers = {FormulaStatus.FORMULA.value: "allocate baseline", FormulaStatus.CASCADE.value: "allocate cascade"}
    if run.status in makers:
        raise InputError(f"--robust compares the optimizer's robust plan with its nominal plan, but this run was made by "
                         f"{makers[run.status]} (status {run.status}), not by the optimizer: the difference would credit "
                         "robustness with what the optimizer gains over this plan. For what robustness costs, simulate the "
                         "scenario file (or a run of allocate run) with --robust; for how this plan fares, simulate it without "
                         "--robust (the same --seed and --draws give the same draws)", source=str(run.path), where="--robust")


def robust_plan(scenario: Scenario, data: Data, nominal: Plan | None = None) -> tuple[Plan, dict[str, float]]:
    """The plan of :func:`robust_inputs`, solved from the `nominal` plan when that is feasible for it (allocator.warm)."""
    from allocator.backends import Deadline
    from allocator.solve import build

    robust_scenario, robust_data, factors = robust_inputs(scenario, data)
    deadline = Deadline(robust_scenario.solver.time_limit)
    model = build(robust_scenario, robust_data)
    start = feasible_start(model.linear, nominal.values if nominal is not None else None)
    result = model.solve(marginal="none", deadline=deadline, start=start)
    return plan_from_result(result, name="robust"), factors

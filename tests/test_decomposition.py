"""The decomposition by blocks (county pooling): its blocks are the counties, its bound is proven against the exact
optimum of the same scenario solved as one MIP, and the blocks priced in worker processes or on a Dask cluster give
the same plan as in this process."""

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from allocator import load_scenario, solve
from allocator.backends.blocks import find_blocks
from allocator.backends.knapsacks import find_knapsacks
from allocator.solve import build
from helpers import write_table

COUNTIES = 120
PER_COUNTY = 8


def county_case(folder: Path) -> Path:
    """120 counties in four provinces, each pooling its local money under a cap that funds about half its candidates,
    and one national budget of central money matched by local money at the zone's ratio."""
    rng = np.random.default_rng(7)
    zones = ["east", "central", "west", "west"]
    regions, projects = [], []
    for c in range(COUNTIES):
        province = c % 4
        costs = rng.integers(5, 60, PER_COUNTY)
        regions.append({"region_id": f"C{c:03d}", "name": f"县{c:03d}", "province": f"省{province}", "zone": zones[province],
                        "cap": round(float(costs.sum()) * 0.3, 1)})
        for p, cost in enumerate(costs):
            kind = "centre" if p % 4 == 0 else "station"
            projects.append({"project_id": f"P{c:03d}{p}", "region_id": f"C{c:03d}", "type": kind, "cost": int(cost),
                             "benefit": int(cost * rng.uniform(0.5, 2.0) * (3 if kind == "centre" else 1))})
    folder.mkdir(parents=True, exist_ok=True)
    write_table(folder / "regions.csv", regions)
    write_table(folder / "projects.csv", projects)
    path = folder / "case.toml"
    path.write_text("""name = "以县为单位统筹"
[data]
regions = "regions.csv"
projects = "projects.csv"
money_unit = "万元"
[types.centre]
label = "街道社区服务中心"
welfare = true
[types.station]
label = "社区服务站"
welfare = true
[sources.central]
label = "中央专项资金"
budget = "2600万"
max_share_of_cost = 0.5
[sources.local]
label = "地方配套资金"
budget = "1亿"
capacity = { column = "cap", by = "region" }
matching = { ratio = { east = 2.0, central = 1.0, west = 0.5 }, of = ["central"] }
[targets.counts.centres]
type = "centre"
min = 90
max = 200
[balance.shares.central_west]
source = "central"
zone = "west"
min = 0.4
[objective]
sense = "max_benefit"
benefit = { benefit = 1.0 }
[model]
split = "solver"
[solver]
strategy = "lp_first"
mip_rel_gap = 1e-4
time_limit = 120
""", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return county_case(tmp_path_factory.mktemp("counties"))


@pytest.fixture(scope="module")
def by_blocks(case):
    return solve(load_scenario(case, ["solver.workers=1"]), marginal="none")  # priced in this process


#: A project in every county: a row over a county's selections with a bound, so no county is a knapsack with money
#: shares (allocator.backends.knapsacks) and HiGHS prices them all, in batches a pool or a cluster can take.
NOT_KNAPSACKS = "balance.min_projects_per_region=1"


@pytest.fixture(scope="module")
def by_highs(case):
    return solve(load_scenario(case, ["solver.workers=1", NOT_KNAPSACKS]), marginal="none")


@pytest.fixture(scope="module")
def exact(case):
    return solve(load_scenario(case, ['solver.strategy="mip"', "solver.mip_rel_gap=1e-9"]), marginal="none")


def test_the_blocks_are_the_counties_tied_by_the_national_rows(case):
    model = build(load_scenario(case)).linear
    blocks = find_blocks(model)
    assert blocks is not None and blocks.count == COUNTIES
    linking = {model.row_blocks[i].name for i in range(len(model.row_blocks))
               if blocks.linking[model.row_blocks[i].start:model.row_blocks[i].stop].any()}
    assert linking == {"budget:central", "budget:local", "count:centres", "share_min:central_west"}
    # every county's selections, money and capacity row sit in one block
    columns, bounds = blocks.columns()
    assert np.diff(bounds).min() >= PER_COUNTY


def test_counties_of_knapsacks_go_by_blocks_without_the_lp_and_others_after_it(by_blocks, by_highs):
    # Every county a knapsack with money shares: the decomposition starts cold and proves the gap, no LP relaxation.
    details = by_blocks.solution.details
    assert details["strategy"] == "blocks" and "lp_bound" not in details and "cold_start" not in details
    assert details["decomposition"]["blocks"] == COUNTIES and details["decomposition"]["rounds"] >= 2
    assert details["decomposition"]["converged"] is True
    # Counties HiGHS must price: LP-first, then the decomposition from the relaxation's prices.
    details = by_highs.solution.details
    assert details["strategy"] == "lp_first" and details["fractional_selections"] >= 50
    assert details["decomposition"]["blocks"] == COUNTIES and details["decomposition"]["knapsack_blocks"] == 0


def test_the_lagrangian_bound_is_proven_and_tighter_than_the_lp_bound(case, by_blocks, exact):
    from allocator.backends import Deadline
    from allocator.backends.highs_run import run_highs
    from allocator.backends.options import SolverOptions

    sign = by_blocks.model_sign  # maximising: bounds are above every allocation
    lagrangian = by_blocks.solution.details["decomposition"]["lagrangian_bound"] * sign
    lp_bound = run_highs(build(load_scenario(case)).linear.relaxed(), SolverOptions(), Deadline(60), log=False).objective * sign
    optimum = exact.objective
    assert exact.solution.mip_gap <= 1e-6
    assert lagrangian >= optimum - 1e-6 * abs(optimum)
    assert lagrangian < lp_bound - 1e-3 * abs(optimum)  # the LP's fractional projects per county are gone


def test_the_plan_by_blocks_is_within_its_reported_gap_of_the_exact_optimum(by_blocks, exact):
    gap = by_blocks.solution.mip_gap
    assert gap is not None and by_blocks.objective <= exact.objective + 1e-6 * abs(exact.objective)
    assert by_blocks.objective >= exact.objective - gap * abs(by_blocks.objective) - 1e-6
    assert gap <= 1e-3


def test_a_decomposition_stopped_after_one_round_still_rounds_its_master_with_a_proven_gap(case, exact, monkeypatch):
    import allocator.backends.decomposition as decomposition

    monkeypatch.setattr(decomposition, "MAX_ROUNDS", 1)
    early = solve(load_scenario(case), marginal="none")
    assert early.solution.details["decomposition"]["rounds"] == 1
    bound = early.solution.dual_bound * early.model_sign
    assert bound >= exact.objective - 1e-6 * abs(exact.objective)
    assert early.objective <= exact.objective + 1e-6
    assert early.solution.mip_gap == pytest.approx((bound - early.objective) / early.objective, rel=1e-6)


def test_pricing_stops_as_soon_as_its_bound_proves_the_incumbent(case, exact):
    # With the optimum as incumbent, round 1's Lagrangian bound (within 3.4e-4 of it here) proves it within 1e-3: no
    # further round and no rounding. Asked for 1e-9, the rounds go on and the rounding gives the plan.
    from allocator.backends import Deadline
    from allocator.backends.decomposition import solve_by_blocks
    from allocator.backends.highs_run import run_highs
    from allocator.backends.options import SolverOptions

    model = build(load_scenario(case)).linear
    blocks = find_blocks(model)
    assert blocks is not None
    relaxation = run_highs(model.relaxed(), SolverOptions(), Deadline(60), log=False)
    optimum = exact.solution.values
    minimised = float(model.c @ optimum + model.offset)

    proven = solve_by_blocks(model, blocks, relaxation, SolverOptions(mip_rel_gap=1e-3, workers=1), Deadline(60), incumbent=optimum,
                             knapsacks=find_knapsacks(model, blocks))
    assert proven.details["decomposition"] == {**proven.details["decomposition"], "rounds": 1, "incumbent_proven": True}
    assert proven.values.tolist() == optimum.tolist() and proven.objective == pytest.approx(minimised)
    assert minimised - 1e-3 * abs(minimised) <= proven.dual_bound <= minimised + 1e-9

    polished = solve_by_blocks(model, blocks, relaxation, SolverOptions(mip_rel_gap=1e-9, workers=1), Deadline(60), incumbent=optimum,
                             knapsacks=find_knapsacks(model, blocks))
    assert polished.details["decomposition"]["rounds"] >= 2 and "rounding" in polished.details["decomposition"]


def test_a_rounding_between_rounds_ends_the_pricing_once_its_plan_is_within_the_gap(case, exact):
    # Asked for 1e-3, the master after round 2 is within 10x that of the bound: its rounding is tried, lands within
    # 1e-3, and no third round is priced. Asked for 1e-4, the rounds go on to 4.
    from allocator.backends import Deadline
    from allocator.backends.decomposition import DONE, solve_by_blocks
    from allocator.backends.highs_run import run_highs
    from allocator.backends.options import SolverOptions

    model = build(load_scenario(case)).linear
    blocks = find_blocks(model)
    assert blocks is not None
    relaxation = run_highs(model.relaxed(), SolverOptions(), Deadline(60), log=False)
    optimum = float(model.c @ exact.solution.values + model.offset)
    early = solve_by_blocks(model, blocks, relaxation, SolverOptions(mip_rel_gap=1e-3, workers=1), Deadline(60),
                            knapsacks=find_knapsacks(model, blocks))
    rounds = early.details["decomposition"]["rounds"]
    assert early.message == f"{DONE}: the plan rounded after round {rounds} is within the requested gap of the Lagrangian bound"
    assert early.dual_bound <= optimum <= early.objective <= early.dual_bound + 1e-3 * abs(early.objective)
    full = solve_by_blocks(model, blocks, relaxation, SolverOptions(mip_rel_gap=1e-4, workers=1), Deadline(60),
                           knapsacks=find_knapsacks(model, blocks))
    assert full.details["decomposition"]["rounds"] > rounds


def test_county_blocks_are_priced_without_highs_unless_a_rule_makes_them_other_than_knapsacks(by_blocks, by_highs):
    assert by_blocks.solution.details["decomposition"]["knapsack_blocks"] == COUNTIES
    assert by_highs.solution.details["decomposition"]["knapsack_blocks"] == 0
    assert by_highs.solution.details["decomposition"]["batches"] > 1
    assert by_highs.selected.reshape(COUNTIES, PER_COUNTY).max(axis=1).min() == 1  # the rule holds


def test_blocks_priced_in_worker_processes_give_the_same_plan(case, by_highs, monkeypatch):
    monkeypatch.setattr("allocator.backends.highs.WORKERS_FROM_BLOCKS", 1)  # a pool even for 120 blocks
    pooled = solve(load_scenario(case, ["solver.workers=2", NOT_KNAPSACKS]), marginal="none")
    assert pooled.solution.details["decomposition"]["rounds"] == by_highs.solution.details["decomposition"]["rounds"]
    assert pooled.selected.tolist() == by_highs.selected.tolist()


def test_blocks_priced_on_a_dask_cluster_give_the_same_plan(case, by_highs):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        scenario = load_scenario(case, [NOT_KNAPSACKS])
        scenario = replace(scenario, solver=replace(scenario.solver, scheduler=cluster.scheduler_address))
        on_cluster = solve(scenario, marginal="none")
    assert on_cluster.selected.tolist() == by_highs.selected.tolist()
    assert on_cluster.objective == pytest.approx(by_highs.objective, rel=1e-12)


def test_a_malformed_scheduler_address_is_refused_before_solving(case, tmp_path):
    from click.testing import CliRunner

    from allocator.cli import main

    outcome = CliRunner().invoke(main, ["run", str(case), "--out", str(tmp_path / "run"), "--scheduler", "nonsense://x"])
    assert outcome.exit_code == 2 and "cannot reach the Dask scheduler at nonsense://x" in outcome.output
    assert not (tmp_path / "run").exists()


def _parent() -> int:
    return os.getppid()


def test_local_workers_start_from_the_fork_server_not_from_this_process():
    # A fork of this process would copy the locks of the threads it runs (HiGHS's scheduler, pyarrow's pools) mid-use:
    # the workers are children of the fork server instead.
    from allocator.cluster import engine

    with engine(workers=2, tasks=2) as pool:
        parents = {pool.submit(_parent).result() for _ in range(2)}
    assert os.getpid() not in parents


def test_the_first_restricted_mip_frees_only_the_blocks_of_the_fractional_selections(case, by_highs):
    from allocator.backends import Deadline
    from allocator.backends.highs import _within_fractional_blocks, solve_relaxation
    from allocator.backends.highs_run import solve_restricted
    from allocator.backends.options import SolverOptions

    model = build(load_scenario(case)).linear
    blocks = find_blocks(model)
    relaxation = solve_relaxation(model, blocks, None, SolverOptions(), Deadline(60), log=False)
    values = relaxation.values
    fractional = model.integer & (np.abs(values - np.round(values)) > 1e-6)
    options = SolverOptions(mip_rel_gap=1e-9)
    within = _within_fractional_blocks(model, blocks, fractional, values, options, Deadline(60), log=False)
    usual = solve_restricted(model, ~model.integer | fractional, np.round(values), options, Deadline(60), log=False, extra=None,
                             start=None)
    assert within.status.has_solution and usual.status.has_solution
    # A restriction of the usual first stage: never better (minimised), and a plan of the whole model.
    assert within.objective >= usual.objective - 1e-9 * abs(usual.objective)
    activity = model.A @ within.values
    assert np.all(activity >= model.row_lower - 1e-6) and np.all(activity <= model.row_upper + 1e-6)
    # Every block without a fractional selection keeps the relaxation's values, its money included.
    touched = np.unique(blocks.block_of_column[fractional])
    untouched = (blocks.block_of_column >= 0) & ~np.isin(blocks.block_of_column, touched)
    np.testing.assert_allclose(within.values[untouched], np.where(model.integer, np.round(values), values)[untouched])
    assert by_highs.solution.details["stage1_blocks"]["status"] == "optimal" and "stage1" not in by_highs.solution.details


def test_a_cold_start_without_the_relaxation_reaches_the_exact_optimum(case, exact):
    # No LP relaxation: round 1 prices every county at zero prices, and the master starts on slacks of the linking
    # rows, charged until whole plans replace them. The plan is within the requested gap of the exact optimum, and the
    # Lagrangian bound is a bound on it.
    from allocator.backends import Deadline
    from allocator.backends.decomposition import solve_by_blocks
    from allocator.backends.options import SolverOptions

    model = build(load_scenario(case)).linear
    blocks = find_blocks(model)
    assert blocks is not None
    optimum = float(model.c @ exact.solution.values + model.offset)
    cold = solve_by_blocks(model, blocks, None, SolverOptions(mip_rel_gap=1e-3, workers=1), Deadline(60),
                           knapsacks=find_knapsacks(model, blocks))
    assert cold.status.has_solution and cold.details["decomposition"]["rounds"] >= 2
    assert cold.dual_bound <= optimum + 1e-9 <= cold.objective + 2e-9
    assert cold.objective <= cold.dual_bound + 1e-3 * abs(cold.objective)

"""The engine's class formulation against the straightforward per-project one (benchmarks/reference_model.py).

Random small instances with every money rule the national scenario has: three sources with
share-of-cost caps, matching by zone, a welfare-only lottery, per-province local capacity, a zone
share of central money, counts and a soft coverage indicator. Both formulations are solved to a zero
gap and must reach the same optimum; the engine's recovered per-project split must obey every
per-project rule.
"""

import inspect
import sys
from pathlib import Path

import numpy as np
import pytest

from allocator.checks import rule_violations
from allocator.data import load_data
from allocator.scenario_toml import load_scenario
from allocator.solve import solve, solve_model
from helpers import DATA, write_case

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.reference_model import allocation, build_reference  # noqa: E402

REGIONS = [
    {"region_id": "E1", "name": "东一区", "province": "甲省", "zone": "east", "streets": 6, "centres": 3, "capacity": 260},
    {"region_id": "E2", "name": "东二区", "province": "甲省", "zone": "east", "streets": 4, "centres": 3, "capacity": 140},
    {"region_id": "W1", "name": "西一县", "province": "乙省", "zone": "west", "streets": 5, "centres": 1, "capacity": 90},
    {"region_id": "W2", "name": "西二县", "province": "乙省", "zone": "west", "streets": 3, "centres": 1, "capacity": 60},
]
RATIO = {"east": 2.0, "west": 0.5}
ZONE = {r["region_id"]: r["zone"] for r in REGIONS}


def random_case(rng, n):
    projects = []
    for i in range(n):
        kind = str(rng.choice(["centre", "station", "network"], p=[0.3, 0.55, 0.15]))
        projects.append({"project_id": f"P{i:02d}", "region_id": str(rng.choice([r["region_id"] for r in REGIONS])), "type": kind,
                         "cost": round(float(rng.uniform(10, 120)), 1), "benefit": int(rng.integers(1, 100)),
                         "adds_centre": int(kind == "centre")})
    total = sum(p["cost"] for p in projects)
    central, lottery, local = (round(total * share, 1) for share in rng.uniform([0.12, 0.03, 0.2], [0.25, 0.08, 0.45]))
    toml = DATA + f"""
[types.centre]
welfare = true
[types.station]
welfare = true
[types.network]
welfare = false

[sources.central]
budget = "{central}万"
types = ["centre", "station", "network"]
max_share_of_cost = 0.5
[sources.lottery]
budget = "{lottery}万"
welfare_only = true
types = ["centre", "station", "network"]
max_share_of_cost = {{ centre = 0.3, station = 0.2 }}
[sources.local]
budget = "{local}万"
types = ["centre", "station", "network"]
capacity = {{ column = "capacity", by = "province" }}
matching = {{ ratio = {{ east = {RATIO['east']}, west = {RATIO['west']} }}, of = ["central", "lottery"] }}

[targets.counts.centres]
type = "centre"
max = {int(rng.integers(2, 6))}
[targets.counts.stations]
type = "station"
min = 1
[targets.indicators.coverage]
baseline = "centres"
contribution = "adds_centre"
denominator = "streets"
scope = "zone"
target = 0.8
penalty = {float(rng.uniform(50, 400)):.1f}

[balance.shares.west]
source = "central"
zone = "west"
min = {float(rng.uniform(0.2, 0.45)):.2f}

[objective]
sense = "max_benefit"
benefit = {{ benefit = 1.0 }}

[solver]
mip_rel_gap = 0.0
time_limit = 30
"""
    return toml, projects


def engine_solve(scenario):
    """The engine's solve, without marginal values where the engine offers them (they only cost time here)."""
    if "marginal" in inspect.signature(solve).parameters:
        return solve(scenario, marginal="none")
    return solve(scenario)


@pytest.mark.parametrize("seed", range(12))
def test_class_and_per_project_formulations_agree(tmp_path, seed):
    rng = np.random.default_rng([4, seed])
    toml, projects = random_case(rng, int(rng.integers(12, 41)))
    scenario = load_scenario(write_case(tmp_path, toml, projects, regions=REGIONS))
    data = load_data(scenario)

    reference = build_reference(scenario, data)
    solution = solve_model(reference.linear, scenario.solver)
    result = engine_solve(scenario)
    assert solution.status.has_solution == result.status.has_solution
    if not result.status.has_solution:
        return
    reference_objective = solution.objective * reference.linear.objective_sign
    assert result.objective == pytest.approx(reference_objective, rel=1e-6, abs=1e-6)

    # the reference's own per-project solution obeys the same checks (the two formulations mean the same rules)
    selected, money = allocation(reference, solution.values)
    assert rule_violations(scenario, data, np.round(selected), money) == []

    # every per-project rule holds after the engine splits class money back to projects
    assert rule_violations(scenario, data, result.selected, result.money) == []
    frame = result.allocation
    funded_cost = frame["cost"] * frame["selected"]
    paid = frame[["central", "lottery", "local"]].sum(axis=1)
    assert np.allclose(paid, funded_cost, rtol=1e-6, atol=1e-4)
    ratio = frame["region_id"].map(ZONE).map(RATIO)
    unit = 0.01  # allocation's money is rounded to 0.01万元: each cell within one unit of the exact split
    assert (frame["local"] >= ratio * (frame["central"] + frame["lottery"]) - unit * (1 + 2 * ratio) - 1e-6 * funded_cost).all()
    assert (frame["central"] <= 0.5 * funded_cost + unit).all()
    assert (frame.loc[frame["type"] == "network", "lottery"].abs() <= 1e-6).all()
    alpha = frame["type"].map({"centre": 0.3, "station": 0.2, "network": 0.0})
    assert (frame["lottery"] <= alpha * funded_cost + unit).all()
    assert (frame[["central", "lottery", "local"]] >= -1e-6).all().all()

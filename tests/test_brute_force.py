"""Random small instances against an independent brute force over every subset of projects.

- Declared funding plans: a subset is feasible iff its fixed amounts respect budgets, counts and shares.
- Money chosen by the model (summed per class): a subset is feasible iff the straightforward
  per-project LP (a money variable per project and source, scipy's linprog) has a solution.
Both must give the model's optimum; the second also shows the class formulation is exact.
"""

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from allocator.scenario_toml import load_scenario
from allocator.solve import solve
from helpers import DATA, write_case

TYPES = """
[types.centre]
welfare = true
[types.network]
welfare = false
"""


def random_projects(rng, n, declared):
    projects = []
    for i in range(n):
        cost = int(rng.integers(20, 120))
        row = {"project_id": f"P{i}", "region_id": str(rng.choice(["R1", "R2"])), "type": str(rng.choice(["centre", "network"])),
               "cost": cost, "benefit": int(rng.integers(1, 50))}
        if declared:
            central = int(rng.integers(0, cost + 1))
            row |= {"request_central": central, "request_local": cost - central}
        projects.append(row)
    return projects


@pytest.mark.parametrize("strategy", ["mip", "lp_first"])
@pytest.mark.parametrize("seed", range(8))
def test_declared_plans_match_brute_force(tmp_path, seed, strategy):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 13))
    projects = random_projects(rng, n, declared=True)
    budget_central, budget_local = int(rng.integers(50, 300)), int(rng.integers(50, 300))
    max_centres, west_floor = int(rng.integers(1, n)), 0.3
    toml = DATA + TYPES + f"""
[sources.central]
budget = "{budget_central}万"
[sources.local]
budget = "{budget_local}万"
[targets.counts.centres]
type = "centre"
max = {max_centres}
[balance.shares.west]
source = "central"
zone = "west"
min = {west_floor}
[objective]
sense = "max_benefit"
benefit = {{ benefit = 1.0 }}
[solver]
mip_rel_gap = 0.0
strategy = "{strategy}"
"""
    result = solve(load_scenario(write_case(tmp_path, toml, projects)))

    central = np.array([p["request_central"] for p in projects], dtype=float)
    local = np.array([p["request_local"] for p in projects], dtype=float)
    west = np.array([p["region_id"] == "R2" for p in projects])
    centre = np.array([p["type"] == "centre" for p in projects])
    benefit = np.array([p["benefit"] for p in projects], dtype=float)
    best = 0.0
    for chosen in itertools.product([0, 1], repeat=n):
        x = np.array(chosen, dtype=bool)
        if (central[x].sum() <= budget_central + 1e-9 and local[x].sum() <= budget_local + 1e-9
                and centre[x].sum() <= max_centres and central[x & west].sum() >= west_floor * central[x].sum() - 1e-9):
            best = max(best, benefit[x].sum())
    assert result.objective == pytest.approx(best, abs=1e-6)


def subset_is_fundable(projects, chosen, rules):
    """The straightforward per-project LP: f[p, s] >= 0 for chosen p and sources central, lottery, local."""
    chosen = [p for p, c in zip(projects, chosen) if c]
    if not chosen:
        return True
    n, sources = len(chosen), 3  # central, lottery, local
    var = lambda p, s: p * sources + s  # noqa: E731
    a_eq, b_eq, a_ub, b_ub = [], [], [], []
    bounds = []
    for p, project in enumerate(chosen):
        cost, welfare, west = project["cost"], project["type"] == "centre", project["region_id"] == "R2"
        row = np.zeros(n * sources)
        row[[var(p, 0), var(p, 1), var(p, 2)]] = 1
        a_eq.append(row)
        b_eq.append(cost)
        bounds += [(0, min(rules["central_share"] * cost, rules["central_cap"])), (0, cost if welfare else 0), (0, None)]
        row = np.zeros(n * sources)  # local >= ratio * (central + lottery)
        ratio = rules["ratio_west"] if west else rules["ratio_east"]
        row[[var(p, 0), var(p, 1)]] = ratio
        row[var(p, 2)] = -1
        a_ub.append(row)
        b_ub.append(0)
    for s, budget in enumerate(rules["budgets"]):
        row = np.zeros(n * sources)
        row[[var(p, s) for p in range(n)]] = 1
        a_ub.append(row)
        b_ub.append(budget)
    row = np.zeros(n * sources)  # west share of central >= floor
    for p, project in enumerate(chosen):
        row[var(p, 0)] = rules["west_floor"] - (1 if project["region_id"] == "R2" else 0)
    a_ub.append(row)
    b_ub.append(0)
    answer = linprog(np.zeros(n * sources), A_ub=np.array(a_ub), b_ub=b_ub, A_eq=np.array(a_eq), b_eq=b_eq, bounds=bounds, method="highs")
    return answer.status == 0


@pytest.mark.parametrize("strategy", ["mip", "lp_first"])
@pytest.mark.parametrize("seed", range(6))
def test_class_money_matches_per_project_brute_force(tmp_path, seed, strategy):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(5, 9))
    projects = random_projects(rng, n, declared=False)
    rules = {"central_share": 0.6, "central_cap": int(rng.integers(30, 70)), "ratio_east": 1.0, "ratio_west": 0.5,
             "budgets": [int(rng.integers(40, 200)), int(rng.integers(0, 60)), int(rng.integers(40, 250))], "west_floor": 0.4}
    toml = DATA + TYPES + f"""
[sources.central]
budget = "{rules["budgets"][0]}万"
max_share_of_cost = {rules["central_share"]}
cap_per_project = "{rules["central_cap"]}万"
[sources.lottery]
budget = "{rules["budgets"][1]}万"
welfare_only = true
[sources.local]
budget = "{rules["budgets"][2]}万"
matching = {{ ratio = {{ east = {rules["ratio_east"]}, west = {rules["ratio_west"]} }}, of = ["central", "lottery"] }}
[balance.shares.west]
source = "central"
zone = "west"
min = {rules["west_floor"]}
[objective]
sense = "max_benefit"
benefit = {{ benefit = 1.0 }}
[solver]
mip_rel_gap = 0.0
strategy = "{strategy}"
"""
    result = solve(load_scenario(write_case(tmp_path, toml, projects)))
    benefit = np.array([p["benefit"] for p in projects], dtype=float)
    best = max(benefit[np.array(c, dtype=bool)].sum() for c in itertools.product([0, 1], repeat=n)
               if subset_is_fundable(projects, c, rules))
    assert result.objective == pytest.approx(best, abs=1e-6)

"""An absolute cap per project summed over a class (allocator/model/classes.py): exact against a per-project brute force,
and without one class per capped project."""

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from allocator.data import load_data
from allocator.model.classes import rule_classes, share_polytope, vertex_shares
from allocator.rules import Rules
from allocator.scenario_toml import load_scenario
from allocator.solve import solve
from helpers import DATA, write_case

CAP, SHARE, LOTTERY_SHARE, RATIO = 10.0, 0.5, 0.3, {"R1": 2.0, "R2": 0.5}  # R1 is east, R2 west (helpers.REGIONS)

TOML = DATA + """
[types.centre]
welfare = true
[types.network]
welfare = false
[sources.central]
budget = "{central}万"
max_share_of_cost = {share}
cap_per_project = "{cap}万"
[sources.lottery]
budget = "{lottery}万"
welfare_only = true
max_share_of_cost = {lottery_share}
[sources.local]
budget = "{local}万"
matching = {{ ratio = {{ east = {east}, west = {west} }}, of = ["central", "lottery"] }}
[objective]
sense = "max_benefit"
benefit = {{ benefit = 1.0 }}
[solver]
mip_rel_gap = 0.0
"""


def scenario_of(tmp_path, rng, n, extra=""):
    """n projects with costs from 15 to 400万: cap over cost on both sides of the breakpoints 1/30, 1/3 (east) and 0.37 (west)."""
    projects = [{"project_id": f"P{i}", "region_id": str(rng.choice(["R1", "R2"])), "type": str(rng.choice(["centre", "network"])),
                 "cost": round(float(np.exp(rng.uniform(np.log(15), np.log(400)))), 1), "benefit": int(rng.integers(1, 50))}
                for i in range(n)]
    toml = TOML.format(central=int(rng.integers(20, 120)), lottery=int(rng.integers(0, 80)), local=int(rng.integers(100, 900)),
                       share=SHARE, cap=CAP, lottery_share=LOTTERY_SHARE, east=RATIO["R1"], west=RATIO["R2"]) + extra
    return load_scenario(write_case(tmp_path, toml, projects)), projects


def per_project_split(chosen, budgets):
    """Money per chosen project and source (central, lottery, local) under every per-project rule and the budgets, or None."""
    n = len(chosen)
    if n == 0:
        return np.zeros((0, 3))
    a_eq, b_eq, a_ub, b_ub, bounds = [], [], [], [], []
    for p, project in enumerate(chosen):
        cost, welfare = project["cost"], project["type"] == "centre"
        row = np.zeros(3 * n)
        row[3 * p: 3 * p + 3] = 1
        a_eq.append(row)
        b_eq.append(cost)
        bounds += [(0, min(SHARE * cost, CAP)), (0, LOTTERY_SHARE * cost if welfare else 0), (0, None)]
        row = np.zeros(3 * n)
        row[3 * p: 3 * p + 2] = RATIO[project["region_id"]]
        row[3 * p + 2] = -1
        a_ub.append(row)
        b_ub.append(0.0)
    for s, budget in enumerate(budgets):
        row = np.zeros(3 * n)
        row[s::3] = 1
        a_ub.append(row)
        b_ub.append(budget)
    answer = linprog(np.zeros(3 * n), A_ub=np.array(a_ub), b_ub=b_ub, A_eq=np.array(a_eq), b_eq=b_eq, bounds=bounds, method="highs")
    return answer.x.reshape(n, 3) if answer.status == 0 else None


def test_breakpoints_of_the_east_money_polytope(tmp_path):
    scenario, projects = scenario_of(tmp_path, np.random.default_rng(0), 6)
    rules = Rules(scenario, load_data(scenario))
    ids = list(rules.data.projects["project_id"])
    east_centre = next((ids.index(p["project_id"]) for p in projects if p["region_id"] == "R1" and p["type"] == "centre"), None)
    assert east_centre is not None
    # central + lottery <= 1/3 (local matches 2:1), lottery <= 0.3: vertices (0, 0), (1/3, 0), (0, 0.3), (1/30, 0.3).
    assert vertex_shares(share_polytope(rules, east_centre), 0) == pytest.approx([0, 1 / 30, 1 / 3])
    assert vertex_shares(share_polytope(rules, east_centre), 1) == pytest.approx([0, 0.3])


@pytest.mark.parametrize("seed", range(10))
def test_summed_caps_match_per_project_brute_force(tmp_path, seed):
    rng = np.random.default_rng(500 + seed)
    scenario, projects = scenario_of(tmp_path, rng, 8)
    budgets = [scenario.sources[key].budget for key in ("central", "lottery", "local")]
    result = solve(scenario)
    benefit = np.array([p["benefit"] for p in projects], dtype=float)
    best = max(benefit[np.array(c, dtype=bool)].sum() for c in itertools.product([0, 1], repeat=len(projects))
               if per_project_split([p for p, x in zip(projects, c) if x], budgets) is not None)
    assert result.objective == pytest.approx(best, abs=1e-6)
    # The split back: every funded project within its cap and its other rules, and the chosen set fundable project by project.
    ids = list(result.data.projects["project_id"])
    chosen = [p for p in projects if result.selected[ids.index(p["project_id"])] > 0.5]
    assert per_project_split(chosen, budgets) is not None
    for project in chosen:
        central, lottery, local = result.money[ids.index(project["project_id"])]
        assert central + lottery + local == pytest.approx(project["cost"])
        assert central <= min(CAP, SHARE * project["cost"]) + 1e-6
        assert local >= RATIO[project["region_id"]] * (central + lottery) - 1e-6


def test_capped_projects_share_classes(tmp_path):
    rng = np.random.default_rng(7)
    scenario, projects = scenario_of(tmp_path, rng, 60)
    classes = rule_classes(Rules(scenario, load_data(scenario)))
    cost = np.array([p["cost"] for p in projects])
    assert (cost > 2 * CAP).sum() > 30  # most caps bind (central pays at most half the cost)
    # At most (type, zone) x (uncapped + the pieces between breakpoints): 2 x (1 + 2) + 2 x (1 + 2), not one per project.
    assert classes.count <= 12
    assert classes.capped.sum() >= 3


def test_a_multi_year_plan_keeps_capped_projects_alone(tmp_path):
    scenario, projects = scenario_of(tmp_path, np.random.default_rng(3), 12, "[phasing]\nfirst_year = 2006\nlast_year = 2007\n")
    rules = Rules(scenario, load_data(scenario))
    classes = rule_classes(rules)
    capped = classes.capped.any(axis=1)
    sizes = np.bincount(classes.of_project, minlength=classes.count)
    assert capped.sum() > 3 and np.all(sizes[capped] == 1)
    result = solve(scenario)  # the per-project rules are verified before anything is returned
    assert np.all(result.money[:, 0] <= CAP + 1e-6)

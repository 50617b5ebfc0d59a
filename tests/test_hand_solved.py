"""A tiny scenario whose optimum is worked out by hand below, solved by both backends."""

import numpy as np
import pytest

from allocator.scenario_toml import load_scenario
from allocator.solve import solve
from helpers import DATA, write_case

PROJECTS = [
    {"project_id": "P1", "region_id": "R1", "type": "centre", "cost": 100, "benefit": 10},
    {"project_id": "P2", "region_id": "R1", "type": "station", "cost": 50, "benefit": 6},
    {"project_id": "P3", "region_id": "R2", "type": "centre", "cost": 80, "benefit": 9},
    {"project_id": "P4", "region_id": "R2", "type": "station", "cost": 40, "benefit": 5},
]

SCENARIO = DATA + """
[types.centre]
welfare = true
[types.station]
welfare = true

[sources.central]
budget = "100万"
max_share_of_cost = 0.5

[sources.local]
budget = "120万"
matching = { ratio = 1.0, of = ["central"] }

[objective]
sense = "max_benefit"
benefit = { benefit = 1.0 }

[solver]
mip_rel_gap = 0.0
"""

# By hand. Per project: central <= cost/2 and local >= central, so a set of projects with total cost C
# can be funded iff some central amount c has C - 120 <= c <= min(100, C/2): iff C <= 220.
# All four cost 270; dropping P4 leaves 230; dropping P2 leaves 220 (benefit 10+9+5 = 24); dropping
# P3 leaves 190 (21); dropping P1 leaves 170 (20). Optimum {P1, P3, P4}: benefit 24, C = 220,
# so central = 100 and local = 120 exactly (both budgets used up).
#
# With "at least 2 stations", P2 and P4 (90) are in; one centre more fits: P1 (C = 190, benefit 21)
# or P3 (C = 170, benefit 20); both would need 270. Optimum {P1, P2, P4}: benefit 21.


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_hand_solved_optimum(tmp_path, solver):
    path = write_case(tmp_path, SCENARIO, PROJECTS)
    result = solve(load_scenario(path, [f'solver.name="{solver}"']))
    assert result.objective == pytest.approx(24)
    assert list(result.allocation["selected"]) == [1, 0, 1, 1]
    used = result.by_source.set_index("source")["used"]
    assert used["central"] == pytest.approx(100)
    assert used["local"] == pytest.approx(120)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_hand_solved_with_a_count(tmp_path, solver):
    toml = SCENARIO + "\n[targets.counts.stations]\ntype = \"station\"\nmin = 2\n"
    result = solve(load_scenario(write_case(tmp_path, toml, PROJECTS), [f'solver.name="{solver}"']))
    assert result.objective == pytest.approx(21)
    assert list(result.allocation["selected"]) == [1, 1, 0, 1]


def test_money_is_split_back_per_project(tmp_path):
    result = solve(load_scenario(write_case(tmp_path, SCENARIO, PROJECTS)))
    allocation = result.allocation
    funded = allocation[allocation["selected"] == 1]
    np.testing.assert_allclose(funded["central"] + funded["local"], funded["cost"], atol=1e-6)
    assert (funded["central"] <= 0.5 * funded["cost"] + 1e-6).all()
    assert (funded["local"] >= funded["central"] - 1e-6).all()

"""Benefit per type and its per-region cap ([objective.by_type.<type>]): each resident counted once per type and region.

Independent checks: a case solved by hand, and a brute force over every subset of small random cases that
computes the capped benefit here, without the model code.
"""

import itertools

import numpy as np
import pytest

from allocator import InputError
from allocator.model.arrays import ColumnKind, RowKind
from allocator.model.objective import benefit_by_type, objective_value
from allocator.rules import Rules
from allocator.scenario_toml import load_scenario
from allocator.solve import build, solve
from helpers import DATA, REGIONS, write_case

SCENARIO = DATA + """
[types.centre]
[types.network]

[sources.central]
budget = "{budget}万"

[objective]
benefit = {{ served = 1.0 }}
unit = "万人"

[objective.by_type.network]
column = "served"
weight = {weight}
{cap}

[solver]
mip_rel_gap = 0.0
"""

PROJECTS = [
    {"project_id": "N1", "region_id": "R1", "type": "network", "cost": 30, "served": 10},
    {"project_id": "N2", "region_id": "R1", "type": "network", "cost": 30, "served": 11},
    {"project_id": "N3", "region_id": "R2", "type": "network", "cost": 50, "served": 12},
    {"project_id": "C1", "region_id": "R1", "type": "centre", "cost": 40, "served": 8},
]
RESIDENTS = {"R1": 12, "R2": 100}


def _regions(residents: dict[str, float]) -> list[dict[str, object]]:
    return [{**row, "residents": residents[str(row["region_id"])]} for row in REGIONS]


def _case(tmp_path, projects, *, budget=100, weight=1.0, cap=True, residents=None, extra=""):
    toml = SCENARIO.format(budget=budget, weight=weight, cap='cap = "residents"' if cap else "") + extra
    return write_case(tmp_path, toml, projects, _regions(residents or RESIDENTS))


# By hand, budget 100万. Uncapped: {N1, N2, C1} costs 100 and serves 10 + 11 + 8 = 29 (N2 + N3 = 23; N3 + C1 = 20).
# With R1's networks capped at its 12 residents: {N1, N2, C1} counts min(12, 21) + 8 = 20, {N2, N3} 11 + 12 = 23,
# {N2, C1} 19, {N3, C1} 20: the optimum is {N2, N3}, 23; networks give all of it.
def _chosen(result) -> set[str]:
    allocation = result.allocation
    return set(allocation.loc[allocation["selected"] > 0.5, "project_id"])


def test_hand_solved_cap_changes_the_choice(tmp_path):
    uncapped = solve(load_scenario(_case(tmp_path / "a", PROJECTS, cap=False)))
    assert uncapped.objective == pytest.approx(29)
    assert _chosen(uncapped) == {"N1", "N2", "C1"}
    capped = solve(load_scenario(_case(tmp_path / "b", PROJECTS)))
    assert capped.objective == pytest.approx(23)
    assert _chosen(capped) == {"N2", "N3"}
    rules = Rules(capped.scenario, capped.data)
    starts = capped.allocation["selected"].to_numpy(dtype=float)[:, None]
    assert benefit_by_type(rules, starts) == pytest.approx({"centre": 0.0, "network": 23.0})
    # objective_value caps the plan the uncapped run chose: 12 + 8 (projects in the order of data.projects)
    uncapped_plan = uncapped.allocation["selected"].to_numpy(dtype=float)[:, None]
    assert objective_value(rules, uncapped_plan, np.zeros((4, 1))) == pytest.approx(20)


def test_the_rows_say_their_kind_type_and_region(tmp_path):
    built = build(load_scenario(_case(tmp_path, PROJECTS)))
    linear = built.linear
    [block] = linear.rows(RowKind.BENEFIT_CAP)
    # R2's one network (12) cannot pass its cap (100): no row, the project counts its own benefit
    assert block.key == "network" and list(block.groups) == ["R1"]
    [column] = [b for b in linear.col_blocks if b.kind == ColumnKind.BENEFIT]
    assert linear.col_upper[column.start:column.stop].tolist() == [12]


def _capped_benefit(projects, chosen, residents, weight):
    """By hand: centres count their own `served`; networks count min(weight x residents, weight x sum served) per region."""
    total, per_region = 0.0, {}
    for project, on in zip(projects, chosen):
        if not on:
            continue
        if project["type"] == "centre":
            total += project["served"]
        else:
            per_region[project["region_id"]] = per_region.get(project["region_id"], 0.0) + weight * project["served"]
    return total + sum(min(value, weight * residents[region]) for region, value in per_region.items())


@pytest.mark.parametrize("seed", range(6))
def test_brute_force_over_subsets(tmp_path, seed):
    rng = np.random.default_rng(seed)
    projects = [{"project_id": f"P{i}", "region_id": str(rng.choice(["R1", "R2"])), "type": str(rng.choice(["centre", "network"])),
                 "cost": int(rng.integers(10, 60)), "served": int(rng.integers(1, 30))} for i in range(7)]
    residents = {"R1": int(rng.integers(5, 40)), "R2": int(rng.integers(5, 40))}
    budget, weight = int(rng.integers(60, 160)), 0.5
    result = solve(load_scenario(_case(tmp_path, projects, budget=budget, weight=weight, residents=residents)))
    best = max(_capped_benefit(projects, chosen, residents, weight)
               for chosen in itertools.product([0, 1], repeat=len(projects))
               if sum(p["cost"] for p, on in zip(projects, chosen) if on) <= budget)
    assert result.objective == pytest.approx(best, abs=1e-6)
    rules = Rules(result.scenario, result.data)
    for chosen in itertools.product([0, 1], repeat=len(projects)):
        starts = np.array(chosen, dtype=float)[:, None]
        expected = _capped_benefit(projects, chosen, residents, weight)
        assert objective_value(rules, starts, np.zeros((len(projects), 1))) == pytest.approx(expected)


def test_part_funding_counts_the_cap_on_the_region_not_on_each_project(tmp_path):
    # Continuous, budget 45万, by hand: per 万元, N2 serves 11/30, N1 10/30, N3 12/50, C1 8/40. R1's networks count at
    # most 12: all of N2 (30万, 11) and 1/10 of N1 (3万, 1); the other 12万 buy 12/50 of N3: 12 + 12 x 12/50.
    path = _case(tmp_path, PROJECTS, budget=45, extra='\n[model]\nselection = "continuous"\n')
    result = solve(load_scenario(path))
    starts = result.allocation["selected"].to_numpy(dtype=float)[:, None]
    rules = Rules(result.scenario, result.data)
    assert objective_value(rules, starts, np.zeros((4, 1))) == pytest.approx(result.objective)
    assert result.objective == pytest.approx(12 + 12 * 12 / 50)


def test_a_capped_benefit_over_several_years_counts_each_project_once_whenever_it_starts(tmp_path):
    """Two years, money carried over: the same projects are affordable by the end, so the capped optimum is the
    hand-solved 23 of the one-period case ({N2, N3}), and objective_value agrees on the phased plan."""
    path = _case(tmp_path, PROJECTS, extra="\n[phasing]\nfirst_year = 2021\nlast_year = 2022\n")
    result = solve(load_scenario(path))
    assert result.objective == pytest.approx(23)
    assert _chosen(result) == {"N2", "N3"}
    rules = Rules(result.scenario, result.data)
    assert objective_value(rules, result.starts, result.money) == pytest.approx(result.objective)


def test_plain_benefit_still_applies_to_every_type(tmp_path):
    toml = (DATA + '[types.centre]\n[types.network]\n[sources.central]\nbudget = "100万"\n'
            '[objective]\nbenefit = { served = 2.0 }\n[solver]\nmip_rel_gap = 0.0\n')
    result = solve(load_scenario(write_case(tmp_path, toml, PROJECTS)))
    assert result.objective == pytest.approx(2 * 29)
    assert result.scenario.objective_unit == ""


@pytest.mark.parametrize(("extra_toml", "message"), [
    ('\n[phasing]\nfirst_year = 2021\nlast_year = 2022\ndiscount_rate = 0.05\n', "needs \\[phasing\\] discount_rate = 0"),
    ('\n[objective.by_type.depot]\ncolumn = "served"\n', "'depot' is not a project type"),
])
def test_mistakes_are_refused(tmp_path, extra_toml, message):
    with pytest.raises(InputError, match=message):
        load_scenario(_case(tmp_path, PROJECTS, extra=extra_toml))


def test_a_missing_cap_column_is_named(tmp_path):
    path = write_case(tmp_path, SCENARIO.format(budget=100, weight=1.0, cap='cap = "households"'), PROJECTS, _regions(RESIDENTS))
    with pytest.raises(InputError, match="households"):
        solve(load_scenario(path))

"""[objective] raise_lowest (max-min, then the usual objective): checked by brute force over every subset of a small
case, and the lowest group is never below the plan without it."""

from __future__ import annotations

import itertools

import pytest
from click.testing import CliRunner

from allocator import load_scenario, solve
from allocator.cli import main
from allocator.errors import InputError
from helpers import DATA, write_case

REGIONS = [
    {"region_id": "A1", "name": "甲一区", "province": "甲省", "zone": "east", "streets": 4, "centres": 2},
    {"region_id": "B1", "name": "乙一县", "province": "乙省", "zone": "central", "streets": 5, "centres": 1},
    {"region_id": "C1", "name": "丙一县", "province": "丙省", "zone": "west", "streets": 3, "centres": 0},
]
# (region, cost, benefit): the east's projects are worth the most, the west starts lowest
PROJECTS = [("A1", 30, 90), ("A1", 30, 80), ("B1", 40, 60), ("B1", 20, 30), ("C1", 50, 20), ("C1", 30, 15), ("C1", 20, 10)]
BUDGET = 100

SCENARIO = DATA + f"""
[types.centre]
label = "街道社区服务中心"
welfare = true
[sources.city]
budget = "{BUDGET}万"
[targets.indicators.coverage]
label = "街道中心覆盖率"
baseline = "centres"
contribution = "adds_centre"
denominator = "streets"
scope = "province"
target = 1
penalty = 0
[objective]
benefit = {{ benefit = 1.0 }}
raise_lowest = "coverage"
[solver]
mip_rel_gap = 0
"""


def case(tmp_path):
    projects = [{"project_id": f"P{i}", "name": f"中心{i}", "region_id": r, "type": "centre", "cost": c, "benefit": b, "adds_centre": 1}
                for i, (r, c, b) in enumerate(PROJECTS)]
    return write_case(tmp_path / "floor", SCENARIO, projects, REGIONS)


def brute_force() -> tuple[float, float, float]:
    """(highest lowest coverage, best benefit with it, best benefit without it) over every affordable subset."""
    streets = {r["region_id"]: r["streets"] for r in REGIONS}
    centres = {r["region_id"]: r["centres"] for r in REGIONS}
    plans = []
    for chosen in itertools.product([0, 1], repeat=len(PROJECTS)):
        if sum(c for (_, c, _), x in zip(PROJECTS, chosen) if x) > BUDGET:
            continue
        added = {r: sum(x for (region, _, _), x in zip(PROJECTS, chosen) if region == r) for r in streets}
        lowest = min((centres[r] + added[r]) / streets[r] for r in streets)
        plans.append((lowest, sum(b for (_, _, b), x in zip(PROJECTS, chosen) if x)))
    floor = max(lowest for lowest, _ in plans)
    return floor, max(b for lowest, b in plans if lowest >= floor - 1e-9), max(b for _, b in plans)


def test_the_floor_and_the_benefit_are_the_brute_force_optimum(tmp_path):
    floor, benefit, free = brute_force()
    result = solve(load_scenario(case(tmp_path)), marginal="none")
    details = result.solution.details["raise_lowest"]
    assert details["floor"] == pytest.approx(floor)
    assert result.objective == pytest.approx(benefit)
    assert details["objective_without"] == pytest.approx(free)
    assert free > benefit  # raising the west costs benefit here: the case is not trivial
    lowest = result.indicators.query("indicator == 'coverage'")["achieved"].min()
    assert lowest == pytest.approx(floor) and lowest >= details["lowest_without"] - 1e-9


def test_without_raise_lowest_the_lowest_group_is_no_higher(tmp_path):
    path = case(tmp_path)
    plain_path = path.with_name("plain.toml")
    plain_path.write_text(path.read_text(encoding="utf-8").replace('raise_lowest = "coverage"\n', ""), encoding="utf-8")
    plain, raised = solve(load_scenario(plain_path), marginal="none"), solve(load_scenario(path), marginal="none")

    def lowest(result) -> float:
        return float(result.indicators.query("indicator == 'coverage'")["achieved"].min())

    assert lowest(raised) >= lowest(plain) - 1e-9
    assert raised.objective <= plain.objective + 1e-9
    assert "raise_lowest" not in plain.solution.details


def test_the_summary_says_what_the_floor_cost(tmp_path):
    output = CliRunner().invoke(main, ["explain", str(case(tmp_path))])
    assert output.exit_code == 0, output.output
    floor, benefit, free = brute_force()
    assert f"raise_lowest coverage: lowest group {floor:.4g}" in output.output
    assert f"{benefit - free:+,.2f}" in output.output


@pytest.mark.parametrize("value, message", [('"nothing"', "names no indicator"), ('"national_cov"', "measured nationally")])
def test_a_bad_raise_lowest_is_refused_naming_the_key(tmp_path, value, message):
    path = case(tmp_path)
    text = path.read_text(encoding="utf-8").replace('raise_lowest = "coverage"', f"raise_lowest = {value}")
    text += """
[targets.indicators.national_cov]
baseline = "centres"
contribution = "adds_centre"
denominator = "streets"
target = 1
penalty = 0
"""
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message) as error:
        load_scenario(path)
    assert "raise_lowest" in str(error.value)

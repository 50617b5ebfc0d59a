"""[balance.per_resident]: a floor (or ceiling) on money per resident by province, checked by brute force over every
subset of a small case, priced by a re-solve of the edited scenario, and diagnosed with a fix when it cannot hold."""

from __future__ import annotations

import itertools

import pytest
from click.testing import CliRunner

from allocator import load_scenario, solve
from allocator.cli import main
from allocator.errors import InputError, SolveFailed
from helpers import DATA, write_case

REGIONS = [
    {"region_id": "A1", "name": "甲一区", "province": "甲省", "zone": "east", "population": 100_000},
    {"region_id": "B1", "name": "乙一县", "province": "乙省", "zone": "west", "population": 50_000},
]
# (region, cost 万元, benefit): 甲省's projects are worth far more; 乙省 has 50,000 residents
PROJECTS = [("A1", 10, 50), ("A1", 10, 45), ("A1", 10, 40), ("B1", 4, 5), ("B1", 6, 6), ("B1", 8, 7)]
BUDGET = 30


def case(tmp_path, floor: float | None = 2.0, regions=REGIONS):
    projects = [{"project_id": f"P{i}", "name": f"站{i}", "region_id": r, "type": "station", "cost": c, "benefit": b}
                for i, (r, c, b) in enumerate(PROJECTS)]
    rule = "" if floor is None else f"\n[balance.per_resident.floor]\nmin = {floor}\n"
    return write_case(tmp_path / "per_resident", DATA + f"""
[types.station]
label = "社区服务站"
welfare = true
[sources.city]
budget = "{BUDGET}万"
[objective]
benefit = {{ benefit = 1.0 }}
[solver]
mip_rel_gap = 0
""" + rule, projects, regions)


def brute_force(floor: float) -> float | None:
    """The best benefit over affordable subsets that put at least `floor` 元 per resident into each province."""
    residents = {"A1": 100_000, "B1": 50_000}
    best = None
    for chosen in itertools.product([0, 1], repeat=len(PROJECTS)):
        picked = [p for p, x in zip(PROJECTS, chosen) if x]
        if sum(c for _, c, _ in picked) > BUDGET:
            continue
        if any(sum(c for r, c, _ in picked if r == region) * 10_000 / people < floor - 1e-9 for region, people in residents.items()):
            continue
        value = sum(b for _, _, b in picked)
        best = value if best is None else max(best, value)
    return best


@pytest.mark.parametrize("floor", [0.0, 0.5, 1.0, 2.0, 2.2, 2.5])
def test_the_floor_gives_the_brute_force_optimum(tmp_path, floor):
    best = brute_force(floor)
    if best is None:  # 2.5元: 25万 for 甲省 and 12.5万 for 乙省 exceed the 30万 budget
        with pytest.raises(SolveFailed, match="floor of money per resident 'floor'"):
            solve(load_scenario(case(tmp_path, floor)), marginal="none")
        return
    result = solve(load_scenario(case(tmp_path, floor)), marginal="none")
    assert result.objective == pytest.approx(best)
    by_province = result.by_province.set_index("province")["total"]
    assert by_province["乙省"] * 10_000 / 50_000 >= floor - 1e-6


def test_the_floor_is_priced_by_what_lowering_it_gains(tmp_path):
    """Part-funding (an LP) so that one step of the floor moves money: at 2元 per resident 乙省 must get 10万 that 甲省
    would use better. The row's value is the LP dual, and an LP's optimum is concave in a bound: lowering 乙省's floor by
    the row's step (0.2元, 1万) in the scenario itself gains something, and at most the row's gain. 甲省's floor (20万,
    which it gets anyway) is used up but binds nothing."""
    path = case(tmp_path, 2.0)
    lp = ["model.selection=continuous"]
    result = solve(load_scenario(path, lp), marginal="full")
    rows = result.marginal[result.marginal["rule"] == "per-resident floor min"].set_index("group")
    assert rows.loc["乙省", "used_up"] and rows.loc["乙省", "binding"] and rows.loc["乙省", "unit"] == "元/人"
    assert rows.loc["乙省", "step"] == pytest.approx(0.2) and rows.loc["乙省", "limit"] == 2.0
    lowered = solve(load_scenario(path, [*lp, "balance.per_resident.floor.min=1.8"]), marginal="none")
    assert 0 < lowered.objective - result.objective <= rows.loc["乙省", "gain"] * (1 + 1e-9)
    assert rows.loc["乙省", "fix"].startswith("--set balance.per_resident.floor.min=1.8")
    assert not rows.loc["甲省", "binding"]


def test_a_floor_no_budget_can_hold_is_diagnosed_with_the_fix(tmp_path):
    """5元 per resident needs 50万 in 甲省 and 25万 in 乙省: more than the 30万 budget and than 乙省's 18万 of projects."""
    output = CliRunner().invoke(main, ["explain", str(case(tmp_path, 5.0))])
    assert output.exit_code == 3, output.output
    assert "money per resident 'floor'" in output.output
    assert "balance.per_resident.floor.min=" in output.output


def test_without_a_population_column_the_rule_is_refused_naming_it(tmp_path):
    regions = [{k: v for k, v in r.items() if k != "population"} for r in REGIONS]
    with pytest.raises(InputError, match=r"balance.per_resident.floor.*population"):
        solve(load_scenario(case(tmp_path, 2.0, regions)))


def test_min_above_max_is_refused(tmp_path):
    path = case(tmp_path, None)
    path.write_text(path.read_text(encoding="utf-8") + "\n[balance.per_resident.band]\nmin = 3\nmax = 2\n", encoding="utf-8")
    with pytest.raises(InputError, match="min \\(3\\) is above max \\(2\\)"):
        load_scenario(path)

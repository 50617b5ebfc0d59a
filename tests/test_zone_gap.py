"""targets.indicators.<name>.max_zone_gap: after the plan no zone's value is more than the gap above another's; checked by
brute force over every subset of a small case, diagnosed with the --set that is enough when it cannot hold."""

from __future__ import annotations

import itertools

import pytest
from click.testing import CliRunner

from allocator import load_scenario, solve
from allocator.cli import main
from helpers import DATA, write_case

REGIONS = [
    {"region_id": "E1", "name": "东一区", "province": "甲省", "zone": "east", "streets": 10, "centres": 8},
    {"region_id": "C1", "name": "中一县", "province": "乙省", "zone": "central", "streets": 10, "centres": 5},
    {"region_id": "W1", "name": "西一县", "province": "丙省", "zone": "west", "streets": 10, "centres": 3},
]
# (region, cost, benefit): the east's projects are worth the most; each adds a centre
PROJECTS = [("E1", 10, 30), ("E1", 10, 28), ("C1", 10, 12), ("C1", 10, 10), ("W1", 10, 6), ("W1", 10, 5), ("W1", 10, 4)]
BUDGET = 40


def case(tmp_path, gap: float):
    projects = [{"project_id": f"P{i}", "name": f"中心{i}", "region_id": r, "type": "centre", "cost": c, "benefit": b, "adds_centre": 1}
                for i, (r, c, b) in enumerate(PROJECTS)]
    return write_case(tmp_path / "gap", DATA + f"""
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
target = 0
penalty = 0
max_zone_gap = {gap}
[objective]
benefit = {{ benefit = 1.0 }}
[solver]
mip_rel_gap = 0
""", projects, REGIONS)


def brute_force(gap: float) -> float | None:
    base = {r["region_id"]: r["centres"] / r["streets"] for r in REGIONS}
    best = None
    for chosen in itertools.product([0, 1], repeat=len(PROJECTS)):
        picked = [p for p, x in zip(PROJECTS, chosen) if x]
        if sum(c for _, c, _ in picked) > BUDGET:
            continue
        values = [base[z] + sum(1 for r, _, _ in picked if r == z) / 10 for z in base]
        if max(values) - min(values) > gap + 1e-9:
            continue
        value = sum(b for _, _, b in picked)
        best = value if best is None else max(best, value)
    return best


@pytest.mark.parametrize("gap", [1.0, 0.5, 0.4, 0.3, 0.2])
def test_the_gap_gives_the_brute_force_optimum(tmp_path, gap):
    best = brute_force(gap)
    assert best is not None
    result = solve(load_scenario(case(tmp_path, gap)), marginal="none")
    assert result.objective == pytest.approx(best)
    allocation = result.allocation
    values = [REGIONS[i]["centres"] / 10 + allocation.loc[allocation["region_id"] == r["region_id"], "selected"].sum() / 10
              for i, r in enumerate(REGIONS)]
    assert max(values) - min(values) <= gap + 1e-9


def test_a_gap_no_plan_can_close_is_diagnosed_with_the_gap_that_is_enough(tmp_path):
    """The west starts 0.5 below the east and can gain at most 0.3 (three projects): a gap of 0.1 is out of reach."""
    output = CliRunner().invoke(main, ["explain", str(case(tmp_path, 0.1))])
    assert output.exit_code == 3, output.output
    assert "the largest gap between zones of 'coverage'" in output.output
    assert "targets.indicators.coverage.max_zone_gap=0.2" in output.output
    assert brute_force(0.1) is None and brute_force(0.2) is not None


def test_the_binding_gap_is_priced_and_its_fix_is_a_set(tmp_path):
    """Part-funding (an LP), so one step of the gap (10%: 0.03) moves money: the east-over-west pair binds, and raising the
    gap in the scenario itself gains something, at most what the rows' duals promise (an LP is concave in its bounds).
    (In the LP the east also sits at the gap over the centre.)"""
    path = case(tmp_path, 0.3)
    lp = ["model.selection=continuous"]
    result = solve(load_scenario(path, lp), marginal="full")
    rows = result.marginal[result.marginal["rule"] == "zone gap coverage"].set_index("group")
    assert "east-west" in set(rows.index[rows["binding"]]) and not rows.loc[["west-east", "west-central", "central-east"], "binding"].any()
    assert rows.loc["east-west", "label"] == "街道中心覆盖率区域差距上限（东部高于西部）"
    assert rows.loc["east-west", "fix"] == "--set targets.indicators.coverage.max_zone_gap=0.33"
    wider = solve(load_scenario(path, [*lp, "targets.indicators.coverage.max_zone_gap=0.33"]), marginal="none")
    # the --set widens every pair at once: the duals are a supergradient, so the gain is at most the rows' gains summed
    assert 0 < wider.objective - result.objective <= rows["gain"].sum() * (1 + 1e-9)

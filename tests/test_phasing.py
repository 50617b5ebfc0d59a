"""Five-year phasing: year budgets, carry-over, deadlines, discounting and construction periods,
on a small case worked by hand; and a one-year plan is the unphased model."""

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from allocator import load_scenario, solve
from allocator.data import load_data
from allocator.model import formulate
from helpers import DATA, write_case

PROJECTS = [
    {"project_id": "A", "region_id": "R1", "type": "centre", "cost": 150, "benefit": 10, "done": 0},
    {"project_id": "B", "region_id": "R2", "type": "centre", "cost": 100, "benefit": 6, "done": 1},
    {"project_id": "C", "region_id": "R2", "type": "centre", "cost": 50, "benefit": 3, "done": 0},
]
BASE = DATA + """
[phasing]
first_year = 2021
last_year = 2022
carry_over = {carry}

[types.centre]
welfare = true

[sources.central]
budget_by_year = ["100万", "100万"]

[objective]
sense = "max_benefit"
benefit = {{ benefit = 1.0 }}

[solver]
mip_rel_gap = 0.0
"""


def run(tmp_path, carry=True, extra="", overrides=()):
    return solve(load_scenario(write_case(tmp_path, BASE.format(carry=str(carry).lower()) + extra, PROJECTS), list(overrides)))


def starts(result):
    frame = result.allocation.set_index("project_id")
    return {p: (None if pd.isna(y) else int(y)) for p, y in frame["start_year"].items()}


def test_without_carry_over_each_year_stands_alone(tmp_path):
    # 100万 a year: A (150) fits in no year; best is B one year and C the other: 6 + 3 = 9.
    result = run(tmp_path, carry=False)
    assert result.objective == pytest.approx(9)
    assert starts(result)["A"] is None
    by_year = result.by_year.set_index("year")
    assert (by_year["central"] <= 100 + 1e-6).all()


def test_carry_over_lets_unspent_money_fund_a_larger_project_later(tmp_path):
    # Cumulative limits 100 by 2021 and 200 by 2022: A (150) can only start in 2022, with C (50)
    # in either year (a tie): 10 + 3 = 13.
    result = run(tmp_path, carry=True)
    assert result.objective == pytest.approx(13)
    assert starts(result)["A"] == 2022 and starts(result)["B"] is None and starts(result)["C"] in (2021, 2022)
    spent = result.by_year["central"].cumsum()
    assert list(spent <= [100 + 1e-6, 200 + 1e-6]) == [True, True]
    assert spent.iloc[-1] == pytest.approx(200)


def test_a_deadline_forces_early_delivery(tmp_path):
    # B must be complete by 2021 (hard target: B's `done` over the 20 streets = 0.05): B in 2021, then
    # only C fits (A would need 150 of the 100 left): 6 + 3 = 9.
    extra = """
[targets.indicators.early]
contribution = "done"
denominator = "streets"
target = 0.05
hard = true
deadline = 2021
scope = "national"
"""
    result = run(tmp_path, extra=extra)
    assert result.objective == pytest.approx(9)
    assert starts(result)["B"] == 2021


def test_discounting_rewards_earlier_delivery(tmp_path):
    # r = 100%: 2022 benefit counts half. C 2021 + A 2022 = 3 + 5 = 8 beats B 2021 + C 2022 = 6 + 1.5.
    result = run(tmp_path, overrides=["phasing.discount_rate=1.0"])
    assert result.objective == pytest.approx(8)
    assert starts(result) == {"A": 2022, "B": None, "C": 2021}


def test_construction_spread_over_two_years(tmp_path):
    # Two construction years, half the cost each: only a 2021 start finishes. Without carry-over each
    # year holds 100: A + C spend 75 + 25 a year (13); A + B would spend 125 a year.
    result = run(tmp_path, carry=False, overrides=["phasing.duration=2", "phasing.cost_profile=[0.5, 0.5]"])
    assert result.objective == pytest.approx(13)
    assert list(result.by_year["central"]) == pytest.approx([100, 100])
    assert list(result.by_year["projects_completed"]) == [0, 2]


def test_a_deadline_outside_the_plan_is_refused(tmp_path):
    from allocator.errors import InputError

    extra = "\n[targets.indicators.early]\ncontribution = \"done\"\ndenominator = \"streets\"\ntarget = 0.1\nhard = true\ndeadline = 2030\n"
    with pytest.raises(InputError, match="'deadline' 2030 is not a year of the plan"):
        run(tmp_path, extra=extra)


SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.toml")) + \
    [Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml"]


@pytest.mark.parametrize("path", [p for p in SCENARIOS if p.name != "base.toml" and "[phasing]" not in p.read_text(encoding="utf-8")],
                         ids=lambda p: p.stem)
def test_a_one_year_plan_builds_the_unphased_model(path):
    """Same arrays, so the same solve: phasing adds nothing to a scenario without years (the five-year scenarios have
    their own years and yearly budgets)."""
    plain_scenario = load_scenario(path)
    phased_scenario = load_scenario(path, ["phasing.first_year=2010", "phasing.last_year=2010"])
    data = load_data(plain_scenario)
    plain, phased = formulate(plain_scenario, data).linear, formulate(phased_scenario, data).linear
    for name in ("c", "row_lower", "row_upper", "col_lower", "col_upper", "integer"):
        assert np.array_equal(getattr(plain, name), getattr(phased, name)), name
    assert (plain.A != phased.A).nnz == 0
    assert [(b.name, b.start, b.stop) for b in plain.row_blocks] == [(b.name, b.start, b.stop) for b in phased.row_blocks]


def test_a_one_year_plan_solves_like_the_unphased_model():
    demo = SCENARIOS[-1]
    plain = solve(load_scenario(demo, ["solver.mip_rel_gap=0"]), marginal="none")
    phased = solve(load_scenario(demo, ["solver.mip_rel_gap=0", "phasing.first_year=2010", "phasing.last_year=2010"]), marginal="none")
    assert phased.objective == plain.objective
    assert phased.allocation.drop(columns="start_year").equals(plain.allocation)


def test_two_provinces_three_years_two_year_construction_worked_by_hand(tmp_path):
    """甲省's A (100万, benefit 10) and 乙省's B (80万, 7) and C (40万, 3); 60万 a year for 2021-2023, carried over; each
    facility takes two years, half its cost in each, so it starts in 2021 or 2022. All three cost 220 > 180, so two at
    most. A + B (180) fits only with both starting in 2022 (cumulative 0 / 90 / 180 against 60 / 120 / 180): B in 2021
    and A in 2022 spends 130 by 2022, A in 2021 and B in 2022 140, both in 2021 90 in 2021 alone. With 1% discounting
    that is 17/1.01² = 16.665; the next best, A 2021 + C 2022, is 10/1.01 + 3/1.01² = 12.84."""
    projects = [{"project_id": "A", "region_id": "R1", "type": "centre", "cost": 100, "benefit": 10},
                {"project_id": "B", "region_id": "R2", "type": "centre", "cost": 80, "benefit": 7},
                {"project_id": "C", "region_id": "R2", "type": "centre", "cost": 40, "benefit": 3}]
    text = DATA + """
[phasing]
first_year = 2021
last_year = 2023
duration = 2
cost_profile = [0.5, 0.5]
carry_over = true
discount_rate = 0.01

[types.centre]
welfare = true

[sources.central]
budget_by_year = ["60万", "60万", "60万"]

[objective]
benefit = { benefit = 1.0 }

[solver]
mip_rel_gap = 0.0
"""
    result = solve(load_scenario(write_case(tmp_path, text, projects)))
    assert result.objective == pytest.approx(17 / 1.01**2)
    # the same by brute force over every start (none, 2021, 2022) of the three projects
    best = 0.0
    for choice in itertools.product([None, 0, 1], repeat=3):
        spend = np.zeros(3)
        for project, start in zip(projects, choice):
            if start is not None:
                spend[start:start + 2] += project["cost"] / 2
        if (np.cumsum(spend) <= np.array([60, 120, 180]) + 1e-9).all():
            best = max(best, sum(p["benefit"] / 1.01 ** (start + 1) for p, start in zip(projects, choice) if start is not None))
    assert result.objective == pytest.approx(best)
    assert starts(result) == {"A": 2022, "B": 2022, "C": None}
    by_year = result.by_year.set_index("year")
    assert by_year["central"].tolist() == pytest.approx([0, 90, 90])  # the first halves in 2022, the second in 2023
    assert (by_year["central"].cumsum().to_numpy() <= np.array([60, 120, 180]) + 1e-6).all()
    assert by_year["projects_completed"].tolist() == [0, 0, 2]
    funded = result.allocation.set_index("project_id")
    assert funded.loc["A", "province"] == "甲省" and funded.loc["B", "province"] == "乙省"

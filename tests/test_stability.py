"""Project statuses and a reference plan: checked on allocation.csv and churn.csv as written, read with the csv module."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from allocator.cli import main
from helpers import DATA, write_case, write_table

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo"
QUIET = ("--no-reports", "--marginal", "none")


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def funded(run: Path) -> set[str]:
    return {row["project_id"] for row in rows(run / "allocation.csv") if float(row["selected"]) > 0.5}


def run_ok(*args: object) -> Path:
    result = invoke("run", *args, *QUIET)
    assert result.exit_code == 0, result.output
    return Path(str(args[args.index("--out") + 1]))


def demo_with_status(tmp_path: Path, status: dict[str, str]) -> Path:
    """A copy of the demo whose projects table has a status column."""
    folder = tmp_path / "demo"
    shutil.copytree(DEMO, folder)
    table = rows(folder / "projects.csv")
    write_table(folder / "projects.csv", [{**row, "status": status.get(row["project_id"], "")} for row in table])
    return folder / "demo.toml"


def test_must_fund_and_exclude_are_honoured_in_allocation_csv(tmp_path):
    base = funded(run_ok(DEMO / "demo.toml", "--out", tmp_path / "base"))
    outside, inside = sorted(set(f"D{i:03d}" for i in range(1, 40)) - base)[:2], sorted(base)[:2]
    status = {outside[0]: "must_fund", outside[1]: "必须安排", inside[0]: "exclude", inside[1]: "不予安排"}
    plan = funded(run_ok(demo_with_status(tmp_path, status), "--out", tmp_path / "status"))
    assert set(outside) <= plan
    assert not set(inside) & plan


def test_an_unknown_status_is_refused_naming_row_and_column(tmp_path):
    result = invoke("validate", demo_with_status(tmp_path, {"D003": "maybe"}))
    assert result.exit_code == 2
    assert "row 4, column status" in result.output and "maybe" in result.output


HAND = DATA + """
[types.centre]
welfare = true

[sources.central]
budget = "100万"

[objective]
sense = "max_benefit"
benefit = { benefit = 1.0 }

[solver]
mip_rel_gap = 0.0
"""

# By hand: one source of 100万. As candidates the best set is {B, C} (cost 90, benefit 15). With A
# continuing, its committed 60万 comes out of the 100万: 40万 is left, B (50万) no longer fits and
# C (40万) does, so the plan is {A, C} and central money used is exactly 100万.
HAND_PROJECTS = [
    {"project_id": "A", "region_id": "R1", "type": "centre", "cost": 60, "benefit": 1, "status": "", "committed_central": ""},
    {"project_id": "B", "region_id": "R1", "type": "centre", "cost": 50, "benefit": 10, "status": "", "committed_central": ""},
    {"project_id": "C", "region_id": "R2", "type": "centre", "cost": 40, "benefit": 5, "status": "", "committed_central": ""},
]


def test_continuing_committed_money_counts_against_the_budget(tmp_path):
    assert funded(run_ok(write_case(tmp_path / "free", HAND, HAND_PROJECTS), "--out", tmp_path / "free-run")) == {"B", "C"}
    continuing = [{**HAND_PROJECTS[0], "status": "续建", "committed_central": "60万"}, *HAND_PROJECTS[1:]]
    run = run_ok(write_case(tmp_path / "cont", HAND, continuing), "--out", tmp_path / "cont-run")
    assert funded(run) == {"A", "C"}
    money = {row["project_id"]: float(row["central"]) for row in rows(run / "allocation.csv")}
    assert money == pytest.approx({"A": 60.0, "B": 0.0, "C": 40.0})
    used = {row["source"]: float(row["used"]) for row in rows(run / "by_source.csv")}
    assert used["central"] == pytest.approx(100.0)


def test_committed_money_must_add_up_to_the_cost(tmp_path):
    short = [{**HAND_PROJECTS[0], "status": "continuing", "committed_central": "50万"}, *HAND_PROJECTS[1:]]
    result = invoke("validate", write_case(tmp_path, HAND, short))
    assert result.exit_code == 2
    assert "row 2, columns committed_central" in result.output and "add up to its cost" in result.output


def test_must_fund_beyond_the_budget_is_diagnosed_naming_the_projects(tmp_path):
    both = [{**HAND_PROJECTS[0], "status": "must_fund"}, {**HAND_PROJECTS[1], "status": "must_fund"}, HAND_PROJECTS[2]]
    result = invoke("run", write_case(tmp_path, HAND, both), "--out", tmp_path / "run", *QUIET)
    assert result.exit_code == 3
    assert "status 'must_fund' of projects A, B" in result.output
    assert "the budget of 'central'" in result.output and "sources.central.budget=110.00万" in result.output


def test_keep_never_drops_a_project_as_the_budget_grows_and_without_keep_compare_shows_the_churn(tmp_path):
    budgets = ["1500万", "1800万", "2100万", "2400万", "2700万"]
    kept = [run_ok(DEMO / "demo.toml", "--out", tmp_path / "keep0")]
    free = [kept[0]]
    for i, budget in enumerate(budgets[1:], start=1):
        kept.append(run_ok(DEMO / "demo.toml", "--set", f"sources.central.budget={budget}", "--from", kept[-1], "--out", tmp_path / f"keep{i}"))
        free.append(run_ok(DEMO / "demo.toml", "--set", f"sources.central.budget={budget}", "--out", tmp_path / f"free{i}"))
    for before, after in zip(kept, kept[1:]):
        assert funded(before) <= funded(after), f"{after.name} dropped {funded(before) - funded(after)}"
    dropped = [len(funded(before) - funded(after)) for before, after in zip(free, free[1:])]
    assert any(dropped), "the demo sweep without keep should drop some project (else this test proves nothing)"

    step = dropped.index(max(dropped))
    result = invoke("compare", free[step], free[step + 1], "--out", tmp_path / "cmp")
    assert result.exit_code == 0, result.output
    national = next(row for row in rows(tmp_path / "cmp" / "churn.csv") if row["level"] == "national")
    before, after = funded(free[step]), funded(free[step + 1])
    assert (int(national["added"]), int(national["dropped"])) == (len(after - before), len(before - after))
    by_zone = [row for row in rows(tmp_path / "cmp" / "churn.csv") if row["level"] == "zone"]
    assert sum(int(row["dropped"]) for row in by_zone) == len(before - after)


def test_keep_that_the_rules_make_impossible_is_diagnosed(tmp_path):
    reference = run_ok(DEMO / "demo.toml", "--out", tmp_path / "ref")
    result = invoke("run", DEMO / "demo.toml", "--set", "sources.central.budget=500万", "--from", reference, "--out", tmp_path / "run", *QUIET)
    assert result.exit_code == 3
    assert "keeping the reference plan's projects" in result.output and "stability.keep=false" in result.output


@pytest.mark.parametrize("budget", ["1500万", "500万"], ids=["a plan", "no plan"])
def test_a_run_never_replaces_the_reference_it_keeps_close_to(tmp_path, budget):
    # --from R --out R --force once replaced R (with only a diagnosis when the new run had no plan): R is an input.
    reference = run_ok(DEMO / "demo.toml", "--out", tmp_path / "ref")
    before = {p.name: p.read_bytes() for p in reference.iterdir()}
    result = invoke("run", DEMO / "demo.toml", "--set", f"sources.central.budget={budget}", "--from", reference,
                    "--out", reference, "--force", *QUIET)
    assert result.exit_code == 2, result.output
    assert "the input" in result.output and "never writes its output over it" in result.output
    assert {p.name: p.read_bytes() for p in reference.iterdir()} == before


def test_churn_penalty_is_paid_per_project_moved(tmp_path):
    reference = run_ok(DEMO / "demo.toml", "--out", tmp_path / "ref")
    scenario = DEMO / "demo.toml"
    free = run_ok(scenario, "--set", "sources.central.budget=2500万", "--out", tmp_path / "free")
    paid = run_ok(scenario, "--set", "sources.central.budget=2500万", "--set", "stability.keep=false", "--set", "stability.churn_penalty=1e6",
                  "--from", reference, "--out", tmp_path / "paid")
    moved = len(funded(paid) ^ funded(reference))
    assert moved < len(funded(free) ^ funded(reference))
    households = {row["project_id"]: float(row["households_served"]) for row in rows(DEMO / "projects.csv")}
    benefit = sum(households[p] for p in funded(paid))
    shortfall = sum(float(row["shortfall"] or 0) for row in rows(paid / "indicators.csv")) * 2000  # the demo's penalty
    objective = json.loads((paid / "manifest.json").read_text(encoding="utf-8"))["objective"]["value"]
    assert objective == pytest.approx(benefit - shortfall - 1e6 * moved, abs=1.0)


def test_a_reference_project_missing_from_the_table_is_reported(tmp_path):
    reference = run_ok(DEMO / "demo.toml", "--out", tmp_path / "ref")
    gone = sorted(funded(reference))[0]
    folder = tmp_path / "demo"
    shutil.copytree(DEMO, folder)
    write_table(folder / "projects.csv", [row for row in rows(DEMO / "projects.csv") if row["project_id"] != gone])
    result = invoke("run", folder / "demo.toml", "--from", reference, "--out", tmp_path / "run", *QUIET)
    assert result.exit_code == 0, result.output
    assert f"not in the projects table and cannot be kept: {gone}" in result.output
    assert funded(reference) - {gone} <= funded(tmp_path / "run")


def test_statuses_and_kept_projects_are_row_blocks_labelled_by_project(tmp_path):
    from allocator.model import formulate
    from allocator.model.arrays import RowKind
    from allocator.data import load_data
    from allocator.scenario_toml import load_scenario

    reference = run_ok(DEMO / "demo.toml", "--out", tmp_path / "ref")
    scenario = load_scenario(demo_with_status(tmp_path, {"D001": "exclude", "D002": "must_fund"}),
                             [f"stability.reference={json.dumps(str(reference))}"])
    model = formulate(scenario, load_data(scenario)).linear
    frame = model.row_frame(RowKind.STATUS, RowKind.KEEP, lower=model.row_lower, upper=model.row_upper)
    status = frame[frame["kind"] == RowKind.STATUS]
    assert status[["key", "group", "lower", "upper"]].values.tolist() == [["must_fund", "D002", 1, 1], ["exclude", "D001", 0, 0]]
    kept = frame[frame["kind"] == RowKind.KEEP]
    assert set(kept["group"]) == funded(reference) - {"D001"}
    assert (kept["lower"] == 1).all()


def test_the_verifier_names_a_broken_status():
    import numpy as np

    from allocator.checks import rule_violations
    from allocator.data import load_data
    from allocator.scenario_toml import load_scenario

    scenario = load_scenario(DEMO / "demo.toml")
    data = load_data(scenario)
    data.status = np.where(data.projects["project_id"] == "D003", "must_fund", np.where(data.projects["project_id"] == "D004", "exclude", ""))
    selected = (data.projects["project_id"] == "D004").to_numpy(dtype=float)
    money = np.zeros((len(selected), len(scenario.sources)))
    money[selected > 0, 0] = data.projects["cost"].to_numpy()[selected > 0]
    problems = rule_violations(scenario, data, selected, money)
    assert "status must_fund but not funded: project D003" in problems
    assert "status exclude but funded: project D004" in problems

"""allocate simulate: replaying a plan under matching shortfall, overruns and delays (docs/simulation.md).

Hand-checked cases for the stall rule, the deterministic limit (no uncertainty reproduces the run),
reproducibility across seeds, worker counts and executors, and the robust plan."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from allocator import load_scenario, solve
from allocator.cli import main
from allocator.errors import InputError
from allocator.rundir import write_run
from allocator.runformat.tables import CSV_ENCODING
from allocator.simulate import load_plan, robust_inputs, robust_plan, simulate
from allocator.scenario import Triangular
from helpers import DATA, REGIONS, ROBUST, write_case

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo"
RISK = """
extends = "demo.toml"

[uncertainty]
local_arrival = { east = { low = 0.8, mode = 0.95, high = 1.0 }, central = { low = 0.6, mode = 0.9, high = 1.0 }, west = { low = 0.5, mode = 0.8, high = 1.0 } }
cost_overrun = { station = { low = 1.0, mode = 1.05, high = 1.3 } }
"""
#: Every uncertainty off: arrival absent (1), no overrun, no delay.
CERTAIN = """
extends = "demo.toml"

[uncertainty]
stall_rule = "stall"
"""


def demo(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "demo"
    if not folder.exists():
        shutil.copytree(DEMO, folder)
    path = folder / f"case{len(list(folder.glob('case*.toml')))}.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the deterministic limit -------------------------------------------------------------------


def test_without_uncertainty_the_replay_is_the_run(tmp_path):
    scenario = load_scenario(demo(tmp_path, CERTAIN))
    result = solve(scenario, marginal="none")
    run_dir = write_run(result, tmp_path / "run", reports=False)
    _, data, plan = load_plan(run_dir)  # read back from the run directory, scenario from its manifest
    simulation = simulate(scenario, [plan], data, draws=20, seed=3, workers=1)
    draws = simulation.draws
    funded = result.selected.sum()
    assert funded > 0
    assert (draws["completed"] == funded).all() and (draws["stalled"] == 0).all()
    assert (draws["stranded"] == 0).all() and (draws["late"] == 0).all()
    assert draws["matching_paid"].iloc[0] == pytest.approx(result.money[:, list(scenario.sources).index("local")].sum(), abs=1e-3)
    indicators = pd.read_csv(run_dir / "indicators.csv", encoding=CSV_ENCODING)
    assert len(indicators) == 3  # the demo's street_centres, one group per zone
    for row in indicators.itertuples():
        column = f"{row.indicator}[{row.group}]"
        np.testing.assert_allclose(draws[column].to_numpy(), row.achieved, rtol=1e-12, err_msg=column)
    summary = simulation.summary.set_index("measure")
    assert summary.loc["street_centres[west]", "planned"] == pytest.approx(
        indicators.set_index("group").loc["west", "achieved"], rel=1e-12)


# --- the stall rule, by hand ---------------------------------------------------------------------

ONE = DATA + """
[types.centre]
welfare = true

[sources.central]
budget = "100万"

[sources.local]
budget = "100万"
matching = {{ ratio = 1.0, of = ["central"] }}
{capacity}

[objective]
sense = "max_benefit"
benefit = {{ benefit = 1.0 }}

[uncertainty]
local_arrival = {{ west = {{ low = 0.6, mode = 0.6, high = 0.6 }} }}
stall_rule = "{rule}"
"""


def hand_case(tmp_path, rule="stall", capacity="", projects=None, regions=None):
    projects = projects or [{"project_id": "P", "region_id": "R2", "type": "centre", "cost": 100, "benefit": 1,
                             "request_central": 50, "request_local": 50}]
    path = write_case(tmp_path / rule, ONE.format(rule=rule, capacity=capacity), projects, regions)
    scenario, data, plan = load_plan(path)
    return scenario, plan, simulate(scenario, [plan], data, draws=5, seed=1, workers=1)


def test_a_project_short_of_matching_money_stalls_and_strands_what_arrived(tmp_path):
    # Cost 100 = 50 central + 50 local; 60% of the local money arrives: 50 + 30 = 80 < 100 in every draw.
    _, plan, simulation = hand_case(tmp_path)
    assert plan.selected.tolist() == [1.0]
    draws = simulation.draws
    assert draws["completed"].tolist() == [0] * 5 and draws["stalled"].tolist() == [1] * 5
    assert draws["stranded"].tolist() == pytest.approx([80.0] * 5)
    assert draws["matching_paid"].tolist() == pytest.approx([30.0] * 5)
    region = simulation.regions.set_index("region_id").loc["R2"]
    assert region["stall_probability"] == 1.0 and region["expected_stranded"] == pytest.approx(80.0)


def test_under_the_late_rule_nothing_is_stranded_but_nothing_counts(tmp_path):
    _, _, simulation = hand_case(tmp_path, rule="late")
    draws = simulation.draws
    assert draws["late"].tolist() == [1] * 5 and draws["stalled"].tolist() == [0] * 5
    assert draws["completed"].tolist() == [0] * 5 and draws["stranded"].tolist() == [0] * 5


def test_a_province_pays_its_projects_in_order_from_its_pool(tmp_path):
    # Capacity 100 in R2's province, fully promised (50 + 50). 60% arrives: a pool of 60. A (first in
    # the table) is paid its 50; B gets the remaining 10 and stalls: 50 central + 10 local stranded.
    projects = [{"project_id": pid, "region_id": "R2", "type": "centre", "cost": 100, "benefit": 1,
                 "request_central": 50, "request_local": 50} for pid in ("A", "B")]
    regions = [dict(r, capacity=100) for r in REGIONS]
    _, _, simulation = hand_case(tmp_path, capacity='capacity = { column = "capacity", by = "province" }',
                                 projects=projects, regions=regions)
    draws = simulation.draws
    assert draws["completed"].tolist() == [1] * 5 and draws["stalled"].tolist() == [1] * 5
    assert draws["stranded"].tolist() == pytest.approx([60.0] * 5)
    assert draws["matching_paid"].tolist() == pytest.approx([60.0] * 5)


def test_the_realised_benefit_counts_only_the_completed_projects(tmp_path):
    # As above, the pool of 60 pays A (benefit 7) in full and B (benefit 3) only 10: B stalls in every draw.
    projects = [{"project_id": pid, "region_id": "R2", "type": "centre", "cost": 100, "benefit": benefit,
                 "request_central": 50, "request_local": 50} for pid, benefit in (("A", 7), ("B", 3))]
    regions = [dict(r, capacity=100) for r in REGIONS]
    _, plan, simulation = hand_case(tmp_path, capacity='capacity = { column = "capacity", by = "province" }',
                                    projects=projects, regions=regions)
    assert plan.selected.tolist() == [1.0, 1.0] and plan.objective == pytest.approx(10.0)
    completed = {"A": 7.0}  # weight 1.0 x benefit of each completed project, no cap, no target
    assert simulation.draws["benefit_realised"].tolist() == pytest.approx([sum(completed.values())] * 5)
    row = simulation.summary.set_index("measure").loc["benefit_realised"]
    assert row["planned"] == pytest.approx(10.0) and row["mean"] == pytest.approx(7.0) and row["p90"] == pytest.approx(7.0)
    assert "objective" not in set(simulation.summary["measure"])


def test_triangular_quantiles():
    law = Triangular(0.5, 0.8, 1.0)
    assert law.quantile(0.0) == 0.5 and law.quantile(1.0) == 1.0
    assert law.quantile(0.6) == pytest.approx(0.8)  # the mode sits at F = (0.8 - 0.5) / 0.5
    assert law.quantile(0.1) == pytest.approx(0.5 + (0.1 * 0.5 * 0.3) ** 0.5)
    assert Triangular(0.6, 0.6, 0.6).quantile(0.3) == 0.6


# --- delays in a phased plan ---------------------------------------------------------------------

PHASED = DATA + """
[phasing]
first_year = 2021
last_year = 2022

[types.centre]
welfare = true

[sources.central]
budget_by_year = ["100万", "100万"]

[objective]
sense = "max_benefit"
benefit = { benefit = 1.0 }

[targets.indicators.early]
contribution = "done"
denominator = "streets"
target = 0.05
deadline = 2021
penalty = 1000

[uncertainty]
matching_source = "central"
delay_probability = 1.0
"""


def test_a_delay_pushes_last_year_starts_out_of_the_plan_and_misses_deadlines(tmp_path):
    projects = [{"project_id": "A", "region_id": "R1", "type": "centre", "cost": 100, "benefit": 10, "done": 1},
                {"project_id": "B", "region_id": "R2", "type": "centre", "cost": 100, "benefit": 6, "done": 0}]
    scenario, data, plan = load_plan(write_case(tmp_path, PHASED, projects))
    assert sorted(plan.start.tolist()) == [0, 1]  # one project a year
    simulation = simulate(scenario, [plan], data, draws=4, seed=0, workers=1)
    draws = simulation.draws
    # Every project starts a year late: the 2021 start finishes in 2022 (too late for the deadline), the 2022 one after the plan.
    assert draws["completed"].tolist() == [1] * 4 and draws["late"].tolist() == [1] * 4
    assert draws["stalled"].tolist() == [0] * 4 and draws["stranded"].tolist() == [0] * 4
    summary = simulation.summary.set_index("measure")
    assert summary.loc["early", "planned"] == pytest.approx(0.05)  # A by 2021 over 20 streets
    assert draws["early"].tolist() == [0.0] * 4
    # Only A (benefit 10) completes, after the deadline: 10 less the penalty 1000 x (0.05 - 0) of the missed target.
    assert draws["benefit_realised"].tolist() == pytest.approx([10.0 - 1000 * 0.05] * 4)


# --- reproducibility ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def risky(tmp_path_factory):
    """The demo with a fifth of its local capacity, so that provinces promise all of it and shortfalls bite."""
    path = demo(tmp_path_factory.mktemp("risky"), RISK)
    regions = pd.read_csv(path.parent / "regions.csv", dtype={"region_id": str})
    regions["local_capacity"] = regions["local_capacity"] / 5
    regions.to_csv(path.parent / "regions.csv", index=False)
    scenario, data, plan = load_plan(path)
    return scenario, data, plan


def test_the_same_seed_gives_the_same_outcome_and_another_seed_does_not(risky):
    scenario, data, plan = risky
    first = simulate(scenario, [plan], data, draws=60, seed=7, workers=1)
    second = simulate(scenario, [plan], data, draws=60, seed=7, workers=1)
    other = simulate(scenario, [plan], data, draws=60, seed=8, workers=1)
    pd.testing.assert_frame_equal(first.draws, second.draws, check_exact=True)
    pd.testing.assert_frame_equal(first.summary, second.summary, check_exact=True)
    assert not first.draws["arrival:west"].equals(other.draws["arrival:west"])
    assert first.draws["arrival:west"].between(0.5, 1.0).all()
    assert 0 < first.draws["stalled"].mean() < plan.selected.sum()  # shortfalls happen, in some draws


def test_worker_counts_and_executors_give_identical_results(risky):
    distributed = pytest.importorskip("distributed")
    scenario, data, plan = risky
    alone = simulate(scenario, [plan], data, draws=90, seed=11, workers=1)
    pool = simulate(scenario, [plan], data, draws=90, seed=11, workers=3)
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        dask = simulate(scenario, [plan], data, draws=90, seed=11, client=client)
    for other in (pool, dask):
        pd.testing.assert_frame_equal(alone.draws, other.draws, check_exact=True)
        pd.testing.assert_frame_equal(alone.regions, other.regions, check_exact=True)
        pd.testing.assert_frame_equal(alone.summary, other.summary, check_exact=True)


# --- robust planning ------------------------------------------------------------------------------


def test_the_robust_plan_stalls_no_more_often_under_the_same_draws(tmp_path):
    # West capacity 200: the nominal plan promises all of it (4 projects of 50 + 50) and stalls whenever
    # less than all of it arrives. The robust plan keeps to 200 x q10 = 124 (2 projects), which every draw covers.
    projects = [{"project_id": f"P{i}", "region_id": "R2", "type": "centre", "cost": 100, "benefit": 10 - i} for i in range(6)]
    regions = [dict(r, capacity=200) for r in REGIONS]
    scenario, data, nominal = load_plan(write_case(tmp_path, ROBUST, projects, regions))
    robust_scenario, robust_data, factors = robust_inputs(scenario, data)
    assert factors["west"] == pytest.approx(0.5 + (0.1 * 0.5 * 0.3) ** 0.5)
    assert robust_data.regions.set_index("region_id").loc["R2", "capacity"] == pytest.approx(200 * factors["west"])
    assert data.regions.set_index("region_id").loc["R2", "capacity"] == 200  # the replay keeps the true capacity
    robust, _ = robust_plan(scenario, data)
    assert nominal.selected.sum() == 4 and robust.selected.sum() == 2
    assert robust.objective < nominal.objective
    simulation = simulate(scenario, [nominal, robust], data, draws=200, seed=5, workers=1, robust_factors=factors)
    by_plan = simulation.draws.groupby("plan")
    stall_probability = by_plan["stalled"].apply(lambda s: (s > 0).mean())
    assert stall_probability["robust"] <= stall_probability["nominal"]
    assert stall_probability["nominal"] == 1.0 and stall_probability["robust"] == 0.0
    assert by_plan["stranded"].mean()["robust"] == 0.0
    # Benefit 10 - i: the robust plan funds P0 and P1 and completes both in every draw, 10 + 9.
    realised = by_plan["benefit_realised"].mean()
    assert realised["robust"] == pytest.approx(19.0)
    assert "expected realised objective (`benefit_realised`" in simulation.markdown()


def test_an_uncertainty_table_is_read_strictly(tmp_path):
    with pytest.raises(InputError, match="need low <= mode <= high"):
        load_scenario(demo(tmp_path, RISK.replace("low = 0.5, mode = 0.8", "low = 0.9, mode = 0.8")))
    with pytest.raises(InputError, match="unknown key 'stall_rul'"):
        load_scenario(demo(tmp_path, CERTAIN.replace("stall_rule", "stall_rul")))
    with pytest.raises(InputError, match="'stall_rule' is 'stop'"):
        load_scenario(demo(tmp_path, CERTAIN.replace('"stall"', '"stop"')))
    with pytest.raises(InputError, match="must be at most 1"):
        load_scenario(demo(tmp_path, RISK.replace("high = 1.0 } }\n", "high = 1.2 } }\n", 1)))
    with pytest.raises(InputError, match="'kiosk' is not one of"):
        load_scenario(demo(tmp_path, RISK.replace("station = {", "kiosk = {")))


def test_the_command_writes_every_output(tmp_path):
    path = demo(tmp_path, RISK)
    out = tmp_path / "sim"
    outcome = CliRunner().invoke(main, ["simulate", str(path), "--draws", "40", "--seed", "7", "--workers", "1",
                                        "--robust", "--out", str(out)])
    assert outcome.exit_code == 0, outcome.output
    for name in ("draws.csv", "summary.csv", "regions_at_risk.csv", "summary.md", "simulation.png"):
        assert (out / name).is_file(), name
    draws = pd.read_csv(out / "draws.csv", encoding=CSV_ENCODING)
    assert len(draws) == 80 and set(draws["plan"]) == {"nominal", "robust"}
    assert "What robustness costs" in (out / "summary.md").read_text(encoding="utf-8")
    again = CliRunner().invoke(main, ["simulate", str(path), "--draws", "40", "--out", str(out)])
    assert again.exit_code == 2 and "already exists" in again.output


HOSTILE = """
name = '![x](http://evil.example/x.png) <script>'
""" + DATA + """
[types.centre]
welfare = true

[sources.central]
budget = "100万"

[sources.local]
budget = "100万"
matching = { ratio = 1.0, of = ["central"] }

[targets.indicators."$x^$"]
baseline = "centres"
contribution = "adds_centre"
denominator = "streets"
target = 0.5
penalty = 1

[objective]
sense = "max_benefit"
benefit = { benefit = 1.0 }

[uncertainty]
local_arrival = { west = { low = 0.6, mode = 0.6, high = 0.6 } }
"""


def test_a_run_with_formula_like_ids_and_hostile_names_is_simulated(tmp_path):
    regions = [dict(r) for r in REGIONS]
    regions[1].update(province="[p](javascript:alert(1))", name="<b>$a$</b>")
    projects = [{"project_id": "=P", "region_id": "R1", "type": "centre", "cost": 50, "benefit": 1, "adds_centre": 1},
                {"project_id": "-Q", "region_id": "R2", "type": "centre", "cost": 50, "benefit": 2, "adds_centre": 1}]
    result = solve(load_scenario(write_case(tmp_path / "case", HOSTILE, projects, regions)), marginal="none")
    run_dir = write_run(result, tmp_path / "run", reports=False)
    assert (run_dir / "allocation.csv").read_text(encoding=CSV_ENCODING).splitlines()[2].startswith("'=P,")  # after -Q: id order
    scenario, data, plan = load_plan(run_dir)  # the ids compare as written, not with the CSV's quote
    np.testing.assert_array_equal(plan.selected, result.selected)
    assert plan.selected.tolist() == [1.0, 1.0]
    out = simulate(scenario, [plan], data, draws=5, seed=1, workers=1).write(tmp_path / "sim")
    md = (out / "summary.md").read_text(encoding="utf-8")
    assert md.startswith(r"# Simulation of !\[x\](http\://evil.example/x.png) \<script\>" + "\n")
    assert r"| R2 | \<b\>\$a\$\</b\> | \[p\](javascript:alert(1)) | west |" in md  # stalls: 60% of its matching money arrives
    assert (out / "simulation.png").read_bytes().startswith(b"\x89PNG")  # the '$x^$' panel drawn as text


def test_a_negative_seed_is_one_error_line(tmp_path):
    # numpy refused it with a traceback (a concurrent.futures one with several workers).
    demo = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml"
    result = CliRunner().invoke(main, ["simulate", str(demo), "--seed", "-1", "--draws", "2", "--workers", "2",
                                       "--out", str(tmp_path / "sim")])
    assert result.exit_code == 2 and result.output.startswith("error: --seed: must be a whole number of 0 or more")
    assert "Traceback" not in result.output and not (tmp_path / "sim").exists()


def test_a_run_is_not_replayed_on_tables_changed_since_it(tmp_path):
    # A regions table edited after the run (every capacity 1) made 29 of 29 projects stall, with exit 0.
    path = demo(tmp_path, RISK)
    run = tmp_path / "run"
    assert CliRunner().invoke(main, ["run", str(path), "--out", str(run), "--no-reports", "--marginal", "none"]).exit_code == 0
    replayed = CliRunner().invoke(main, ["simulate", str(run), "--draws", "2", "--workers", "1", "--out", str(tmp_path / "ok")])
    assert replayed.exit_code == 0, replayed.output
    regions = path.parent / "regions.csv"
    regions.write_text(regions.read_text(encoding="utf-8-sig") + "\n", encoding="utf-8")
    changed = CliRunner().invoke(main, ["simulate", str(run), "--draws", "2", "--workers", "1", "--out", str(tmp_path / "no")])
    assert changed.exit_code == 2 and "regions.csv changed since the run" in changed.output, changed.output
    assert not (tmp_path / "no").exists()


def test_a_matching_source_without_a_matching_rule_is_refused_naming_the_key(tmp_path):
    # central money has no matching rule in the demo (local money matches it): replayed as if central money might not
    # arrive, 26 of 29 projects stalled, with exit 0.
    with pytest.raises(InputError, match="'matching_source' is 'central', a source with no matching rule, while 'local'") as refused:
        load_scenario(demo(tmp_path, RISK + 'matching_source = "central"\n'))
    assert refused.value.where == "uncertainty.matching_source"
    assert load_scenario(demo(tmp_path, RISK + 'matching_source = "local"\n')).uncertainty.matching_source == "local"


def test_set_gives_a_run_directory_an_uncertainty_table(tmp_path):
    # The run's scenario has no [uncertainty]: --set adds one, as it does to a scenario file (it was refused, naming the file).
    path = demo(tmp_path, 'extends = "demo.toml"\n')
    run = tmp_path / "run"
    assert CliRunner().invoke(main, ["run", str(path), "--out", str(run), "--no-reports", "--marginal", "none"]).exit_code == 0
    arrival = "uncertainty={local_arrival={west={low=0,mode=0,high=0}}}"
    done = CliRunner().invoke(main, ["simulate", str(run), "--set", arrival, "--draws", "2", "--workers", "1", "--out", str(tmp_path / "sim")])
    assert done.exit_code == 0, done.output
    draws = pd.read_csv(tmp_path / "sim" / "draws.csv", encoding=CSV_ENCODING)
    assert draws["arrival:west"].tolist() == [0.0, 0.0] and draws["arrival:east"].tolist() == [1.0, 1.0]
    assert (draws["stalled"] > 0).all()  # the west's matching money never arrives
    bare = CliRunner().invoke(main, ["simulate", str(run), "--draws", "2", "--workers", "1", "--out", str(tmp_path / "none")])
    assert bare.exit_code == 2 and "has no [uncertainty] table" in bare.output


def test_robust_is_refused_for_a_plan_the_optimizer_did_not_make(tmp_path):
    # On a formula plan, "what robustness costs" compared the robust optimum with the formula and credited robustness
    # with the optimizer's advantage (+40,031 objective on the demo).
    path = demo(tmp_path, RISK + '\n[baseline]\nlevel = "province"\nfactors = { urban_households = 1.0 }\npriority = "households_served"\n')
    formula = tmp_path / "formula"
    made = CliRunner().invoke(main, ["baseline", str(path), "--out", str(formula)])
    assert made.exit_code == 0, made.output
    refused = CliRunner().invoke(main, ["simulate", str(formula), "--robust", "--draws", "2", "--workers", "1", "--out", str(tmp_path / "sim")])
    assert refused.exit_code == 2, refused.output
    assert "--robust: --robust compares the optimizer's robust plan with its nominal plan, but this run was made by allocate " \
           "baseline (status formula)" in " ".join(refused.output.split())
    assert not (tmp_path / "sim").exists()
    plain = CliRunner().invoke(main, ["simulate", str(formula), "--draws", "2", "--workers", "1", "--out", str(tmp_path / "sim")])
    assert plain.exit_code == 0, plain.output

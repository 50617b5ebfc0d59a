"""The CLI: one clear line and the right exit code for each kind of failure, nothing half-written."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from allocator.cli import main
from helpers import DATA, write_case

PROJECTS = [
    {"project_id": "P1", "region_id": "R1", "type": "centre", "cost": 100, "benefit": 10},
    {"project_id": "P2", "region_id": "R2", "type": "centre", "cost": 80, "benefit": 9},
]
SCENARIO = DATA + """
[types.centre]
welfare = true
[sources.central]
budget = "150万"
[objective]
sense = "max_benefit"
benefit = { benefit = 1.0 }
"""


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_run_writes_every_table_and_refuses_to_overwrite(tmp_path):
    scenario = write_case(tmp_path / "case", SCENARIO, PROJECTS)
    out = tmp_path / "run"
    result = invoke("run", scenario, "--out", out)
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {"allocation.csv", "by_source.csv", "by_zone.csv", "by_region.csv", "by_type.csv", "indicators.csv", "manifest.json"} <= names
    assert "中央" not in result.output and "central" in result.output
    again = invoke("run", scenario, "--out", out)
    assert again.exit_code == 2 and "already exists" in again.output
    assert invoke("run", scenario, "--out", out, "--force").exit_code == 0


def test_override_is_logged_and_applied(tmp_path):
    scenario = write_case(tmp_path / "case", SCENARIO, PROJECTS)
    result = invoke("run", scenario, "--out", tmp_path / "run", "--set", "sources.central.budget=1亿")
    assert result.exit_code == 0
    assert "override sources.central.budget: '150万' -> '1亿'" in result.output
    assert "2 of 2 candidates" in result.output


def test_infeasible_run_exits_3_and_writes_a_diagnosis_not_an_allocation(tmp_path):
    toml = SCENARIO + "\n[targets.counts.all]\ntype = \"centre\"\nmin = 2\n"
    scenario = write_case(tmp_path / "case", toml, PROJECTS)
    out = tmp_path / "run"
    result = invoke("run", scenario, "--out", out)
    assert result.exit_code == 3
    assert "infeasible" in result.output and "No allocation was written" in result.output
    assert "add 30.00万元 to 'central'" in result.output  # both projects cost 180万 against a budget of 150万
    assert sorted(p.name for p in out.iterdir()) == ["diagnosis.md", "manifest.json"]
    assert not any(p.name.startswith(".run") for p in tmp_path.iterdir())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda rows: rows + [dict(rows[0])], "project_id 'P1' appears more than once (rows 2, 4)"),
        (lambda rows: [rows[0] | {"region_id": "R9"}], "region_id 'R9' is not in the regions table"),
        (lambda rows: [rows[0] | {"type": "centr"}], "type 'centr' is not a project type"),
        (lambda rows: [rows[0] | {"cost": "abc"}], "cannot read 'abc' as an amount"),
        (lambda rows: [rows[0] | {"cost": 0}], "cost must be positive"),
        (lambda rows: [{k: v for k, v in rows[0].items() if k != "cost"}], "missing column 'cost'"),
    ],
)
def test_bad_projects_table_names_file_row_and_column(tmp_path, mutate, message):
    scenario = write_case(tmp_path / "case", SCENARIO, mutate(PROJECTS))
    result = invoke("run", scenario, "--out", tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "projects.csv" in result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_gbk_table_is_read(tmp_path):
    scenario = write_case(tmp_path / "case", SCENARIO, PROJECTS)
    regions = (tmp_path / "case" / "regions.csv")
    regions.write_bytes(regions.read_text(encoding="utf-8").encode("gbk"))
    result = invoke("validate", scenario)
    assert result.exit_code == 0, result.output


def test_missing_scenario_file(tmp_path):
    result = invoke("validate", tmp_path / "nope.toml")
    assert result.exit_code == 2 and "scenario file not found" in result.output


def test_pulp_backend_gives_the_same_allocation(tmp_path):
    scenario = write_case(tmp_path / "case", SCENARIO, PROJECTS)
    highs = invoke("run", scenario, "--out", tmp_path / "a")
    cbc = invoke("run", scenario, "--out", tmp_path / "b", "--solver", "cbc")
    assert highs.exit_code == 0 and cbc.exit_code == 0, cbc.output
    assert (tmp_path / "a" / "allocation.csv").read_text(encoding="utf-8-sig").splitlines()[1:] == \
        (tmp_path / "b" / "allocation.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    assert "PULP_CBC_CMD" in Path(tmp_path / "b" / "manifest.json").read_text(encoding="utf-8")


@pytest.mark.parametrize(("override", "says"), [('solver.name="nosuch"', "unknown solver 'nosuch'"),
                                                ("balance.per_resident={p={min=2.0}}", "has no 'population' column")],
                         ids=["unknown solver", "per resident without population"])
def test_validate_refuses_what_run_refuses_with_the_same_error(tmp_path, override, says):
    demo = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml"
    validated = invoke("validate", demo, "--set", override)
    ran = invoke("run", demo, "--set", override, "--out", tmp_path / "run")
    assert validated.exit_code == ran.exit_code == 2, (validated.output, ran.output)
    error = next(line for line in ran.output.splitlines() if line.startswith("error:"))
    assert says in error and error in validated.output and not (tmp_path / "run").exists()


@pytest.mark.parametrize("existing", ["file", "link"])
def test_write_model_never_replaces_or_writes_through_an_existing_name(tmp_path, existing):
    demo = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml"
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes", encoding="utf-8")
    path = tmp_path / "mine.lp"
    if existing == "file":
        path.write_text("my own model", encoding="utf-8")
    else:
        path.symlink_to(notes)
    result = invoke("validate", demo, "--write-model", path)
    assert result.exit_code == 2 and "already exists" in result.output and "Traceback" not in result.output
    assert notes.read_text(encoding="utf-8") == "my notes"
    assert path.is_symlink() if existing == "link" else path.read_text(encoding="utf-8") == "my own model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.lp", "notes.txt"]


@pytest.mark.parametrize("suffix", [".lp", ".mps"])
def test_written_model_solves_to_the_same_optimum_elsewhere(tmp_path, suffix):
    import highspy

    demo = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml"
    path = tmp_path / f"model{suffix}"
    result = invoke("validate", demo, "--write-model", path)
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # written under its name alone, no partial left
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("mip_rel_gap", 0.0)
    highs.readModel(str(path))
    highs.run()
    run = invoke("run", demo, "--out", tmp_path / "run", "--no-reports", "--marginal", "none", "--set", "solver.mip_rel_gap=0")
    objective = float(next(line for line in run.output.splitlines() if line.startswith("objective")).split(":")[1].replace(",", ""))
    assert highs.getInfo().objective_function_value == pytest.approx(objective, abs=0.01)  # the file maximises benefit, as the demo does

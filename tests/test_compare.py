"""Comparing runs: read back from their directories, one table with a `run` level, differences from the first."""

import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from allocator import compare, load_scenario, read_run, solve, with_overrides
from allocator.cli import main
from allocator.compare import headline
from allocator.rundir import write_run
from allocator.runformat.markdown import markdown_table

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml"


@pytest.fixture(scope="module")
def demo_results():
    scenario = load_scenario(DEMO)
    return solve(scenario, marginal="none"), solve(with_overrides(scenario, {"sources.central.budget": "800万"}), marginal="none")


def test_read_run_gives_back_the_written_tables(demo_results, tmp_path):
    result, _ = demo_results
    run = read_run(write_run(result, tmp_path / "run"))
    pd.testing.assert_frame_equal(run.allocation.drop(columns=["name"]), result.allocation.drop(columns=["name"]), check_dtype=False)
    assert run.allocation["project_id"].tolist() == result.allocation["project_id"].tolist()
    assert run.objective == pytest.approx(result.objective)
    assert run.status == "optimal" and run.source_keys == ["central", "lottery", "local"]
    figures = headline(run)
    assert figures["used:central"] == pytest.approx(result.by_source.set_index("source").loc["central", "used"])
    assert figures["funded:centre"] == result.by_type.set_index("type").loc["centre", "funded"]


def test_differences_are_against_the_first_run(demo_results, tmp_path):
    full, cut = demo_results
    comparison = compare({"full": full, "cut": cut}, out=tmp_path / "cmp")
    assert comparison.figures.columns.name == "run" and list(comparison.figures.columns) == ["full", "cut"]
    table = comparison.table()
    assert table.loc["used:central", "Δ cut"] == pytest.approx(cut.by_source["used"][0] - full.by_source["used"][0])
    assert table.loc["objective", "Δ cut"] == pytest.approx(cut.objective - full.objective)
    assert table.loc["objective", "Δ cut"] < 0  # less central money, less benefit
    zones = comparison.by_zone
    assert zones.columns.names == ["figure", "run"]
    assert (zones[("total", "Δ cut")] == zones[("total", "cut")] - zones[("total", "full")]).all()
    changed = set(full.allocation["project_id"][full.selected != cut.selected])
    assert set(comparison.projects.index) == changed and changed
    assert set(comparison.projects["funded_in"]) <= {"full", "cut", "full, cut", "none"}
    # Run directories and in-memory results go through the same read-back: same table either way.
    again = compare({"full": tmp_path / "cmp" / "runs" / "01-full", "cut": tmp_path / "cmp" / "runs" / "02-cut"})
    pd.testing.assert_frame_equal(again.table(), table)


def test_markdown_comparison_renders_as_a_table(demo_results, tmp_path):
    full, cut = demo_results
    comparison = compare([full, cut], out=tmp_path / "cmp")
    text = (tmp_path / "cmp" / "comparison.md").read_text(encoding="utf-8")
    block = text.split("## Headline figures\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert block[0].startswith("| figure |") and block[0].count("|") == len(comparison.table().columns) + 2
    assert set(block[1].replace("|", "").split()) <= {"---", "---:"}
    assert len(block) == 2 + len(comparison.table())  # header, separator, one row per figure
    assert all(line.startswith("| ") and line.endswith(" |") for line in block)
    csv = pd.read_csv(tmp_path / "cmp" / "comparison.csv", encoding="utf-8-sig")
    assert csv["figure"].tolist() == comparison.table().index.tolist()


def test_markdown_table_escapes_pipes_and_formats_numbers():
    text = markdown_table(pd.DataFrame({"a": ["x|y"], "b": [12345.678]}))
    assert text.splitlines() == ["| a | b |", "| --- | ---: |", "| x\\|y | 12,345.68 |"]


def test_a_failed_run_compares_by_its_status(tmp_path):
    runner = CliRunner()
    failed = runner.invoke(main, ["run", str(DEMO), "--set", "targets.counts.centres.min=40", "--out", str(tmp_path / "bad")])
    assert failed.exit_code == 3
    result = runner.invoke(main, ["compare", str(DEMO), str(tmp_path / "bad"), "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "cmp" / "comparison.csv", encoding="utf-8-sig").set_index("figure")
    assert table.loc["status"].tolist()[:2] == ["optimal", "infeasible"]
    again = runner.invoke(main, ["compare", str(DEMO), str(tmp_path / "bad"), "--out", str(tmp_path / "cmp")])
    assert again.exit_code == 2 and "already exists" in again.output


def test_headline_counts_only_groups_with_a_value(tmp_path):
    from helpers import DATA, REGIONS, write_case

    regions = [REGIONS[0], REGIONS[1] | {"streets": 0}]  # R2 has no street offices: no value there
    projects = [{"project_id": "P1", "region_id": "R1", "type": "centre", "cost": 100, "benefit": 1, "adds": 1}]
    toml = DATA + """
[types.centre]
[sources.central]
budget = "1亿"
[targets.indicators.cover]
contribution = "adds"
baseline = "centres"
denominator = "streets"
scope = "region"
target = 0.9
penalty = 1
[objective]
benefit = { benefit = 1.0 }
"""
    from allocator.compare import headline
    from allocator.rundir import write_run
    from allocator.runformat.run import read_run

    result = solve(load_scenario(write_case(tmp_path, toml, projects, regions)), marginal="none")
    assert result.indicators["achieved"].isna().sum() == 1
    headline = headline(read_run(write_run(result, tmp_path / "run", reports=False)))
    assert (headline["targets_met"], headline["targets_missed"]) == (0, 1)  # R1: (4 + 1) / 10 < 0.9


def test_comparison_html_has_the_headline_table(demo_results, tmp_path):
    full, cut = demo_results
    comparison = compare([full, cut], out=tmp_path / "cmp")
    html = (tmp_path / "cmp" / "comparison.html").read_text(encoding="utf-8")
    headline = html.split("<h2>Headline figures</h2>", 1)[1].split("</table>", 1)[0]
    assert headline.count("<tr>") == 1 + len(comparison.table())
    assert "http://" not in html and "https://" not in html


HOSTILE_NAME = "![x](http://evil.example/x.png) <script>alert(1)</script>"


def test_runs_with_formula_like_keys_and_hostile_names_compare_as_written(tmp_path):
    from helpers import DATA, REGIONS, write_case

    regions = [REGIONS[0] | {"province": "[p](javascript:alert(1))"}, REGIONS[1]]
    projects = [{"project_id": "=P1", "name": "<img src=x onerror=alert(1)>", "region_id": "R1", "type": "centre", "cost": 100,
                 "benefit": 2},
                {"project_id": "-P2", "name": "$x^$", "region_id": "R2", "type": "centre", "cost": 100, "benefit": 1}]
    toml = f"name = '{HOSTILE_NAME}'\n" + DATA + """
[types.centre]
[sources."=lottery+1"]
label = "[a](javascript:alert(2))"
budget = "200万"
[objective]
benefit = { benefit = 1.0 }
"""
    scenario = load_scenario(write_case(tmp_path / "case", toml, projects, regions))
    both, one = solve(scenario, marginal="none"), solve(with_overrides(scenario, {"sources.=lottery+1.budget": "100万"}), marginal="none")
    comparison = compare({"both": both, "one": one}, out=tmp_path / "cmp")
    assert comparison.figures.loc["used:=lottery+1"].tolist() == [200.0, 100.0]
    assert comparison.projects.index.tolist() == ["-P2"] and comparison.projects.loc["-P2", "name"] == "$x^$"
    csv = (tmp_path / "cmp" / "projects.csv").read_text(encoding="utf-8-sig").splitlines()
    assert csv[1].startswith("'-P2,$x^$,")
    md = (tmp_path / "cmp" / "comparison.md").read_text(encoding="utf-8")
    assert r"\[p\](javascript:alert(1))" in md and r"| -P2 | \$x^\$ |" in md
    unescaped = re.sub(r"\\[!-/:-@\[-`{-~]", "", md.split("## Headline figures", 1)[1])
    assert not re.search(r"[\[\]<$]|https?://", unescaped), re.findall(r".{20}[\[\]<$].{20}", unescaped)[:3]

"""Comparing runs: read back from their directories, one table with a `run` level, differences from the first."""

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
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
    block = text.split("## 主要指标\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert block[0].startswith("| 项目 | 方案A | 方案B | B − A |") and block[0].count("|") == len(comparison.table().columns) + 2
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
    headline = html.split("<h2>主要指标</h2>", 1)[1].split("</table>", 1)[0]
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
    unescaped = re.sub(r"\\[!-/:-@\[-`{-~]", "", md.split("## 主要指标", 1)[1])
    assert not re.search(r"[\[\]<$]|https?://", unescaped), re.findall(r".{20}[\[\]<$].{20}", unescaped)[:3]


# -- what a planner reads: order, figures, the workbook and the terminal ----------------------------------------------

DEMO_REGIONS = DEMO.parent / "regions.csv"


def division_order(regions_csv: Path, provinces: set[str]) -> list[str]:
    """The provinces in the order of their smallest region code, read from the scenario's own regions table."""
    regions = pd.read_csv(regions_csv, dtype=str)
    first = regions.groupby("province")["region_id"].min()
    return [p for p in first.sort_values().index if p in provinces]


@pytest.fixture(scope="module")
def demo_three(demo_results, tmp_path_factory):
    """Three demo runs (central money 1,500万, 800万, 1,000万), compared and written."""
    full, cut = demo_results
    middle = solve(with_overrides(load_scenario(DEMO), {"sources.central.budget": "1000万"}), marginal="none")
    out = tmp_path_factory.mktemp("three") / "cmp"
    return compare({"full": full, "cut": cut, "middle": middle}, out=out), out


def test_provinces_follow_the_division_codes_everywhere(demo_three):
    comparison, out = demo_three
    expected = division_order(DEMO_REGIONS, set(comparison.by_province.index))
    assert expected == ["浙江省", "湖北省", "四川省"] and expected != sorted(expected)  # codes 33, 42, 51; not Unicode order
    csv = pd.read_csv(out / "by_province.csv", encoding="utf-8-sig")
    assert csv["province"].tolist() == expected
    churn = pd.read_csv(out / "churn.csv", encoding="utf-8-sig")
    for run in ("cut", "middle"):
        rows = churn[(churn["run"] == run) & (churn["level"] == "province")]
        assert rows["group"].tolist() == expected
        assert churn[(churn["run"] == run) & (churn["level"] == "zone")]["group"].tolist() == ["east", "central", "west"]
    md = (out / "comparison.md").read_text(encoding="utf-8")
    table = md.split("## 分省 · 资助项目数\n\n", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    assert [line.split(" | ")[0].lstrip("| ") for line in table] == expected


def test_page_figures_have_their_stated_decimals_and_separators(demo_three):
    comparison, out = demo_three
    md = (out / "comparison.md").read_text(encoding="utf-8")
    body = md.split("## 主要指标", 1)[1]
    assert max(len(d) for d in re.findall(r"\d\.(\d+)", body)) == 2
    assert not re.search(r"(?<![\w-])\d{4,}", body)  # thousands separators (project ids like D001 aside)
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:] for line in body.split("## 分区域", 1)[0].splitlines()
            if line.startswith("| ")}
    funded = pd.read_csv(out / "runs" / "01-full" / "allocation.csv", encoding="utf-8-sig")["selected"].sum()
    assert rows["资助项目数"][0] == f"{funded:,.0f}"  # a count, whole
    used = pd.read_csv(out / "runs" / "02-cut" / "by_source.csv", encoding="utf-8-sig").set_index("source")["used"]
    assert rows["中央专项资金已安排（万元）"][1] == f"{used['central']:,.2f}"
    assert rows["中央专项资金已安排（万元）"][3] == f"{used['central'] - 1500:+,.2f}"  # B − A, signed
    assert re.fullmatch(r"\d+\.\d{2}%", rows["相对间隙"][0].strip())
    assert "[" not in md.split("## 主要指标", 1)[1].split("## 资助安排", 1)[0]  # no machine keys such as funded[run]


def test_figures_are_formatted_by_kind():
    from allocator.report.comparison import COUNT, MONEY, PERCENT, VALUE, show

    assert show(36131.32284963914, MONEY) == "36,131.32"
    assert show(1.56e-05, PERCENT) == "0.00%" and show(0.0152, PERCENT, delta=True) == "+1.52%"
    assert show(3237.0, COUNT) == "3,237" and show(2.5, COUNT) == "2.50" and show(-3.0, COUNT, delta=True) == "-3"
    assert show(-0.001, MONEY, delta=True) == "0" and show(float("nan"), VALUE) == ""


def test_workbook_has_one_sheet_per_view_with_the_csv_values(demo_three):
    from openpyxl import load_workbook

    from allocator.report.labels import status_label, zone_label

    comparison, out = demo_three
    book = load_workbook(out / "comparison.xlsx")
    assert book.sheetnames == ["方案说明", "主要指标", "分区域", "分省", "变化项目", "项目增减"]
    views = {"主要指标": "comparison.csv", "分区域": "by_zone.csv", "分省": "by_province.csv", "变化项目": "projects.csv",
             "项目增减": "churn.csv"}
    for sheet, file in views.items():
        ws = book[sheet]
        assert ws.freeze_panes == "B2", sheet
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        header, values = rows[0], rows[1:]
        assert all(re.search(r"[\u4e00-\u9fff]", str(h)) or re.fullmatch(r"[A-Z] − A", str(h)) for h in header), header
        assert not any(re.search(r"[\[\]:_Δ]|funded|money|selected", str(h)) for h in header), header
        csv = pd.read_csv(out / file, encoding="utf-8-sig", dtype={"project_id": str})
        assert len(values) == len(csv) and len(header) == len(csv.columns), sheet
        for row, (_, expected) in zip(values, csv.iterrows()):
            for got, want in zip(row, expected.tolist()):
                if isinstance(want, (int, float)) and not isinstance(want, bool):
                    assert (got is None and pd.isna(want)) or got == pytest.approx(want), (sheet, row, expected.tolist())
    headline = [list(r) for r in book["主要指标"].iter_rows(values_only=True)]
    assert headline[0] == ["项目", "方案A", "方案B", "方案C", "B − A", "C − A"]
    assert headline[1][1:4] == [status_label("optimal")] * 3
    zones = [r[0] for r in book["分区域"].iter_rows(min_row=2, values_only=True)]
    assert zones == [zone_label(z) for z in pd.read_csv(out / "by_zone.csv", encoding="utf-8-sig")["zone"]]
    province = book["分省"]
    assert "资助项目数 · 方案A" in [c.value for c in province[1]]
    formats = {c.value: province.cell(2, c.column).number_format for c in province[1]}
    assert formats["资金合计（万元） · 方案B"] == "#,##0.00" and formats["占全国资金比重 · 方案A"] == "0.00%"
    assert formats["资助项目数 · C − A"] == "#,##0"
    assert len(list(book["变化项目"].iter_rows(min_row=2))) == len(comparison.projects)


def test_terminal_shows_a_plain_table_with_readable_headers(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["run", str(DEMO), "--set", "sources.central.budget=800万", "--out", str(tmp_path / "cut"),
                                "--marginal", "none", "--no-reports"]).exit_code == 0
    result = runner.invoke(main, ["compare", str(tmp_path / "cut"), str(DEMO), "--label", "cut", "--label", "full[run]",
                                  "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    assert "\\" not in result.output and "full[run]" in result.output  # shown as typed, never escaped
    lines = result.output.splitlines()
    header = next(line for line in lines if line.startswith("项目 "))
    assert header.split() == ["项目", "方案A", "方案B", "B", "−", "A"]
    funded = pd.read_csv(tmp_path / "cut" / "allocation.csv", encoding="utf-8-sig")["selected"].sum()
    row = next(line for line in lines if line.startswith("资助项目数 "))
    assert row.split()[1] == f"{funded:,.0f}"
    assert (tmp_path / "cmp" / "comparison.xlsx").is_file() and (tmp_path / "cmp" / "churn.csv").is_file()
    again = runner.invoke(main, ["compare", str(tmp_path / "cut"), str(DEMO), "--out", str(tmp_path / "cmp"), "--force"])
    assert again.exit_code == 0, again.output  # every file a comparison writes is known as allocate's own


def test_a_scenario_with_no_allocation_compares_by_its_status_as_a_run_directory_does(tmp_path):
    # An infeasible scenario file stopped the comparison with exit 3, while its run directory was compared by its status.
    shutil.copytree(DEMO.parent, tmp_path / "demo")  # a scenario extends only a file in its own folder
    infeasible = tmp_path / "demo" / "infeasible.toml"
    infeasible.write_text('extends = "demo.toml"\n[targets.counts.centres]\nmin = 40\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["compare", str(DEMO), str(infeasible), "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "cmp" / "comparison.csv", encoding="utf-8-sig").set_index("figure")
    assert table.loc["status"].tolist()[:2] == ["optimal", "infeasible"]
    diagnosis = next((tmp_path / "cmp" / "runs").glob("02-*/diagnosis.md")).read_text(encoding="utf-8")
    assert "count 'centres' needs at least 40 projects" in diagnosis


def test_projects_are_not_counted_as_unchanged_when_fewer_than_two_runs_have_an_allocation(tmp_path):
    # With an infeasible run first, "projects changed: 0" said the plans fund the same projects.
    runner = CliRunner()
    assert runner.invoke(main, ["run", str(DEMO), "--set", "targets.counts.centres.min=40", "--out", str(tmp_path / "bad")]).exit_code == 3
    result = runner.invoke(main, ["compare", str(tmp_path / "bad"), str(DEMO), "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    assert "资助安排有变化的项目：无法比较：方案A（不可行）没有分配方案，有分配方案的方案不足两个" in result.output
    assert "0 个" not in result.output
    page = (tmp_path / "cmp" / "comparison.md").read_text(encoding="utf-8")
    assert "无法比较：方案A（不可行）没有分配方案" in page and "各方案资助的项目相同" not in page
    three = runner.invoke(main, ["compare", str(tmp_path / "bad"), str(DEMO), str(DEMO), "--out", str(tmp_path / "cmp3")])
    assert three.exit_code == 0, three.output
    assert "资助安排有变化的项目（与方案B相比）：0 个" in three.output  # counted against the first run with an allocation


def test_repeated_labels_are_refused_naming_the_label(tmp_path):
    result = CliRunner().invoke(main, ["compare", str(DEMO), str(DEMO), "--label", "a", "--label", "a", "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 2
    assert result.output.startswith("error: --label: 'a' is given to more than one run; each run needs a label of its own")
    assert not (tmp_path / "cmp").exists()


@given(st.lists(st.tuples(st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
                          st.decimals(min_value=-10**9, max_value=10**9, places=4, allow_nan=False, allow_infinity=False)),
                min_size=1, max_size=20))
def test_a_difference_is_written_as_the_decimal_of_its_two_figures(pairs):
    # 18,182.2 - 0 was written 18182.199999999983 in comparison.csv: each difference is the exact decimal difference
    # of the two figures as printed (Decimal arithmetic), the float that writes as it.
    from decimal import Decimal

    from allocator.compare import decimal_difference

    after = pd.Series([float(a) for a, _ in pairs])
    before = pd.Series([float(b) for _, b in pairs])
    expected = [float(Decimal(repr(float(a))) - Decimal(repr(float(b)))) for a, b in pairs]
    assert decimal_difference(after, before).tolist() == expected

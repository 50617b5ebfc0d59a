"""Sweeps: one process per point, the same answers as one run at a time, failed points kept as rows."""

import importlib
import re
import struct
import warnings
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from allocator import InputError, load_scenario, solve, sweep
from allocator.cli import main
from allocator.rundir import write_run
from allocator.runformat.run import read_run
from allocator.compare import headline
from allocator.report.labels import display_width
from allocator.sweep import checked_points, parse_vary, points, run_point

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
sweep_module = importlib.import_module("allocator.sweep")  # `allocator.sweep` is the function


@pytest.fixture(scope="module")
def demo_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    return out, sweep(load_scenario(DEMO), {"sources.central.budget": "500万:1500万:3"}, out=out, workers=2)


def test_sweep_equals_the_runs_one_at_a_time(demo_sweep, tmp_path):
    _, result = demo_sweep
    assert result.table.index.name == "run" and len(result.table) == 3
    assert result.table["sources.central.budget (万元)"].tolist() == [500.0, 1000.0, 1500.0]
    for (label, row), budget in zip(result.table.iterrows(), ["500万", "1000万", "1500万"]):
        alone = solve(load_scenario(DEMO, [f"sources.central.budget={budget}"]), marginal="none")
        expected = headline(read_run(write_run(alone, tmp_path / label)))
        for figure, value in expected.items():
            # a warm start may reach the same plan by another path: its objective differs in the last digits, and the gap
            # it proves may differ within solver.mip_rel_gap (docs/whatif.md)
            if figure == "mip_gap":
                assert row[figure] <= 1e-4 + 1e-12 and value <= 1e-4 + 1e-12, (label, figure)
            else:
                assert row[figure] == (pytest.approx(value, rel=1e-12) if figure == "objective" else value), (label, figure)
        assert row["status"] == "optimal"
    assert result.table["objective"].is_monotonic_increasing  # more money, at least as much benefit


def test_chart_is_a_png_of_sensible_size(demo_sweep):
    out, _ = demo_sweep
    data = (out / "sweep.png").read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert 400 <= width <= 4000 and 300 <= height <= 4000
    assert {"sweep.csv", "sweep.md"} <= {p.name for p in out.iterdir()}
    assert len(list((out / "runs").iterdir())) == 3


def test_an_infeasible_point_is_a_row_not_an_error(tmp_path):
    result = sweep(load_scenario(DEMO), {"targets.counts.centres.min": [6, 40]}, out=tmp_path, workers=2)
    assert result.table["status"].tolist() == ["optimal", "infeasible"]
    assert pd.isna(result.table.loc[result.table.index[1], "objective"])
    assert (tmp_path / "runs" / result.table.index[1] / "diagnosis.md").is_file()
    assert (tmp_path / "sweep.png").is_file()


def test_vary_forms():
    linear = parse_vary("sources.central.budget=4亿:10亿:7")
    assert linear.money and linear.values == (40000.0, 50000.0, 60000.0, 70000.0, 80000.0, 90000.0, 100000.0)
    assert linear.settings[0] == "40000万"
    listed = parse_vary("targets.counts.centres.min=6,8")
    assert listed.settings == (6, 8) and not listed.money
    grid = points([parse_vary("a=1,2"), parse_vary("b=x,y,z")])
    assert len(grid) == 6 and grid[0] == {"a": 1, "b": "x"} and grid[-1] == {"a": 2, "b": "z"}
    for bad in ("sources.central.budget", "k=1:2", "k=a亿:b亿:3", "k=1:2:0"):
        with pytest.raises(InputError):
            parse_vary(bad)
    # One end with its unit, the other a bare number: refused as --set refuses it, not read as yuan (0.2万).
    for half in ("k=1000万:2000:3", "k=1000:2000万:2"):
        with pytest.raises(InputError, match="no unit; write the unit"):
            parse_vary(half)
    assert parse_vary("k=0:2000万:3").values == (0.0, 1000.0, 2000.0)  # 0 needs no unit


def test_cli_sweep_grid_with_progress(tmp_path):
    out = tmp_path / "sweep"
    result = CliRunner().invoke(main, ["sweep", str(DEMO), "--vary", "sources.central.budget=1000万,1500万",
                                       "--vary", "sources.lottery.budget=0万,300万", "--workers", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "sweep.csv", encoding="utf-8-sig")
    assert len(table) == 4 and set(table["status"]) == {"optimal"}
    assert table.loc[table["sources.lottery.budget (万元)"] == 0, "used:lottery"].eq(0).all()
    assert "solving 4 points" in result.output
    again = CliRunner().invoke(main, ["sweep", str(DEMO), "--vary", "sources.central.budget=1000万,1500万", "--out", str(out)])
    assert again.exit_code == 2 and "already exists" in again.output


def test_a_sweep_in_which_no_point_finds_an_allocation_exits_3_with_its_diagnoses(tmp_path):
    out = tmp_path / "sweep"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the chart of nothing divided by zero
        result = CliRunner().invoke(main, ["sweep", str(DEMO), "--vary", "targets.counts.centres.min=40,50", "--workers", "1",
                                           "--out", str(out)])
    assert result.exit_code == 3, result.output
    assert "no point of the sweep found an allocation" in result.output
    assert set(pd.read_csv(out / "sweep.csv", encoding="utf-8-sig")["status"]) == {"infeasible"}
    assert all((run / "diagnosis.md").is_file() for run in (out / "runs").iterdir())
    assert (out / "sweep.png").read_bytes().startswith(b"\x89PNG")


def test_sweep_html_is_self_contained_with_its_tables_and_chart(demo_sweep):
    out, result = demo_sweep
    html = (out / "sweep.html").read_text(encoding="utf-8")
    assert html.count("<table>") == 4  # main figures, money by source, projects by type, indicators
    assert html.count("<tr>") == html.count("<table>") * (1 + len(result.table))  # a header and one row per point each
    assert html.count("data:image/png;base64,") == 1
    assert "http://" not in html and "https://" not in html
    assert "default-src 'none'" in html


def _terminal_table(output: str) -> tuple[list[str], list[list[str]]]:
    """The aligned table the sweep command prints: cells are two or more spaces apart."""
    lines = output.split("\n\n")[0].splitlines()
    lines = [line for line in lines if not line.startswith("solving")]
    return re.split(r"\s{2,}", lines[0].strip()), [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_terminal_table_shows_the_few_columns_a_planner_reads_with_the_csv_values(tmp_path):
    out = tmp_path / "sweep"
    result = CliRunner().invoke(main, ["sweep", str(DEMO), "--vary", "sources.central.budget=500万,1500万", "--workers", "2",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    headers, rows = _terminal_table(result.output)
    # the varied value, status, objective, projects, money, the varied source's money, targets missed: nothing else
    expected = {"中央专项资金预算（万元）": "sources.central.budget (万元)", "求解状态": "status", "目标函数值": "objective",
                "资助项目数": "projects_funded", "安排资金合计（万元）": "money_total", "中央专项资金已安排（万元）": "used:central",
                "未达标指标数": "targets_missed"}
    assert headers == list(expected)
    csv = pd.read_csv(out / "sweep.csv", encoding="utf-8-sig")
    assert len(csv.columns) > 20 and len(rows) == len(csv) == 2  # the CSV keeps every figure
    for row, (_, line) in zip(rows, csv.iterrows()):
        assert len(row) == len(headers)
        for header, text in zip(headers, row):
            value = line[expected[header]]
            if header == "求解状态":
                assert text == {"optimal": "最优"}[value]
            else:
                assert _number(text) == pytest.approx(round(float(value), 2), abs=1e-9), header
    table = [line for line in result.output.split("\n\n")[0].splitlines() if not line.startswith("solving")]
    assert len({display_width(line) for line in table}) == 1  # aligned in terminal cells (a CJK character takes two)


def test_each_point_is_checked_once_and_solved_as_checked(tmp_path, monkeypatch):
    applied = []
    original = sweep_module.with_overrides

    def counting(scenario, overrides, **kwargs):
        applied.append(dict(overrides))
        return original(scenario, overrides, **kwargs)

    monkeypatch.setattr(sweep_module, "with_overrides", counting)
    result = CliRunner().invoke(main, ["sweep", str(DEMO), "--vary", "sources.central.budget=500万,1500万", "--workers", "1",
                                       "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert applied == [{"sources.central.budget": "500万"}, {"sources.central.budget": "1500万"}]
    # a worker solves the point's own scenario: it applies no overrides again
    point = checked_points(load_scenario(DEMO), [parse_vary("sources.central.budget=800万")])[0]
    monkeypatch.setattr(sweep_module, "with_overrides", lambda *a, **k: pytest.fail("a point was checked twice"))
    assert run_point(point, tmp_path / "one")["status"] == "optimal"
    assert read_run(tmp_path / "one").by_source.set_index("source").loc["central", "budget"] == 800

"""Sweeps: one process per point, the same answers as one run at a time, failed points kept as rows."""

import struct
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from allocator import InputError, load_scenario, solve, sweep
from allocator.cli import main
from allocator.rundir import write_run
from allocator.runformat.run import read_run
from allocator.compare import headline
from allocator.sweep import parse_vary, points

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
            assert row[figure] == value, (label, figure)
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


def test_sweep_html_is_self_contained_with_its_table_and_chart(demo_sweep):
    out, result = demo_sweep
    html = (out / "sweep.html").read_text(encoding="utf-8")
    assert html.count("<tr>") == 1 + len(result.table)  # header and one row per point
    assert html.count("data:image/png;base64,") == 1
    assert "http://" not in html and "https://" not in html

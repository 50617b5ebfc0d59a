"""The sweep's page, chart and labels as a planner reads them: the scenario's words and units, formatted numbers,
a page that fits 1280 px in a browser, a chart with no tofu without a CJK font; and export on a missing path."""

import re
from pathlib import Path

import pytest
from browser import measure, needs_chromium
from click.testing import CliRunner

from allocator import load_scenario, sweep
from allocator.cli import main
from allocator.report import charts
from allocator.sweep import chart_axis, chart_panels, key_title, names_of, sweep_chart

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml"
NO_CJK = charts.FontChoice(None, None)
#: A number with more decimals than the page states (two), or written in scientific notation.
TOO_PRECISE = re.compile(r"\d\.\d{3,}|\d[eE][-+]?\d")


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """Two keys, two of the four points infeasible (their message is a long line on the page)."""
    out = tmp_path_factory.mktemp("grid") / "sweep"
    return sweep(load_scenario(DEMO), {"sources.central.budget": ["500万", "1500万"], "targets.counts.centres.min": [6, 40]},
                 out=out, workers=2)


@pytest.fixture(scope="module")
def in_yi(tmp_path_factory):
    """A money axis from 1亿 up: read in 亿元."""
    out = tmp_path_factory.mktemp("yi") / "sweep"
    return sweep(load_scenario(DEMO), {"sources.local.budget": "0.5亿:1.5亿:3"}, out=out, workers=2)


@needs_chromium
def test_page_fits_1280_px_and_states_its_decimals(grid, tmp_path):
    assert grid.out is not None and len(grid.failed) == 2
    page = measure(grid.out / "sweep.html", tmp_path, width=1280)
    assert not page.overflows, (page.scroll_width, page.client_width)
    assert "中央专项资金预算（万元）" in page.text and "未得到分配方案的点" in page.text
    numbers = re.findall(r"[\d,]*\d(?:\.\d+)?%?", page.text)
    assert "345,024.48" in numbers and "1,500" in numbers  # the objective to two decimals, the varied value with separators
    assert not TOO_PRECISE.findall(page.text), TOO_PRECISE.findall(page.text)[:5]
    cells = re.findall(r'<td class="n">([^<]*)</td>', (grid.out / "sweep.html").read_text(encoding="utf-8"))
    assert len(cells) > 20 and all(re.fullmatch(r"(-?\d{1,3}(,\d{3})*(\.\d{1,2})?%?)?", c) for c in cells), cells  # separators, ≤ 2 decimals


def test_axis_is_the_sources_label_in_yi_yuan(in_yi):
    font = charts.cjk_font()
    if not font.cjk:
        pytest.skip("no CJK font installed: the Chinese chart labels cannot be drawn")
    x, ticks, title = chart_axis(in_yi, font)
    assert title == "地方配套资金预算（亿元）"
    assert ticks == ["0.5亿", "1亿", "1.5亿"] and x == [0.5, 1.0, 1.5]
    titles = [panel.title for panel in chart_panels(in_yi, font)]
    assert titles[:3] == ["目标函数值", "资助项目数", "安排资金合计（万元）"]
    assert "地方配套资金预算（亿元）" in in_yi.text().splitlines()[0]
    assert [row.split()[0] for row in in_yi.text().splitlines()[1:]] == ["0.5", "1", "1.5"]


def test_small_amounts_are_in_wan_yuan_with_separators(grid):
    font = charts.cjk_font()
    _, ticks, title = chart_axis(grid, font if font.cjk else NO_CJK)
    assert ticks == ["500", "1,500"]
    assert title == ("中央专项资金预算（万元）" if font.cjk else "central budget (10k yuan)")


def test_without_a_cjk_font_the_chart_is_english_and_drawable(in_yi):
    _, ticks, title = chart_axis(in_yi, NO_CJK)
    assert title == "local budget (100M yuan)" and ticks == ["0.5", "1", "1.5"]
    panels = chart_panels(in_yi, NO_CJK)
    texts = [title, *ticks, *(p.title for p in panels), *(name for p in panels for name, _ in p.lines), *(p.target_name for p in panels)]
    assert all(charts.drawable(text, NO_CJK) for text in texts), [t for t in texts if not charts.drawable(t, NO_CJK)]
    assert [p.title for p in panels][:3] == ["Objective", "Projects funded", "Money allocated (10k yuan)"]
    assert sweep_chart(in_yi, NO_CJK)[:8] == b"\x89PNG\r\n\x1a\n"
    assert any(block.kind == "note" and "fonts-noto-cjk" in block.text for block in in_yi.blocks(b"", NO_CJK))  # the page says why


def test_the_outputs_speak_the_scenarios_language():
    chinese = load_scenario(DEMO)
    assert names_of(chinese).lang == "zh"
    assert key_title("targets.counts.centres.min", names_of(chinese), "zh") == "街道社区服务中心项目数下限"
    english = load_scenario(DEMO, ["name=demo", "description=English", "sources.central.label=Central fund", "sources.lottery.label=Lottery",
                                   "sources.local.label=Local", "types.centre.label=Centre", "types.station.label=Station",
                                   "types.network.label=Network"])
    names = names_of(english)
    assert names.lang == "en"
    assert key_title("sources.central.budget", names, "en") == "Central fund budget"
    assert key_title("solver.time_limit", names, "en") == "solver.time_limit"  # a key it has no words for, as written


def test_infeasible_points_are_blank_not_zero_on_the_page(grid):
    rows = grid.rows(grid.main_columns())
    failed = [row for row, status in zip(rows, grid.table["status"]) if status == "infeasible"]
    assert len(failed) == 2 and all(row[0] == "不可行" and not any(row[1:]) for row in failed)


def test_export_of_a_missing_path_says_it_does_not_exist(tmp_path):
    missing = tmp_path / "no-such-run"
    result = CliRunner().invoke(main, ["export", str(missing)])
    assert result.exit_code == 2
    assert str(missing) in result.output and "does not exist" in result.output and "manifest" not in result.output

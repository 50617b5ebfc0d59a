"""Budget-proposal outputs: budget_proposal.xlsx, report.md and report.html (allocator.report)."""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
import time
import tomllib
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from allocator import report
from allocator.cli import main
from allocator.errors import InputError
from allocator.report import charts, document, workbook
from allocator.results import Result
from allocator.rundir import write_run
from allocator.runformat.manifest import Manifest
from allocator.runformat.markdown import escape_markdown
from allocator.runformat.run import Run, read_run
from allocator.scenario_toml import load_scenario
from allocator.solve import solve
from allocator.summary import summary
from helpers import DATA, as_older_run, write_case

CENT = 0.01
HYPERLINK = '=HYPERLINK("http://x","y")'
REGIONS = [
    {"region_id": "110101", "name": "东城区", "province": "北京市", "zone": "east", "streets": 10, "centres": 4},
    {"region_id": "110102", "name": "=1+1", "province": "北京市", "zone": "east", "streets": 8, "centres": 3},
    {"region_id": "510104", "name": "锦江区", "province": "四川省", "zone": "west", "streets": 12, "centres": 2},
    {"region_id": "620102", "name": "城关区", "province": "甘肃省", "zone": "west", "streets": 9, "centres": 1},
]
NAMES = [HYPERLINK, "+1", "@SUM(A1:A9)", "-2", "\tTAB", "普通社区服务中心", "社区服务站 甲", "社区服务站 乙", "社区服务站 丙",
         "<script>alert(1)</script>"]
PROJECTS = [
    {"project_id": f"P{i:02d}", "name": NAMES[i], "region_id": REGIONS[i % 4]["region_id"], "type": "centre" if i % 3 == 0 else "station",
     "cost": 33.37 + 7.11 * i, "benefit": 10 + (i * 7) % 5, "adds_centre": 1 if i % 3 == 0 else 0}
    for i in range(10)
]
SCENARIO = """
name = "报告测试"
description = "中文描述 with English"
""" + DATA + """
[types.centre]
label = "街道社区服务中心"
welfare = true
[types.station]
label = "社区服务站"
welfare = true
[sources.central]
label = "中央专项资金"
budget = "120万"
max_share_of_cost = 0.5
[sources.lottery]
label = "福利彩票公益金"
budget = "45.55万"
max_share_of_cost = 0.3
[sources.local]
label = "地方配套资金"
budget = "99.99万"
[targets.indicators.coverage]
label = "街道社区服务中心覆盖率"
baseline = "centres"
contribution = "adds_centre"
denominator = "streets"
scope = "zone"
target = 0.5
penalty = 10
[targets.indicators.national_coverage]
label = "全国覆盖率"
baseline = "centres"
contribution = "adds_centre"
denominator = "streets"
target = 0.9
penalty = 10
[objective]
sense = "max_benefit"
benefit = { benefit = 1.0 }
"""


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> Result:
    scenario = load_scenario(write_case(tmp_path_factory.mktemp("report-case"), SCENARIO, PROJECTS, REGIONS))
    return solve(scenario, marginal="duals")


@pytest.fixture(scope="module")
def run_dir(result, tmp_path_factory) -> Path:
    return write_run(result, tmp_path_factory.mktemp("report") / "run")


@pytest.fixture(scope="module")
def allocation(run_dir) -> pd.DataFrame:
    return read_run(run_dir).allocation


@pytest.fixture(scope="module")
def book(run_dir):
    return openpyxl.load_workbook(run_dir / "budget_proposal.xlsx")


def _rows(sheet):
    return [list(row) for row in sheet.iter_rows()]


def _find(rows, text, column=0):
    return [i for i, row in enumerate(rows) if row[column].value is not None and str(row[column].value).startswith(text)]


def _header_index(rows, first_header):
    return next(i for i, row in enumerate(rows) if row and row[0].value == first_header)


def test_every_run_writes_the_budget_proposal_outputs(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"budget_proposal.xlsx", "report.md", "report.html"} <= names
    assert [s for s in openpyxl.load_workbook(run_dir / "budget_proposal.xlsx").sheetnames] == \
        ["汇总", "分省", "项目清单", "指标", "边际值", "技术信息", "参数"]


def test_summary_totals_equal_the_allocation_to_the_cent(book, allocation):
    rows = _rows(book["汇总"])
    assert "报告测试" in rows[0][0].value and "最优" in rows[0][0].value and re.search(r"\d{4}-\d\d-\d\d", rows[0][0].value)
    sources = ["central", "lottery", "local"]
    # money by source: the used column and its total
    head = _header_index(rows, "资金来源")
    used = {rows[i][0].value: rows[i][2].value for i in range(head + 1, head + 4)}
    for key, name in zip(sources, ["中央专项资金", "福利彩票公益金", "地方配套资金"]):
        assert abs(used[name] - allocation[key].sum()) < CENT
    total = rows[head + 4]
    assert total[0].value == "合计" and abs(total[2].value - allocation[sources].to_numpy().sum()) < CENT
    assert total[2].number_format == "#,##0.00" and total[1].value == pytest.approx(120 + 45.55 + 99.99)
    # money by zone: every source column's total is the allocation's, and the rows add up to it
    head = _header_index(rows, "区域")
    zone_rows = rows[head + 1:head + 3]
    assert [r[0].value for r in zone_rows] == ["东部", "西部"]
    total = rows[head + 3]
    assert total[0].value == "合计"
    for column, key in enumerate(sources, start=2):
        assert abs(total[column].value - allocation[key].sum()) < CENT
        assert abs(sum(r[column].value for r in zone_rows) - total[column].value) < CENT
        assert zone_rows[0][column].number_format == "#,##0.00"
    assert total[1].value == allocation["selected"].sum()
    # projects by type
    head = _header_index(rows, "项目类型")
    total = rows[head + 3]
    assert total[0].value == "合计" and total[1].value == len(allocation) and total[2].value == allocation["selected"].sum()
    assert abs(total[6].value - allocation[sources].to_numpy().sum()) < CENT


def test_province_sheet_has_one_row_per_province_and_checked_totals(book, allocation):
    rows = _rows(book["分省"])
    assert book["分省"].freeze_panes == "B4"
    assert [c.value for c in rows[2][:7]] == ["省份", "区域", "资助项目数", "中央专项资金", "福利彩票公益金", "地方配套资金", "合计"]
    body = rows[3:-1]
    assert [r[0].value for r in body] == ["北京市", "四川省", "甘肃省"]  # in region-code order, not by name
    sums = allocation.groupby("province")[["central", "lottery", "local"]].sum()
    for r in body:
        for column, key in enumerate(["central", "lottery", "local"], start=3):
            assert abs(r[column].value - sums.at[r[0].value, key]) < CENT
        assert abs(r[6].value - sums.loc[r[0].value].sum()) < CENT
    total = rows[-1]
    assert total[0].value == "合计" and abs(total[6].value - sums.to_numpy().sum()) < CENT
    assert total[7].value == pytest.approx(1.0) and total[7].number_format == "0.00%"
    funded = allocation[allocation["selected"] > 0]
    assert total[8].value == (funded["type"] == "centre").sum() and total[9].value == (funded["type"] == "station").sum()


def test_project_list_holds_funded_projects_grouped_by_province_with_subtotals(book, allocation):
    rows = _rows(book["项目清单"])
    header = [c.value for c in rows[2]]
    assert header[:2] == ["项目编号", "项目名称"] and header[-1] == "合计"
    total_col, central_col = header.index("合计"), header.index("中央专项资金")
    funded = allocation[allocation["selected"] > 0]
    ids = [r[0].value for r in rows[3:] if r[0].value and str(r[0].value).startswith("P")]
    assert sorted(ids) == sorted(funded["project_id"])
    subtotals = _find(rows, "小计")
    assert len(subtotals) == funded["province"].nunique() and subtotals
    start = 3
    for i in subtotals:
        block = rows[start:i]
        assert len({r[header.index("省份")].value for r in block}) == 1
        for column in (central_col, total_col):
            assert abs(sum(r[column].value for r in block) - rows[i][column].value) < CENT
        start = i + 1
    grand = rows[-1]
    assert grand[0].value.startswith("合计")
    assert abs(grand[total_col].value - funded[["central", "lottery", "local"]].to_numpy().sum()) < CENT
    assert abs(grand[header.index("总投资")].value - funded["cost"].sum()) < CENT
    assert book["项目清单"].freeze_panes == "C4"


def test_names_from_the_inputs_arrive_as_inert_text(run_dir, book):
    found = {}
    for sheet in book:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula: {cell.value!r}"
                if isinstance(cell.value, str) and "HYPERLINK" in cell.value:
                    found[sheet.title] = cell
    cell = found["项目清单"]
    assert cell.data_type == "s" and cell.value == "'" + HYPERLINK
    texts = {c.value for row in book["项目清单"].iter_rows() for c in row if isinstance(c.value, str)}
    assert {"'+1", "'@SUM(A1:A9)", "'-2", "'=1+1"} <= texts
    with zipfile.ZipFile(run_dir / "budget_proposal.xlsx") as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert "<f>" not in archive.read(name).decode("utf-8") and "<f " not in archive.read(name).decode("utf-8")
    # the reports escape them too
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in page


def test_column_widths_fit_chinese_text(book):
    sheet = book["项目清单"]
    assert sheet.column_dimensions["B"].width >= 2 * len("普通社区服务中心")
    assert workbook.display_width("社区ab") == 6


def test_parameter_sheet_says_what_produced_the_workbook(book):
    pairs = {r[0].value: r[1].value for r in book["参数"].iter_rows(min_row=4) if r[0].value}
    assert pairs["sources.central.budget"] == "120万" and pairs["sources.central.max_share_of_cost"] == 0.5
    assert pairs["targets.indicators.coverage.scope"] == "zone" and pairs["status"] == "optimal"
    assert pairs["objective.sense"] == "max_benefit" and "inputs.projects.sha256" in pairs


def test_english_export_has_english_headers_and_the_same_numbers(run_dir, tmp_path, book):
    result = CliRunner().invoke(main, ["export", str(run_dir), "--format", "xlsx", "--lang", "en", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    english = openpyxl.load_workbook(tmp_path / "budget_proposal_en.xlsx")
    assert english.sheetnames == ["Summary", "By province", "Funded projects", "Indicators", "Marginal values", "Technical", "Parameters"]
    header = [c.value for c in english["Funded projects"][3]]
    assert header[:2] == ["Project ID", "Project name"] and header[-1] == "Total"
    assert english["Summary"]["A1"].value.startswith("Budget proposal: 报告测试") and "optimal" in english["Summary"]["A1"].value
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for sheet in english:
        header_row = next(r for r in sheet.iter_rows(min_row=3, max_row=6) if r[0].style_id and r[0].font.bold and r[1].value)
        data_labels = ("中央专项资金", "福利彩票公益金", "地方配套资金", "街道社区服务中心", "社区服务站")  # the scenario's own
        assert not any(cjk.search(str(c.value)) for c in header_row
                       if c.value and not any(str(c.value).startswith(x) for x in data_labels)), sheet.title
    zh, en = _rows(book["分省"]), _rows(english["By province"])
    assert [c.value for c in zh[-1][2:8]] == [c.value for c in en[-1][2:8]]


def test_export_from_the_run_directory_reproduces_the_run_workbook(run_dir, tmp_path, book):
    written = report.export(run_dir, "all", "zh", tmp_path)
    assert {p.name for p in written} == {"budget_proposal.xlsx", "report.md", "report.html"}
    again = openpyxl.load_workbook(tmp_path / "budget_proposal.xlsx")
    for name in ["汇总", "分省", "项目清单", "指标"]:
        a = [[c.value for c in row] for row in book[name].iter_rows(min_row=2)]
        b = [[c.value for c in row] for row in again[name].iter_rows(min_row=2)]
        assert len(a) == len(b)
        for ra, rb in zip(a, b):
            for va, vb in zip(ra, rb):
                assert va == pytest.approx(vb, abs=1e-4) if isinstance(va, float) else va == vb


def test_export_refuses_a_directory_without_an_allocation(tmp_path):
    result = CliRunner().invoke(main, ["export", str(tmp_path)])
    assert result.exit_code == 2 and "no manifest.json" in result.output


def test_a_total_that_is_not_the_sum_of_its_rows_is_refused():
    with pytest.raises(workbook.TotalMismatch):
        workbook._check_total("x", [1.0, 2.0], 3.01)


def test_report_says_what_was_funded_and_which_targets_were_missed(run_dir, allocation):
    text = (run_dir / "report.md").read_text(encoding="utf-8")
    funded = int(allocation["selected"].sum())
    assert f"共资助 {funded} 个项目（候选 10 个）" in text
    assert "## 目标完成情况" in text and "全国覆盖率" in text and ("差 " in text or "达标" in text)
    assert "组达标" in text  # the zone-scoped indicator: met in k of 2 groups
    assert "## 边际值" in text  # its rows: tests/test_marginal.py
    assert "| 北京市 |" in text


def test_html_report_is_self_contained(run_dir):
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"url\(|@import|<script|<link", page, re.I)
    images = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert len(images) >= 2 and all(src.startswith("data:image/png;base64,") for src in images)
    assert "default-src 'none'" in page and "分省资金" in page


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it: apt-get install chromium)")
def test_html_report_renders_in_headless_chromium_without_network(run_dir, tmp_path):
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--no-first-run", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--host-resolver-rules=MAP * ~NOTFOUND"]
    url = (run_dir / "report.html").resolve().as_uri()
    shot = tmp_path / "report.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,2000", url], check=True, capture_output=True, timeout=120)
    width, height = _png_size(shot)
    assert (width, height) == (1200, 2000) and shot.stat().st_size > 20_000  # a blank page is a few kB
    dom = subprocess.run([*flags, "--dump-dom", url], check=True, capture_output=True, timeout=120).stdout.decode("utf-8")
    assert "预算方案报告" in dom and "<img" in dom
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", dom, re.I)


def test_charts_never_draw_tofu_without_a_cjk_font(run_dir, monkeypatch):
    drawn: list[str] = []
    original = charts.stacked_bars

    def record(categories, series, title, xlabel, font):
        drawn.extend([*categories, *[name for name, _ in series], title, xlabel])
        return original(categories, series, title, xlabel, font)

    monkeypatch.setattr(charts, "stacked_bars", record)
    blocks = document.build_blocks(read_run(run_dir), "zh", font=charts.FontChoice(None, None))
    assert drawn and all(ord(c) < 128 for text in drawn for c in text), drawn
    assert {"Beijing", "Sichuan", "Gansu", "East", "West", "central", "lottery"} <= set(drawn)
    assert any(b.kind == "note" and "未找到中文字体" in b.text for b in blocks)
    assert not charts.drawable("北京", charts.FontChoice(None, None)) and charts.drawable("Beijing", charts.FontChoice(None, None))


def test_a_cjk_font_when_installed_draws_chinese_labels():
    font = charts.cjk_font()
    if not font.cjk:
        pytest.skip("no CJK font installed (.ci/run installs fonts-noto-cjk)")
    assert charts.drawable("西部 中央专项资金 北京市", font)


def test_project_sheet_lists_thousands_of_funded_projects_with_province_subtotals(tmp_path):
    n, funded = 60_000, 3_000
    allocation = pd.DataFrame({
        "project_id": [f"P{i}" for i in range(n)], "name": [f"社区服务站{i}" for i in range(n)],
        "region_id": [f"{110000 + i % 300}" for i in range(n)], "province": [f"省{i % 31}" for i in range(n)],
        "zone": ["east", "central", "west"] * (n // 3), "type": ["station"] * n, "cost": [12.345] * n,
        "selected": [1 if i % (n // funded) == 0 else 0 for i in range(n)],
    })
    allocation["central"] = allocation["selected"] * 6.0
    allocation["local"] = allocation["selected"] * 6.345
    by_source = pd.DataFrame({"source": ["central", "local"], "label": ["中央", "地方"], "budget": [1e5, 1e5]})
    manifest = Manifest.from_json({"scenario": {"name": "scale", "resolved": {}}, "status": "optimal", "created": "2026-01-01T00:00:00+00:00",
                                  "versions": {"allocator": "test"}})
    run = Run(manifest, allocation=allocation, by_source=by_source, by_type=pd.DataFrame({"type": ["station"], "label": ["社区服务站"]}),
              indicators=pd.DataFrame(columns=["indicator", "label", "scope", "group", "baseline", "achieved", "target", "met", "shortfall", "hard"]))
    report.write_workbook(run, tmp_path / "big.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "big.xlsx", read_only=True)["项目清单"]
    rows = list(sheet.values)
    assert len(rows) == 3 + funded + 31 + 1  # title, subtitle, header, projects, one subtotal per province, total
    assert rows[-1][-1] == pytest.approx(funded * 12.345)


def test_above_the_row_limit_the_project_sheet_lists_counties(run_dir, allocation, tmp_path, monkeypatch):
    monkeypatch.setattr(workbook, "MAX_PROJECT_ROWS", 2)
    report.write_workbook(read_run(run_dir), tmp_path / "counties.xlsx")
    rows = _rows(openpyxl.load_workbook(tmp_path / "counties.xlsx")["项目清单"])
    funded = allocation[allocation["selected"] > 0]
    assert any("按区县汇总" in str(r[0].value) and "allocation.csv" in str(r[0].value) for r in rows[:4])
    header_at = _header_index(rows, "项目编号")
    header = [c.value for c in rows[header_at]]
    counties = [r for r in rows[header_at + 1:] if r[0].value and str(r[0].value)[:1].isdigit()]
    assert sorted(r[0].value for r in counties) == sorted(funded["region_id"].astype(str).unique())
    per_county = funded.groupby(funded["region_id"].astype(str))["cost"].sum()
    for row in counties:
        assert abs(row[header.index("总投资")].value - per_county[row[0].value]) < CENT
    grand = rows[-1]
    assert abs(grand[header.index("合计")].value - funded[["central", "lottery", "local"]].to_numpy().sum()) < CENT


def test_run_without_reports_writes_only_the_tables(tmp_path):
    scenario = write_case(tmp_path / "case", SCENARIO, PROJECTS, REGIONS)
    result = CliRunner().invoke(main, ["run", str(scenario), "--out", str(tmp_path / "run"), "--no-reports"])
    assert result.exit_code == 0, result.output
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert "allocation.csv" in names and not names & {"budget_proposal.xlsx", "report.md", "report.html"}


def test_the_xlsx_rule_is_the_csv_rule():
    from allocator.runformat.tables import neutralise_text

    texts = ["\tx", "\rx", "=1", "a=1", "社区", "'=1", "@A1"]
    assert [workbook.safe_text(t) for t in texts] == [neutralise_text(t) for t in texts]
    assert [workbook.safe_text(t) for t in texts[:5]] == ["'\tx", "'\rx", "'=1", "a=1", "社区"]


def test_control_characters_in_names_are_dropped_from_the_workbook(run_dir, tmp_path):
    """An old run directory (or a name the readers let through) with control characters: the workbook is still written."""
    old = as_older_run(Path(shutil.copytree(run_dir, tmp_path / "old")))
    for name in ("by_source.csv", "allocation.csv", "by_region.csv"):
        path = old / name
        text = path.read_text(encoding="utf-8-sig")
        path.write_text(text.replace("中央专项资金", "\x02=中央\x0b专项\x01资金").replace("锦江区", "锦\x1f江区"),
                        encoding="utf-8-sig")
    for lang, name in (("zh", "budget_proposal.xlsx"), ("en", "budget_proposal_en.xlsx")):
        report.export(old, "xlsx", lang)
        texts = {c.value for sheet in openpyxl.load_workbook(old / name).worksheets for row in sheet.iter_rows() for c in row
                 if isinstance(c.value, str)}
        assert "'=中央专项资金" in texts and "锦江区" in texts
        assert not any(re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", t) for t in texts)


@pytest.mark.parametrize("overrides", [['model.selection="continuous"'], ["phasing.first_year=2021", "phasing.last_year=2022"]],
                         ids=["continuous", "phased"])
def test_workbook_of_part_funded_and_phased_runs_adds_up(tmp_path, overrides):
    scenario = load_scenario(write_case(tmp_path / "case", SCENARIO, PROJECTS, REGIONS), overrides)
    out = write_run(solve(scenario, marginal="none"), tmp_path / "run")
    book = openpyxl.load_workbook(out / "budget_proposal.xlsx")
    allocation = read_run(out).allocation
    rows = _rows(book["项目清单"])
    header = [c.value for c in rows[2]]
    funded = allocation[allocation["selected"] > 0]
    grand = rows[-1]
    assert abs(grand[header.index("总投资")].value - funded["cost"].sum()) < CENT
    assert abs(grand[header.index("合计")].value - funded[["central", "lottery", "local"]].to_numpy().sum()) < CENT
    if "continuous" in overrides[0]:
        assert "资助比例" in header and grand[header.index("资助比例")].value is None
    else:
        assert "开工年度" in header and "分年度" in book.sheetnames
        years = _rows(book["分年度"])
        assert [str(r[0].value) for r in years[3:-1]] == ["2021", "2022"]
        assert abs(years[-1][4].value - allocation[["central", "lottery", "local"]].to_numpy().sum()) < CENT


def test_input_text_is_escaped_in_markdown_and_html():
    nasty = '<script>alert(1)</script> | =HYPERLINK("http://x")'
    blocks = [document.Block("h1", nasty), document.Block("table", headers=["a"], rows=[[nasty]], numeric=[False])]
    md, page = document.render_markdown(blocks), document.render_html(blocks)
    row = md.strip().splitlines()[-1]
    assert "<script>" not in md and len(re.findall(r"(?<!\\)\|", row)) == 2  # the name's pipe cannot split the row
    assert "<script>" not in page and "&lt;script&gt;" in page


HOSTILE_LABEL = "![x](http://evil.example/x.png) [a](javascript:alert(1)) <script>alert(1)</script> $x^$ _em_ www.evil.example"
HOSTILE_PROVINCE = "[p](javascript:alert(2))<img src=x onerror=alert(3)>"


def test_reports_from_hostile_labels_and_provinces_carry_no_live_link_image_or_script(run_dir, tmp_path):
    old = as_older_run(Path(shutil.copytree(run_dir, tmp_path / "old")))  # written before names were checked
    for path in old.glob("*.csv"):
        text = path.read_text(encoding="utf-8-sig")
        path.write_text(text.replace("福利彩票公益金", HOSTILE_LABEL).replace("四川省", f'"{HOSTILE_PROVINCE}"'), encoding="utf-8-sig")
    report.export(old, "all", "en")
    md = (old / "report_en.md").read_text(encoding="utf-8")
    assert (r"!\[x\](http\://evil.example/x.png) \[a\](javascript:alert(1)) \<script\>alert(1)\</script\> \$x^\$ \_em\_ "
            r"www\.evil.example") in md
    assert r"\[p\](javascript:alert(2))\<img src=x onerror=alert(3)\>" in md
    unescaped = re.sub(r"\\[!-/:-@\[-`{-~]", "", md)
    assert not re.search(r"[\[\]<$]|https?://|www\.", unescaped), re.findall(r".{20}[\[\]<$].{20}", unescaped)[:3]
    page = (old / "report_en.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(3)&gt;" in page
    assert not re.search(r"<(script|a|iframe)\b", page) and "onerror=alert(3)>" not in page
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'<img[^>]*src="([^"]+)"', page))


def test_markdown_escaping_keeps_words_and_numbers_readable():
    cells = ["street_centres", "used:central", "achieved:coverage@east", "-3.00", "12,345.68", "AT&T", "a.b@c", "中文_名"]
    assert [escape_markdown(c) for c in cells] == cells
    assert escape_markdown("- 1. # x", line_start=True) == r"\- 1. \# x"
    assert escape_markdown("12. x\n\n- y", line_start=True) == r"12\. x - y"


@pytest.mark.parametrize("text", ["$x^$", r"$\foo{$省", "$$", r"\$1", "a$b"])
def test_charts_draw_dollars_as_text(text):
    font = charts.cjk_font()
    for png in (charts.stacked_bars([text, "b"], [(text, [1.0, 2.0])], text, text, font), charts.ratio_bars([text], [0.5], text, font),
                charts.trajectories(["2021", "2022"], [(text, [1.0, 2.0], 2.0)], text, font)):
        assert png.startswith(b"\x89PNG")


def test_a_chart_of_very_long_labels_stays_a_readable_size(tmp_path):
    path = tmp_path / "long.png"
    path.write_bytes(charts.stacked_bars(["长" * 20_000, "b"], [("来源" * 5_000, [1.0, 2.0])], "t" * 5_000, "x", charts.cjk_font()))
    width, height = _png_size(path)
    assert width < 3_000 and height < 3_000


def test_a_phased_report_shows_each_indicator_year_by_year(tmp_path):
    scenario = load_scenario(write_case(tmp_path / "case", SCENARIO, PROJECTS, REGIONS),
                             ["phasing.first_year=2021", "phasing.last_year=2023"])
    out = write_run(solve(scenario), tmp_path / "run")
    markdown = (out / "report.md").read_text(encoding="utf-8")
    html_text = (out / "report.html").read_text(encoding="utf-8")
    plain = write_run(solve(load_scenario(write_case(tmp_path / "plain", SCENARIO, PROJECTS, REGIONS))), tmp_path / "plain_run")
    assert "分年度进展" in markdown and "分年度进展" not in (plain / "report.md").read_text(encoding="utf-8")
    assert html_text.count("data:image/png") == (plain / "report.html").read_text(encoding="utf-8").count("data:image/png") + 1
    by_year = pd.read_csv(out / "by_year.csv", encoding="utf-8-sig")
    assert list(by_year["year"]) == [2021, 2022, 2023]
    assert by_year["projects_completed"].is_monotonic_increasing


# -- issue 14: indicators as percentages, names not codes, titles, local times, one count of groups --------------------

ROOT = Path(__file__).resolve().parents[1]
RURAL = ROOT / "scenarios" / "rural_14th_plan.toml"
DEMO = ROOT / "scenarios" / "demo" / "demo.toml"
PERCENT = "0.00%"


def _indicators_csv(run_dir: Path) -> pd.DataFrame:
    """indicators.csv as a spreadsheet would read it (UTF-8 with BOM), not through allocator's reader."""
    return pd.read_csv(run_dir / "indicators.csv", encoding="utf-8-sig", dtype={"group": str})


def _summary_row(rows, label_text: str):
    return next(row for row in rows[_header_index(rows, "指标"):] if row and row[0].value == label_text)


def _markdown_rows(text: str, until: str = "## 边际值") -> list[list[str]]:
    """The cells of every Markdown table row before the section `until`."""
    body = text.split(until)[0]
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in body.splitlines()
            if line.startswith("|") and not line.startswith("| ---")]


@pytest.mark.parametrize(("overrides", "display"), [
    ([], "number"),  # the demo's target 75 with scale 0.01 is already in percent points
    (["targets.indicators.street_centres.target=0.75", "targets.indicators.street_centres.scale=1"], "percent"),
    (["targets.indicators.street_centres.target=1", "targets.indicators.street_centres.scale=1"], "percent"),
    (["targets.indicators.street_centres.target=1.5", "targets.indicators.street_centres.scale=1"], "number"),
    (["targets.indicators.street_centres.target=0", "targets.indicators.street_centres.scale=1"], "number"),
    (['targets.indicators.street_centres.display="percent"'], "percent"),
    (["targets.indicators.street_centres.target=0.8", "targets.indicators.street_centres.scale=1",
      'targets.indicators.street_centres.display="number"'], "number"),
])
def test_an_indicator_is_a_percentage_when_its_target_is_a_proportion_unless_the_scenario_says(overrides, display):
    assert load_scenario(DEMO, overrides).indicators["street_centres"].display == display


def test_an_unknown_display_is_refused_naming_the_key():
    with pytest.raises(InputError, match=r"street_centres\.display.*not one of percent, number"):
        load_scenario(DEMO, ['targets.indicators.street_centres.display="percnt"'])


def test_percent_indicators_are_percentages_in_the_workbook_the_report_and_the_terminal(result, run_dir, book):
    csv = _indicators_csv(run_dir)
    national = csv[csv["indicator"] == "national_coverage"].iloc[0]
    row = _summary_row(_rows(book["汇总"]), "全国覆盖率")
    assert [c.value for c in row[2:5]] == pytest.approx([national["baseline"], national["achieved"], 0.9])
    assert {c.number_format for c in row[2:5]} == {PERCENT}
    sheet = _rows(book["指标"])
    head = _header_index(sheet, "指标")
    assert len(sheet) - head - 1 == len(csv)
    for r in sheet[head + 1:]:  # baseline, achieved, target, shortfall of every group
        assert {r[i].number_format for i in (3, 4, 5, 7)} == {PERCENT}
    report_row = next(r for r in _markdown_rows((run_dir / "report.md").read_text(encoding="utf-8")) if r[0] == "全国覆盖率")
    assert report_row[2:5] == [f"{national['baseline']:.2%}", f"{national['achieved']:.2%}", "90.00%"]
    assert f"{national['achieved']:.2%} vs target 90.00%" in summary(result)


def test_a_number_indicator_keeps_its_number_everywhere(tmp_path):
    solved = solve(load_scenario(DEMO), marginal="none")
    run_dir = write_run(solved, tmp_path / "demo")
    csv = _indicators_csv(run_dir)
    rows = _rows(openpyxl.load_workbook(run_dir / "budget_proposal.xlsx")["指标"])
    body = rows[_header_index(rows, "指标") + 1:]
    assert len(body) == len(csv) == 3 and {r[i].number_format for r in body for i in (3, 4, 5, 7)} == {workbook.VALUE}
    assert [r[4].value for r in body] == pytest.approx(list(csv["achieved"]))
    assert "target 75 met in" in summary(solved) and "%" not in summary(solved).split("targets:")[1].replace("(%)", "")
    report_row = next(r for r in _markdown_rows((run_dir / "report.md").read_text(encoding="utf-8")) if r[0].startswith("街道社区服务中心覆盖率"))
    assert report_row[4] == "75"


def test_the_chinese_summary_and_report_show_names_and_the_technical_sheet_keeps_the_codes(run_dir, book):
    names = {"central": "中央专项资金", "lottery": "福利彩票公益金", "local": "地方配套资金", "centre": "街道社区服务中心",
             "station": "社区服务站", "east": "东部", "west": "西部", "coverage": "街道社区服务中心覆盖率", "national_coverage": "全国覆盖率"}
    summary_cells = {str(c.value) for row in book["汇总"].iter_rows() for c in row if c.value is not None}
    assert not summary_cells & set(names)
    assert set(names.values()) <= summary_cells
    report_cells = {c for row in _markdown_rows((run_dir / "report.md").read_text(encoding="utf-8")) for c in row}
    assert not report_cells & set(names) and {"中央专项资金", "东部", "全国覆盖率"} <= report_cells
    rows = _rows(book["技术信息"])
    head = _header_index(rows, "类别")
    assert [c.value for c in rows[head]] == ["类别", "代码", "名称"]
    codes = {r[1].value: r[2].value for r in rows[head + 1:]}
    assert {k: codes.get(k) for k in names} == names and codes["报告测试"] == "报告测试"


@pytest.fixture(scope="module")
def rural(tmp_path_factory) -> tuple[Result, Path]:
    """The rural 14th-plan scenario (9,964 candidates, 2,948 counties), cut short at 5 seconds: a few seconds in all."""
    solved = solve(load_scenario(RURAL, ["solver.time_limit=5"]), marginal="none")
    return solved, write_run(solved, tmp_path_factory.mktemp("rural") / "run")


def _summary_sheet(run_dir: Path) -> list[list]:
    """The rows of the workbook's 汇总 sheet, read alone (read-only: the project list is long)."""
    book = openpyxl.load_workbook(run_dir / "budget_proposal.xlsx", read_only=True)
    try:
        return _rows(book["汇总"])
    finally:
        book.close()


def test_the_flagship_is_titled_with_its_description_not_its_file_name(rural):
    _, run_dir = rural
    description = tomllib.loads(RURAL.read_text(encoding="utf-8"))["description"]
    title = _summary_sheet(run_dir)[0][0].value
    assert title.startswith(f"预算方案：{description}；") and "rural_14th_plan" not in title
    report_md = (run_dir / "report.md").read_text(encoding="utf-8")
    assert report_md.splitlines()[0] == f"# 预算方案报告：{description}" and "rural_14th_plan" not in report_md.split("## ")[0]
    assert f"<title>预算方案报告：{html.escape(description)}</title>" in (run_dir / "report.html").read_text(encoding="utf-8")


def test_groups_are_counted_once_the_same_in_the_terminal_the_workbook_and_the_report(rural):
    solved, run_dir = rural
    csv = _indicators_csv(run_dir)
    county = csv[csv["indicator"] == "county_coverage"]
    measured = county[county["achieved"].notna()]
    met = int((measured["achieved"] >= measured["target"] - 1e-6).sum())
    villages = solved.data.regions.set_index(solved.data.regions["region_id"].astype(str))["villages"]
    without = sorted(g for g in county["group"] if villages[g] == 0)  # counties with no village at all
    assert sorted(county.loc[county["achieved"].isna(), "group"]) == without and len(county) == len(measured) + len(without)
    assert 0 < len(without) < len(county) and len(county) == len(solved.data.regions)
    first = list(county.loc[county["achieved"].isna(), "group"])[:5]

    terminal = summary(solved)
    assert (f"met in {met} of {len(measured)} measured groups ({len(without)} without a denominator: {', '.join(first)}, …)"
            in terminal)
    rows = _summary_sheet(run_dir)
    cell = _summary_row(rows, "县域农村社区综合服务设施覆盖率")[5].value
    assert cell == f"{met}/{len(measured)} 组达标（另有 {len(without)} 组无分母，未计入）"
    assert any(r and str(r[0].value).startswith(f"县域农村社区综合服务设施覆盖率：{len(without)} 组无分母，未计入达标统计：") for r in rows)
    report_md = (run_dir / "report.md").read_text(encoding="utf-8")
    assert f"| {met}/{len(measured)} 组达标（另有 {len(without)} 组无分母，未计入） |" in report_md
    assert f"> 县域农村社区综合服务设施覆盖率：{len(without)} 组无分母，未计入达标统计：{'、'.join(first)}等" in report_md


@pytest.fixture
def zone(monkeypatch):
    """Set the process's time zone (TZ) for one test, and put the machine's back afterwards."""
    def use(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()
    yield use
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("name", ["Asia/Shanghai", "America/New_York", "UTC"])
def test_times_are_shown_in_the_local_zone_with_the_zone_named(run_dir, tmp_path, zone, name):
    zone(name)
    report.export(run_dir, "all", "zh", tmp_path)
    created = datetime.fromisoformat(json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["created"])
    assert created.utcoffset() == timedelta(0)  # the manifest keeps UTC
    local = created.astimezone(ZoneInfo(name))
    offset = local.strftime("%z")
    expected = f"{local:%Y-%m-%d %H:%M:%S} UTC{offset[:3]}:{offset[3:]}"
    facts = dict(r[:2] for r in _markdown_rows((tmp_path / "report.md").read_text(encoding="utf-8")) if len(r) == 2)
    assert facts["生成时间"].startswith(expected) and (name == "UTC" or f"({local.tzname()})" in facts["生成时间"])
    assert f"生成时间：{expected}" in openpyxl.load_workbook(tmp_path / "budget_proposal.xlsx")["汇总"]["A1"].value

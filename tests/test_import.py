"""`allocate import`: application workbooks as counties send them, built here with openpyxl (title rows, a unit
line, merged two-row headers, subtotals, a 合计 that disagrees, names to resolve, numbers typed as text,
formulas), read into a projects table, checked cell by cell and line by line in the report; then run."""

from __future__ import annotations

import math
import re
import shutil
import tomllib
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from allocator.cli import main
from allocator.importing.numbers import read_count, read_money
from allocator.importing.places import gazetteer

REPO = Path(__file__).resolve().parent.parent
TITLE = "2025年度城乡社区综合服务设施建设项目申报汇总表"

# The detail rows of the main workbook (unit 万元): row, name, city, place, type, cost, central, province, local, area, people.
DETAILS = [
    (5, "北山街道社区服务中心", "杭州市", "西湖区", "街道社区服务中心", "1,200", 600, 300, 300, 1500, "３５０００"),
    (6, "紫阳社区服务站", "杭州市", "杭州市上城区", "社区服务站", "120万", 60, 30, 30, "300㎡", 8000),
    (9, "海曙区社区信息化建设", "宁波市", "海曙区", "信息化", 80.5, 40, 20, 20.5, 0, 52000),
    (10, "鼓楼社区服务站", None, "鼓楼区", "社区服务站", 100, 50, 25, 25, 260, 6000),
]


def set_cached_values(path: Path, values: dict[str, float]) -> None:
    """Give formula cells the value Excel would have saved with them (openpyxl writes formulas without one)."""
    with zipfile.ZipFile(path) as book:
        parts = {name: book.read(name) for name in book.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    for cell, value in values.items():
        sheet, count = re.subn(rf'(<c r="{cell}"[^>]*>)<f>(.*?)</f><v\s*/>', rf"\g<1><f>\g<2></f><v>{value}</v>", sheet)
        assert count == 1, cell
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, data in parts.items():
            book.writestr(name, data)


def county_workbook(path: Path, *, total_off_by: float = 1.0) -> Path:
    """Title row merged across, 填报单位 line with 单位：万元, a two-row header with 资金来源 merged over 中央 / 省级 /
    市县 (the other headers merged down), subtotals after their groups, a 合计 off by `total_off_by`, a blank row and notes."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "汇总表"
    sheet["A1"] = TITLE
    sheet.merge_cells("A1:L1")
    sheet["A2"], sheet["I2"] = "填报单位：浙江省民政厅（盖章）", "单位：万元"
    top = ["序号", "项目名称", "所在市", "建设地点", "项目类型", "总投资", "资金来源", None, None, "建筑面积（㎡）", "受益人口", "备注"]
    for column, text in enumerate(top, start=1):
        sheet.cell(3, column, text)
    for column, text in zip("GHI", ("中央", "省级", "市县")):
        sheet[f"{column}4"] = text
    sheet.merge_cells("G3:I3")
    for column in "ABCDEFJKL":
        sheet.merge_cells(f"{column}3:{column}4")
    for number, (row, *values) in enumerate(DETAILS, start=1):
        sheet.cell(row, 1, number)
        for column, value in enumerate(values, start=2):
            sheet.cell(row, column, value)
    sheet["L5"] = "新建"
    sheet["B7"], sheet["F7"], sheet["G7"] = "杭州市小计", "=F5+F6", "=G5+G6"
    sheet["H7"], sheet["I7"], sheet["K7"] = 330, 330, 43000
    sheet["B11"], sheet["F11"], sheet["G11"], sheet["K11"] = "小计", 180.5, 90, 58000
    sheet["B12"], sheet["F12"], sheet["G12"], sheet["K12"] = "合计", 1500.5 + total_off_by, 750, 101000
    sheet["A14"] = "注：1. 本表由县级民政部门填报。"
    sheet.merge_cells("A14:L14")
    sheet["A15"] = "2. 受益人口按常住人口计。"
    book.save(path)
    set_cached_values(path, {"F7": 1320, "G7": 660})
    return path


def yuan_workbook(path: Path, *, cached: bool = True) -> Path:
    """Unit line in 元, a one-row header with the province in its own column, no 序号, and a formula in a cost."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["A1"] = "江西省社区服务设施申报表（单位：元）"
    sheet.append(["项目名称", "省份", "所在县（市、区）", "建设内容", "总投资", "覆盖户数"])
    sheet.append(["滨湖社区服务站", "江西", "西湖区", "新建社区服务站一处", "1,234,567", "1,200"])
    sheet.append(["桃花社区服务站", "江西省", "南昌市西湖区", "社区服务站", "=500000*2", 800])
    book.save(path)
    if cached:
        set_cached_values(path, {"E4": 1000000})
    return path


def invoke(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def read_csv(path: Path) -> pd.DataFrame:
    assert path.read_bytes().startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM"
    return pd.read_csv(path, encoding="utf-8-sig", dtype={"project_id": str, "region_id": str})


@pytest.fixture()
def places_map(tmp_path: Path) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text('[places]\n"鼓楼区" = "320106"\n', encoding="utf-8")
    return path


# -- the pieces ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "unit", "wan"), [
    ("1,200", "万元", 1200.0), ("１２０", "万元", 120.0), ("120万", "元", 120.0), ("1,234,567", "元", 123.4567),
    (3, "亿元", 30000.0), ("¥14.5亿", "万元", 145000.0), ("2615 万元", "元", 2615.0),
])
def test_money_cells_in_the_sheet_unit_or_their_own(value, unit, wan):
    assert read_money(value, unit)[0] == pytest.approx(wan)


@pytest.mark.parametrize(("value", "number"), [("３５０００", 35000), ("12,000", 12000), ("1.2万人", 12000), ("300㎡", 300), (800, 800)])
def test_counts_typed_as_text(value, number):
    assert read_count(value)[0] == number


@pytest.mark.parametrize("value", ["12,00", "abc", "-5", True])
def test_counts_that_are_not_numbers_are_refused(value):
    with pytest.raises(ValueError):
        read_count(value)


@pytest.mark.parametrize("value", ["80 5", "1 2 3", "0 50", "1 300 5", "12.5 0", "1,300 5", "80 5万"])
def test_a_space_inside_a_number_is_refused_unless_it_groups_thousands(value):
    # '80 5' was read as 805万元, '0 50' as 50 (spaces were dropped anywhere; a comma had the strict check).
    with pytest.raises(ValueError, match="space inside the number that is not a thousands separator"):
        read_money(value, "万元")
    with pytest.raises(ValueError, match="space inside the number"):
        read_count(value)


@pytest.mark.parametrize(("value", "wan"), [("1 300", 1300.0), ("12 000 000", 12e6), ("1 300.5", 1300.5), (" 80 万 ", 80.0),
                                            ("１ ３００", 1300.0)])
def test_a_space_grouping_thousands_or_before_a_unit_is_read(value, wan):
    assert read_money(value, "万元")[0] == pytest.approx(wan)


def test_places_resolve_by_full_or_short_name_and_never_guess():
    places = gazetteer()
    assert places.resolve("杭州市西湖区").county.region_id == "330106"
    assert places.resolve("浙江杭州西湖").county.region_id == "330106"
    assert places.resolve("西湖区", province="江西省").county.region_id == "360103"
    assert places.resolve("西湖区北山街道", province="浙江省").county.region_id == "330106"
    ambiguous = places.resolve("西湖区")
    assert ambiguous.county is None and ambiguous.problem == "is ambiguous"
    assert [c.region_id for c in ambiguous.candidates] == ["330106", "360103"]
    assert places.resolve("火星区").county is None



def shipped_townships() -> pd.DataFrame:
    return pd.read_csv(REPO / "allocator" / "importing" / "townships.csv.gz", dtype=str, keep_default_na=False)


def test_streets_and_towns_resolve_to_their_county_after_county_names():
    places = gazetteer()
    resolved = places.resolve("西湖区北山街道")  # two 西湖区; only Hangzhou's has a 北山街道
    assert resolved.county.region_id == "330106" and resolved.note == "北山街道: a township of it (2023 township table)"
    assert places.resolve("北山街道", province="浙江省").county.region_id == "330106"
    assert places.resolve("北山街道办事处", province="浙江省").county.region_id == "330106"
    assert places.resolve("杭州市三墩镇").county.region_id == "330106"
    assert places.resolve("西湖区", province="江西省").county.region_id == "360103"  # a county name is read first


def test_a_township_name_of_several_counties_is_ambiguous_with_its_counties():
    table = shipped_townships()
    counties = pd.read_csv(REPO / "allocator" / "importing" / "counties.csv.gz", dtype=str)
    gansu = set(counties.loc[counties.province == "甘肃省", "region_id"])
    expected = sorted(set(table.loc[(table.name == "城关镇") & table.region_id.isin(gansu), "region_id"]))
    found = gazetteer().resolve("城关镇", province="甘肃省")
    assert len(expected) > 1 and found.county is None and found.problem == "is a township name of several counties"
    assert [c.region_id for c in found.candidates] == expected


def test_a_township_of_a_county_newer_than_the_county_table_is_said_so():
    found = gazetteer().resolve("南苑街道", province="浙江省")  # 杭州市临平区, made from 余杭区 in 2021
    assert found.county is None
    assert found.problem == "is a township of 浙江省临平区, a county created or renamed since the county table (2020)"
    unknown = gazetteer().resolve("火星镇")
    assert unknown.county is None and "nor a street or town of the township table" in unknown.problem


def test_the_township_table_is_reduced_from_its_source(tmp_path):
    from allocator.importing.make_townships import reduce

    source = tmp_path / "townships.csv"
    source.write_text("division_code,name,kind,county_code,county_name,city_code,province_code,province_name,zone\n"
                      "330106002,北山街道,street,330106,西湖区,3301,33,浙江省,east\n"
                      "330199001,某镇,town,330199,西湖区,3301,33,浙江省,east\n"
                      "330113001,南苑街道,street,330113,临平区,3301,33,浙江省,east\n", encoding="utf-8")
    assert reduce(source) == [{"name": "北山街道", "region_id": "330106", "unlisted": ""},
                              {"name": "某镇", "region_id": "330106", "unlisted": ""},
                              {"name": "南苑街道", "region_id": "", "unlisted": "浙江省临平区"}]


SHARED_TOWNSHIPS = REPO / ".." / "shared" / "data" / "townships_2023.csv"


@pytest.mark.skipif(not SHARED_TOWNSHIPS.exists(), reason="reference data ../shared/data is absent; cannot rebuild")
def test_the_shipped_township_table_is_what_the_script_makes():
    from allocator.importing.make_townships import reduce

    rebuilt = pd.DataFrame(reduce(SHARED_TOWNSHIPS))
    pd.testing.assert_frame_equal(shipped_townships(), rebuilt)


def test_a_workbook_with_streets_and_towns_in_their_own_column(tmp_path):
    header = ["项目名称", "省份", "所在县（市、区）", "街道（乡镇）", "项目类型", "总投资"]
    rows = [["甲中心", "浙江", "西湖区", "北山街道", "街道社区服务中心", "900万"],
            ["乙站", "浙江", None, "三墩镇", "社区服务站", "90万"],
            ["丙站", "甘肃", None, "城关镇", "社区服务站", "80万"]]
    path = simple_workbook(tmp_path / "t.xlsx", header, rows)
    code, stdout, _ = invoke("import", path, "--out", tmp_path / "p.csv", "--skip-bad")
    assert code == 0, stdout
    lines = stdout.splitlines()
    assert "| 西湖区 北山街道 | 330106 浙江省杭州市西湖区; 北山街道: a township of it (2023 township table) | 2 |" in lines
    assert "| 三墩镇 | 330106 浙江省杭州市西湖区; 三墩镇: a township of it (2023 township table) | 3 |" in lines
    problem = next(line for line in lines if line.startswith("- sheet 申报表, row 4, column C"))
    assert "'城关镇' is a township name of several counties (candidates: 620121 甘肃省兰州市永登县" in problem
    assert problem.endswith("; write the county before it (西湖区北山街道) or in its own column, or map it under [places] "
                            "in a mapping.toml (--map)")
    table = read_csv(tmp_path / "p.csv")
    assert table[["name", "region_id", "township"]].values.tolist() == [["甲中心", "330106", "北山街道"], ["乙站", "330106", "三墩镇"]]


# -- the county workbook -------------------------------------------------------------------------------------

def test_a_bad_row_stops_the_import_and_is_listed(tmp_path):
    out = tmp_path / "projects.csv"
    code, stdout, stderr = invoke("import", county_workbook(tmp_path / "apps.xlsx"), "--out", out)
    assert code == 2
    assert ("- sheet 汇总表, row 10, column D (建设地点): '鼓楼区' is ambiguous (candidates: 320106 江苏省南京市鼓楼区, "
            "320302 江苏省徐州市鼓楼区, 350102 福建省福州市鼓楼区, 410204 河南省开封市鼓楼区); name the province (a 省份 column, "
            "or province = … in the mapping) or map it under [places] in a mapping.toml (--map)") in stdout.splitlines()
    assert "1 row (10) has problems" in stderr and "nothing written" in stderr
    assert not out.exists() and not (tmp_path / "projects.import.md").exists()


def test_a_cost_with_a_space_inside_is_a_problem_on_its_row(tmp_path, places_map):
    path = county_workbook(tmp_path / "apps.xlsx")
    book = openpyxl.load_workbook(path)
    book["汇总表"]["F9"] = "80 5"  # 80.5 with its point typed as a space: was read as 805
    book.save(path)
    out = tmp_path / "projects.csv"
    code, stdout, stderr = invoke("import", path, "--map", places_map, "--out", out)
    assert code == 2 and not out.exists()
    assert any("row 9, column F" in line and "'80 5' has a space inside the number" in line for line in stdout.splitlines()), stdout


def test_hidden_rows_are_imported_and_said_on_the_terminal_and_in_the_report(tmp_path, places_map):
    # A withdrawn application hidden rather than deleted was imported without a word.
    path = county_workbook(tmp_path / "apps.xlsx")
    book = openpyxl.load_workbook(path)
    book["汇总表"].row_dimensions[9].hidden = True
    book.save(path)
    set_cached_values(path, {"F7": 1320, "G7": 660})  # openpyxl drops the saved values of the subtotal's formulas
    out = tmp_path / "projects.csv"
    code, stdout, stderr = invoke("import", path, "--map", places_map, "--out", out)
    assert code == 0, stdout + stderr
    said = "hidden in Excel, read and imported like the others: 1 row (9)"
    assert said in stderr and "sheet 汇总表" in stderr
    assert said in (tmp_path / "projects.import.md").read_text(encoding="utf-8")
    assert len(read_csv(out)) == 4


def test_the_county_workbook_reads_into_a_clean_table(tmp_path, places_map):
    out = tmp_path / "out" / "projects.csv"
    code, stdout, stderr = invoke("import", county_workbook(tmp_path / "apps.xlsx"), "--map", places_map, "--out", out)
    assert code == 0, stdout + stderr
    table = read_csv(out)
    assert table.columns.tolist() == ["project_id", "name", "region_id", "place", "type", "cost", "area_m2", "asked_central",
                                      "asked_province", "asked_local", "population_served", "备注", "source_row"]
    assert table["region_id"].tolist() == ["330106", "330102", "330203", "320106"]
    assert table["type"].tolist() == ["centre", "station", "network", "station"]
    assert table["cost"].tolist() == [1200.0, 120.0, 80.5, 100.0]
    assert table["asked_central"].tolist() == [600, 60, 40, 50]
    assert table["area_m2"].tolist() == [1500, 300, 0, 260]
    assert table["population_served"].tolist() == [35000, 8000, 52000, 6000]
    assert table["source_row"].tolist() == [5, 6, 9, 10]
    assert table["备注"].fillna("").tolist() == ["新建", "", "", ""]
    assert all(re.fullmatch(r"\d{6}-[0-9a-f]{6}", i) for i in table["project_id"]) and table["project_id"].is_unique
    report = out.with_name("projects.import.md")
    assert stdout == report.read_text(encoding="utf-8") + f"\nwritten {out}\nwritten {report}\n"


def test_the_report_says_what_was_read_excluded_checked_and_decided(tmp_path, places_map):
    out = tmp_path / "projects.csv"
    code, _, stderr = invoke("import", county_workbook(tmp_path / "apps.xlsx"), "--map", places_map, "--out", out)
    assert code == 0
    lines = (tmp_path / "projects.import.md").read_text(encoding="utf-8").splitlines()
    expected = [
        "# Import report: apps.xlsx",
        "- sheet: 汇总表",
        f"- title: {TITLE}",
        "- money unit: 万元 (row 2: 填报单位：浙江省民政厅（盖章）  单位：万元)",
        "- header: rows 3–4",
        "- rows below the header: 11 (rows 5–15)",
        "- projects read: 4",
        "- projects written: 4",
        "- total cost written: 1,500.50万元",
        "| 7 | subtotal (杭州市小计) |",
        "| 8 | blank |",
        "| 11 | subtotal (小计) |",
        "| 12 | total (合计) |",
        "| 13 | blank |",
        "| 14 | notes (注：1. 本表由县级民政部门填报。) and the 1 row below |",
        "| A | 序号 | dropped | built-in: a row counter, dropped |",
        "| D | 建设地点 | place | built-in |",
        "| G | 资金来源/中央 | asked_central | built-in |",
        "| I | 资金来源/市县 | asked_local | built-in |",
        "| J | 建筑面积（㎡） | area_m2 | built-in |",
        "| L | 备注 | data column | no known name: kept as a data column |",
        "Kept as data columns (not used by the model unless a scenario names them): 备注",
        "| 7 | 杭州市小计 | F (总投资) | 1,320.00万元 | 1,320.00万元, 2 rows (5–6) | 0 | ok |",
        "| 7 | 杭州市小计 | G (资金来源/中央) | 660.00万元 | 660.00万元, 2 rows (5–6) | 0 | ok |",
        "| 7 | 杭州市小计 | K (受益人口) | 43,000 | 43,000, 2 rows (5–6) | 0 | ok |",
        "| 11 | 小计 | F (总投资) | 180.50万元 | 180.50万元, 2 rows (9–10) | 0 | ok |",
        "| 12 | 合计 | F (总投资) | 1,501.50万元 | 1,500.50万元, 4 rows (5–10) | +1.00万元 | MISMATCH |",
        "| 12 | 合计 | G (资金来源/中央) | 750.00万元 | 750.00万元, 4 rows (5–10) | 0 | ok |",
        "| 西湖区 | 330106 浙江省杭州市西湖区 | 5 |",
        "| 杭州市上城区 | 330102 浙江省杭州市上城区 | 6 |",
        "| 鼓楼区 | 320106 江苏省南京市鼓楼区 (mapping.toml) | 10 |",
        "| 街道社区服务中心 | centre | 5 |",
        "| 社区服务站 | station | 6, 10 |",
        "| 5 | F (总投资) | 1,200 | 1,200万元 |",
        "| 5 | K (受益人口) | ３５０００ | 35,000 |",
        "| 6 | F (总投资) | 120万 | 120万元 |",
        "| 6 | J (建筑面积（㎡）) | 300㎡ | 300 |",
    ]
    missing = [line for line in expected if line not in lines]
    assert not missing, "\n".join(missing) + "\n\nreport:\n" + "\n".join(lines)
    assert lines[lines.index("## Problems") + 2] == "None."
    assert ("warning: " in stderr and "row 12 (合计), column F (总投资): stated 1,501.50, the detail rows add up to 1,500.50 "
            "(difference +1.00万元)") in stderr
    assert stderr.count("warning:") == 1


def test_a_total_that_agrees_is_no_warning(tmp_path, places_map):
    code, stdout, stderr = invoke("import", county_workbook(tmp_path / "apps.xlsx", total_off_by=0), "--map", places_map,
                                  "--out", tmp_path / "p.csv")
    assert code == 0 and "MISMATCH" not in stdout and "warning" not in stderr


def test_skip_bad_writes_the_good_rows_and_lists_the_others(tmp_path):
    out = tmp_path / "projects.csv"
    code, stdout, _ = invoke("import", county_workbook(tmp_path / "apps.xlsx"), "--out", out, "--skip-bad")
    assert code == 0
    assert read_csv(out)["source_row"].tolist() == [5, 6, 9]
    report = (tmp_path / "projects.import.md").read_text(encoding="utf-8").splitlines()
    assert "| 10 | has a problem (--skip-bad), listed below |" in report
    assert "- projects written: 3" in report and "- total cost written: 1,400.50万元" in report
    assert any(line.startswith("- sheet 汇总表, row 10, column D (建设地点): '鼓楼区' is ambiguous") for line in report)


def test_an_existing_table_is_replaced_only_with_force(tmp_path, places_map):
    book, out = county_workbook(tmp_path / "apps.xlsx"), tmp_path / "projects.csv"
    out.write_text("mine\n", encoding="utf-8")
    code, _, stderr = invoke("import", book, "--map", places_map, "--out", out)
    assert code == 2 and "already exists; pass --force" in stderr and out.read_text(encoding="utf-8") == "mine\n"
    code, _, _ = invoke("import", book, "--map", places_map, "--out", out, "--force")
    assert code == 0 and len(read_csv(out)) == 4
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")], "no partial file left"


def test_ids_stay_the_same_when_rows_are_reordered(tmp_path, places_map):
    invoke("import", county_workbook(tmp_path / "a.xlsx"), "--map", places_map, "--out", tmp_path / "a.csv")
    book = openpyxl.load_workbook(tmp_path / "a.xlsx")
    sheet = book.active
    for column in "BCDEFGHIJK":  # swap rows 5 and 6
        sheet[f"{column}5"].value, sheet[f"{column}6"].value = sheet[f"{column}6"].value, sheet[f"{column}5"].value
    sheet["F7"], sheet["G7"] = 1320, 660
    sheet["L5"] = None
    book.save(tmp_path / "b.xlsx")
    invoke("import", tmp_path / "b.xlsx", "--map", places_map, "--out", tmp_path / "b.csv")
    first, second = read_csv(tmp_path / "a.csv"), read_csv(tmp_path / "b.csv")
    assert dict(zip(first["name"], first["project_id"])) == dict(zip(second["name"], second["project_id"]))


# -- the yuan workbook ---------------------------------------------------------------------------------------

def test_a_sheet_in_yuan_with_the_province_in_its_own_column(tmp_path):
    out = tmp_path / "projects.csv"
    code, stdout, stderr = invoke("import", yuan_workbook(tmp_path / "jx.xlsx"), "--out", out)
    assert code == 0, stdout + stderr
    table = read_csv(out)
    assert table["region_id"].tolist() == ["360103", "360103"]
    assert table["cost"].tolist() == [123.4567, 100.0]
    assert table["households_served"].tolist() == [1200, 800]
    assert table["type"].tolist() == ["station", "station"]
    assert "province" not in table.columns  # the regions table gives it
    lines = stdout.splitlines()
    assert "- money unit: 元 (row 1: 江西省社区服务设施申报表（单位：元）)" in lines
    assert "| 新建社区服务站一处 | station | 3 |" in lines
    assert "| 3 | E (总投资) | 1,234,567 | 123.4567万元 |" in lines
    assert "## Subtotal checks" in lines and "The sheet has no subtotal or total row." in lines


def test_a_formula_without_a_saved_value_is_an_error_naming_the_cell(tmp_path):
    code, stdout, stderr = invoke("import", yuan_workbook(tmp_path / "jx.xlsx", cached=False), "--out", tmp_path / "p.csv")
    assert code == 2
    assert ("- sheet Sheet, row 4, column E (总投资): cell E4 holds the formula '=500000*2' with no saved value; open and save "
            "the workbook in Excel (or WPS), or paste the values") in stdout.splitlines()
    assert "1 row (4) has problems" in stderr


def test_a_mapping_names_columns_types_and_the_unit(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["项目", "区县", "设施", "投资", "中央补助（万元）"])
    sheet.append(["甲", "330106", "日间照料中心", "2.5亿", "600"])
    sheet.append(["乙", "330106", "城乡社区综合服务设施", "500", "250"])
    book.save(tmp_path / "own.xlsx")
    mapping = tmp_path / "map.toml"
    mapping.write_text('unit = "万元"\n[columns]\n"项目" = "name"\n"设施" = "type"\n"投资" = "cost"\n"中央补助" = "request_central"\n'
                       '[types]\n"日间照料中心" = "station"\n', encoding="utf-8")
    code, stdout, stderr = invoke("import", tmp_path / "own.xlsx", "--map", mapping, "--out", tmp_path / "p.csv")
    assert code == 2
    assert ("- sheet Sheet, row 3, column C (设施): type '城乡社区综合服务设施' names no known type") in stdout
    mapping.write_text(mapping.read_text(encoding="utf-8") + '"城乡社区综合服务设施" = "rural"\n', encoding="utf-8")
    code, stdout, stderr = invoke("import", tmp_path / "own.xlsx", "--map", mapping, "--out", tmp_path / "p.csv")
    assert code == 0, stdout + stderr
    table = read_csv(tmp_path / "p.csv")
    assert table[["region_id", "type", "cost", "request_central"]].values.tolist() == [["330106", "station", 25000.0, 600.0],
                                                                                       ["330106", "rural", 500.0, 250.0]]
    assert "| B | 区县 | place | built-in |" in stdout.splitlines()
    assert "| E | 中央补助（万元） | request_central | map.toml, unit 万元 from the header |" in stdout.splitlines()


def test_no_unit_anywhere_is_refused(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["项目名称", "建设地点", "项目类型", "总投资"])
    book.active.append(["甲", "杭州市西湖区", "社区服务站", 100])
    book.save(tmp_path / "nounit.xlsx")
    code, stdout, _ = invoke("import", tmp_path / "nounit.xlsx", "--out", tmp_path / "p.csv")
    assert code == 2
    assert ("- sheet Sheet, row 2, column D (总投资): 100 has no money unit, and neither has the sheet (a line such as '单位：万元') "
            "nor the column header (总投资（万元）); add one, or unit = \"万元\" to a mapping.toml (--map)") in stdout.splitlines()


# -- round trip ----------------------------------------------------------------------------------------------

SCENARIO = """
name = "导入测试"
[data]
regions = "regions.csv.gz"
projects = "projects.csv"
money_unit = "万元"
[types.centre]
label = "街道社区服务中心"
welfare = true
[types.station]
label = "社区服务站"
welfare = true
[types.network]
label = "社区服务信息网络"
welfare = false
[sources.central]
label = "中央专项资金"
budget = "700万"
max_share_of_cost = 0.5
[sources.local]
label = "地方配套资金"
budget = "800万"
[objective]
sense = "max_benefit"
benefit = { population_served = 1e-4 }
"""


def test_an_imported_table_runs(tmp_path, places_map):
    code, _, _ = invoke("import", county_workbook(tmp_path / "apps.xlsx"), "--map", places_map, "--out", tmp_path / "projects.csv")
    assert code == 0
    shutil.copy(REPO / "scenarios" / "data" / "regions.csv.gz", tmp_path / "regions.csv.gz")
    (tmp_path / "s.toml").write_text(SCENARIO, encoding="utf-8")
    code, stdout, stderr = invoke("run", tmp_path / "s.toml", "--out", tmp_path / "run", "--no-reports", "--marginal", "none")
    assert code == 0, stdout + stderr
    allocation = pd.read_csv(tmp_path / "run" / "allocation.csv", encoding="utf-8-sig", dtype={"project_id": str})
    imported = read_csv(tmp_path / "projects.csv")
    assert sorted(allocation["project_id"]) == sorted(imported["project_id"])
    assert dict(zip(allocation["project_id"], allocation["cost"])) == dict(zip(imported["project_id"], imported["cost"]))
    # 1,500.5万元 asked, 1,500万元 to give: one project must go, and leaving out the one serving the fewest residents
    # (鼓楼, 6,000) keeps central money within half of each cost (700 of 1,400.5) and local within its 800.
    funded = allocation[allocation["selected"] == 1]
    assert sorted(funded["name"]) == sorted(name for _, name, *_ in DETAILS[:3])
    assert (funded["central"] + funded["local"]).round(2).tolist() == funded["cost"].tolist()



def test_a_scenario_reads_the_application_workbook_itself(tmp_path, places_map):
    """[data] import_projects: the same plan as importing to CSV first, with the tables' money in 元 this time."""
    book = county_workbook(tmp_path / "apps.xlsx")
    invoke("import", book, "--map", places_map, "--out", tmp_path / "projects.csv")
    shutil.copy(REPO / "scenarios" / "data" / "regions.csv.gz", tmp_path / "regions.csv.gz")
    (tmp_path / "s.toml").write_text(SCENARIO, encoding="utf-8")
    direct = SCENARIO.replace('projects = "projects.csv"\nmoney_unit = "万元"',
                              f'projects = "apps.xlsx"\nmoney_unit = "元"\nimport_projects = true\nprojects_mapping = "{places_map.name}"\n'
                              'projects_sheet = "汇总表"')
    assert direct != SCENARIO
    (tmp_path / "direct.toml").write_text(direct, encoding="utf-8")
    runs = {}
    for name in ("s", "direct"):
        code, stdout, stderr = invoke("run", tmp_path / f"{name}.toml", "--out", tmp_path / name, "--no-reports", "--marginal", "none")
        assert code == 0, stdout + stderr
        runs[name] = pd.read_csv(tmp_path / name / "allocation.csv", encoding="utf-8-sig", dtype={"project_id": str})
    pd.testing.assert_frame_equal(runs["s"], runs["direct"])
    assert "sheet 汇总表 read as an application workbook with" in stderr and "4 projects, 6 rows excluded" in stderr
    assert "row 12 (合计), column F (总投资): stated 1,501.50, the detail rows add up to 1,500.50 (difference +1.00万元)" in stderr


def test_a_scenario_stops_at_a_bad_row_of_its_application_workbook(tmp_path):
    county_workbook(tmp_path / "apps.xlsx")
    shutil.copy(REPO / "scenarios" / "data" / "regions.csv.gz", tmp_path / "regions.csv.gz")
    (tmp_path / "s.toml").write_text(SCENARIO.replace('"projects.csv"', '"apps.xlsx"\nimport_projects = true'), encoding="utf-8")
    code, _, stderr = invoke("run", tmp_path / "s.toml", "--out", tmp_path / "run", "--no-reports")
    assert code == 2 and "sheet 汇总表, row 10, column D (建设地点): '鼓楼区' is ambiguous (candidates: 320106" in stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("keys", "message"), [('projects_sheet = "汇总表"\nimport_projects = false',
                                                 "projects_mapping and projects_sheet are for an application workbook"),
                                                ("import_projects = true", "'projects' must be an .xlsx file")])
def test_the_import_keys_of_data_are_checked(tmp_path, keys, message):
    shutil.copy(REPO / "scenarios" / "data" / "regions.csv.gz", tmp_path / "regions.csv.gz")
    projects = '"apps.xlsx"' if "false" in keys else '"projects.csv"'
    (tmp_path / "s.toml").write_text(SCENARIO.replace('"projects.csv"', f"{projects}\n{keys}"), encoding="utf-8")
    code, _, stderr = invoke("run", tmp_path / "s.toml", "--out", tmp_path / "run")
    assert code == 2 and message in stderr, stderr


# -- other layouts -------------------------------------------------------------------------------------------

def simple_workbook(path: Path, header: list[str], rows: list[list[object]], *, above: list[str] = (), sheets: int = 1) -> Path:
    book = openpyxl.Workbook()
    for extra in range(1, sheets):
        book.create_sheet(f"说明{extra}").append(["本表说明"])
    sheet = book.active
    sheet.title = "申报表"
    for line in above:
        sheet.append([line])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_a_county_merged_down_over_its_projects_is_filled_in(tmp_path):
    path = simple_workbook(tmp_path / "m.xlsx", ["项目名称", "所在县（市、区）", "项目类型", "总投资（万元）"],
                           [["甲站", "余杭区", "社区服务站", 90], ["乙站", None, "社区服务站", 95]])
    book = openpyxl.load_workbook(path)
    book.active.merge_cells("B2:B3")
    book.save(path)
    code, stdout, _ = invoke("import", path, "--out", tmp_path / "p.csv")
    assert code == 0, stdout
    assert read_csv(tmp_path / "p.csv")["region_id"].tolist() == ["330110", "330110"]
    assert "- merged cells filled down: B2:B3" in stdout.splitlines()
    assert "| D | 总投资（万元） | cost | built-in, unit 万元 from the header |" in stdout.splitlines()


@pytest.mark.parametrize(("rows", "merge", "says"), [
    ([["甲站", "余杭区", "社区服务站", 90, 3000], ["乙站", "余杭区", "社区服务站", None, 2000]], "D2:D3",
     "row 3, column D (总投资（万元）): is part of the cell D2:D3, merged over several rows"),
    ([["甲站", "余杭区", "社区服务站", 90, None]], "D2:E2",
     "row 2, column E (受益人口（人）): is part of the cell D2:E2, merged across columns: its value belongs to column D"),
], ids=["money merged down", "cost merged across"])
def test_a_number_copied_from_a_merged_cell_is_a_problem_not_a_second_figure(tmp_path, rows, merge, says):
    # Filling a merged money cell down funds its amount once per project; across columns it lands in another field.
    path = simple_workbook(tmp_path / "m.xlsx", ["项目名称", "所在县（市、区）", "项目类型", "总投资（万元）", "受益人口（人）"], rows)
    book = openpyxl.load_workbook(path)
    book.active.merge_cells(merge)
    book.save(path)
    code, stdout, stderr = invoke("import", path, "--out", tmp_path / "p.csv")
    assert code == 2 and says in stdout, stdout
    assert "nothing written" in stderr and not (tmp_path / "p.csv").exists()


def test_a_row_pasted_twice_is_a_problem(tmp_path):
    rows = [[1, "甲站", "余杭区", "社区服务站", 90], [2, "乙站", "余杭区", "社区服务站", 95], [3, "甲站", "余杭区", "社区服务站", 90]]
    path = simple_workbook(tmp_path / "d.xlsx", ["序号", "项目名称", "所在县（市、区）", "项目类型", "总投资（万元）"], rows)
    code, stdout, _ = invoke("import", path, "--out", tmp_path / "p.csv")
    assert code == 2 and "row 4, column B (项目名称): repeats row 2 in every column read" in stdout, stdout
    code, stdout, _ = invoke("import", path, "--out", tmp_path / "p.csv", "--skip-bad")  # the copy left out, the rest read
    assert code == 0 and read_csv(tmp_path / "p.csv")["name"].tolist() == ["甲站", "乙站"]


def test_a_group_header_written_once_without_merging(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["单位：亿元"])
    sheet.append(["项目名称", "建设地点", "项目类型", "总投资", "资金来源", None])
    sheet.append([None, None, None, None, "中央", "市县"])
    sheet.append(["丙中心", "浙江省杭州市余杭区", "社区服务中心", 0.05, 0.03, 0.02])
    book.save(tmp_path / "g.xlsx")
    code, stdout, _ = invoke("import", tmp_path / "g.xlsx", "--out", tmp_path / "p.csv")
    assert code == 0, stdout
    table = read_csv(tmp_path / "p.csv")
    assert table[["cost", "asked_central", "asked_local"]].values.tolist() == [[500.0, 300.0, 200.0]]
    assert "| F | 资金来源/市县 | asked_local | built-in |" in stdout.splitlines()


def test_an_unknown_place_is_reported_with_close_names(tmp_path):
    path = simple_workbook(tmp_path / "u.xlsx", ["项目名称", "建设地点", "项目类型", "总投资"], [["丁站", "浙江省杭州市余航区", "社区服务站", "90万"]])
    code, stdout, _ = invoke("import", path, "--out", tmp_path / "p.csv")
    assert code == 2
    assert ("- sheet 申报表, row 2, column B (建设地点): '浙江省杭州市余航区' is not a county of the county table (candidates: 330110 "
            "浙江省杭州市余杭区") in stdout


def test_the_mapping_province_settles_a_name_several_provinces_have(tmp_path):
    path = simple_workbook(tmp_path / "p.xlsx", ["项目名称", "建设地点", "项目类型", "总投资"], [["戊站", "鼓楼区", "社区服务站", "90万"]])
    (tmp_path / "m.toml").write_text('province = "福建"\n', encoding="utf-8")
    code, stdout, _ = invoke("import", path, "--map", tmp_path / "m.toml", "--out", tmp_path / "p.csv")
    assert code == 0, stdout
    assert "| 鼓楼区 | 350102 福建省福州市鼓楼区 | 2 |" in stdout.splitlines()


def test_several_sheets_need_the_one_to_read_named_when_unclear(tmp_path):
    path = simple_workbook(tmp_path / "s.xlsx", ["项目名称", "建设地点", "项目类型", "总投资"], [["己站", "余杭区", "社区服务站", "90万"]], sheets=2)
    code, stdout, _ = invoke("import", path, "--out", tmp_path / "p.csv")
    assert code == 0 and "- sheet: 申报表 (of 申报表, 说明1)" in stdout.splitlines()
    code, _, stderr = invoke("import", path, "--sheet", "汇总", "--out", tmp_path / "q.csv")
    assert code == 2 and "no sheet named '汇总'; the workbook has: 申报表, 说明1" in stderr
    book = openpyxl.load_workbook(path)
    book.copy_worksheet(book["申报表"]).title = "第二批"
    book.save(path)
    code, _, stderr = invoke("import", path, "--out", tmp_path / "r.csv")
    assert code == 2 and "the workbook has 3 sheets (申报表, 说明1, 第二批) and 2 of them (申报表, 第二批) have a header" in stderr
    code, stdout, _ = invoke("import", path, "--sheet", "第二批", "--out", tmp_path / "r.csv")
    assert code == 0 and "- sheet: 第二批 (of 申报表, 说明1, 第二批)" in stdout.splitlines()


@pytest.mark.parametrize(("text", "message"), [
    ('colums = {}\n', "unknown key 'colums'"),
    ('[columns]\n"项目" = "Name!"\n', "columns.项目: 'Name!' is not a field name"),
    ('unit = "千元"\n', "unit: unit '千元' is not 元, 万元 or 亿元"),
    ('[places]\n"x" = 1\n', "places.x: expected text in quotes, got 1"),
    ('province = "火星"\n', "province: '火星' is not a province of the county table"),
])
def test_a_wrong_mapping_names_its_file_and_key(tmp_path, text, message):
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    path = simple_workbook(tmp_path / "w.xlsx", ["项目名称", "建设地点", "项目类型", "总投资"], [["庚站", "余杭区", "社区服务站", "90万"]])
    code, _, stderr = invoke("import", path, "--map", tmp_path / "m.toml", "--out", tmp_path / "p.csv")
    assert code == 2 and message in stderr and "m.toml" in stderr


# -- the tutorial's section ----------------------------------------------------------------------------------

PROMPT = "~/applications$ "


def tutorial_section() -> str:
    text = (REPO / "docs" / "tutorial.md").read_text(encoding="utf-8")
    start = text.index("## 6. Your own applications")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def fenced_blocks(section: str) -> list[list[str]]:
    return [block.splitlines() for block in re.findall(r"```[a-z]*\n(.*?)```", section, flags=re.S)]


def test_the_tutorial_section_runs_and_prints_what_it_shows(tmp_path, monkeypatch):
    """docs/tutorial.md, "Your own applications": its workbook is county_workbook(), its files are its TOML blocks,
    and each `~/applications$ allocate …` prints every line the tutorial shows after it (seconds masked)."""
    blocks = fenced_blocks(tutorial_section())
    files = {block[0].removeprefix("# "): "\n".join(block) + "\n" for block in blocks if block and block[0].endswith(".toml")}
    assert set(files) == {"mapping.toml", "scenario.toml"}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    county_workbook(tmp_path / "申报汇总表.xlsx")
    shutil.copy(REPO / "scenarios" / "data" / "regions.csv.gz", tmp_path / "regions.csv.gz")
    commands: list[tuple[str, list[str]]] = []
    for block in blocks:
        for line in block:
            if line.startswith(PROMPT):
                commands.append((line.removeprefix(PROMPT), []))
            elif commands and line.strip():
                commands[-1][1].append(line)
    assert [c.split()[1] for c, _ in commands] == ["import", "run"]
    monkeypatch.chdir(tmp_path)
    seconds = re.compile(r"\b\d+(\.\d+)? s\b")
    for command, shown in commands:
        result = CliRunner().invoke(main, command.split()[1:])
        assert result.exit_code == 0, result.output
        printed = {seconds.sub("<s>", line.rstrip()) for line in result.output.splitlines()}
        missing = [line for line in shown if seconds.sub("<s>", line.rstrip()) not in printed]
        assert not missing, f"{command}: not printed:\n" + "\n".join(missing) + "\n\noutput:\n" + result.output


def test_group_headings_and_a_row_of_column_numbers_are_excluded_and_listed(tmp_path):
    path = simple_workbook(tmp_path / "h.xlsx", ["项目名称", "建设地点", "项目类型", "总投资（万元）"],
                           [[1, 2, 3, 4], ["一、杭州市", None, None, None], ["辛站", "余杭区", "社区服务站", 90],
                            ["宁波市", "宁波市", None, None], ["壬站", "海曙区", "社区服务站", 80], ["小计", None, None, 80],
                            ["癸站", None, None, None]])
    code, stdout, _ = invoke("import", path, "--out", tmp_path / "p.csv")
    lines = stdout.splitlines()
    assert "| 2 | column numbers (1, 2, 3 …) |" in lines
    assert "| 3 | heading (一、杭州市) |" in lines and "| 5 | heading (宁波市) |" in lines
    # a heading starts a group: the 小计 sums the 宁波 rows only
    assert "| 7 | 小计 | D (总投资（万元）) | 80.00万元 | 80.00万元, 1 row (6) | 0 | ok |" in lines
    # a row with only a name is a project with its cells missing, not a heading
    assert code == 2 and "- sheet 申报表, row 8, column C (项目类型): type is empty" in lines


def test_a_mapping_drops_a_column_and_a_second_column_for_a_field_is_kept(tmp_path):
    path = simple_workbook(tmp_path / "d.xlsx", ["项目名称", "建设地点", "项目类型", "建设内容", "总投资（万元）", "备注"],
                           [["子站", "余杭区", "社区服务站", "新建用房200㎡", 90, "急"]])
    (tmp_path / "m.toml").write_text('[columns]\n"备注" = ""\n', encoding="utf-8")
    code, stdout, _ = invoke("import", path, "--map", tmp_path / "m.toml", "--out", tmp_path / "p.csv")
    assert code == 0, stdout
    assert "| F | 备注 | dropped | dropped by m.toml |" in stdout.splitlines()
    assert "| D | 建设内容 | data column | also names type, taken from column C (项目类型): kept as a data column |" in stdout.splitlines()
    table = read_csv(tmp_path / "p.csv")
    assert "备注" not in table.columns and table["建设内容"].tolist() == ["新建用房200㎡"] and table["type"].tolist() == ["station"]


# -- allocate init -------------------------------------------------------------------------------------------

def test_init_writes_a_starter_that_runs_as_written(tmp_path):
    folder = tmp_path / "x"
    code, stdout, stderr = invoke("init", folder, "--province", "浙江省")
    assert code == 0, stdout + stderr
    assert sorted(p.name for p in folder.iterdir()) == ["mapping.toml", "projects.csv", "projects.import.md", "projects_template.xlsx",
                                                         "regions.csv", "scenario.toml"]
    shipped = pd.read_csv(REPO / "scenarios" / "data" / "regions.csv.gz", dtype={"region_id": str})
    regions = pd.read_csv(folder / "regions.csv", encoding="utf-8-sig", dtype={"region_id": str})
    assert regions["region_id"].tolist() == shipped.loc[shipped["province"] == "浙江省", "region_id"].tolist()
    assert (regions["households"].to_numpy() == shipped.loc[shipped["province"] == "浙江省", "households"].to_numpy()).all()
    code, stdout, stderr = invoke("run", folder / "scenario.toml", "--out", tmp_path / "run", "--no-reports")
    assert code == 0, stdout + stderr
    allocation = pd.read_csv(tmp_path / "run" / "allocation.csv", encoding="utf-8-sig")
    assert sorted(allocation["type"]) == ["centre", "network", "station"] and allocation["selected"].tolist() == [1, 1, 1]
    # every rule the starter states, recomputed from the run: half of each cost at most central, local at least central
    assert (allocation["central"] <= allocation["cost"] / 2 + 1e-6).all() and (allocation["local"] >= allocation["central"] - 1e-6).all()
    assert allocation["central"].sum() <= 1000 + 1e-6 and allocation["local"].sum() <= 1500 + 1e-6


@pytest.mark.parametrize("where", ["under a file", "the current folder", "a link"])
def test_init_refuses_a_folder_it_cannot_or_may_not_make_in_one_clear_line(tmp_path, monkeypatch, where):
    (tmp_path / "afile").write_text("mine", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    monkeypatch.chdir(tmp_path / "empty")
    folder = {"under a file": tmp_path / "afile" / "starter", "the current folder": Path("."), "a link": tmp_path / "link"}[where]
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    code, _, stderr = invoke("init", folder, "--province", "浙江")
    assert code == 2 and stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert {"under a file": "is a file", "the current folder": "current folder", "a link": "symbolic link"}[where] in stderr
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before


def test_the_template_has_its_drop_downs_and_example_rows(tmp_path):
    invoke("init", tmp_path / "x", "--province", "浙江")
    book = openpyxl.load_workbook(tmp_path / "x" / "projects_template.xlsx")
    sheet, lists = book["申报表"], book["选项"]
    assert lists.sheet_state == "hidden"
    assert [c.value for c in sheet[3]] == ["序号", "项目名称", "所在县（市、区）", "项目类型", "总投资（万元）", "建筑面积（㎡）", "受益人口（人）",
                                          "覆盖户数（户）", "备注"]
    validations = {str(v.sqref): v for v in sheet.data_validations.dataValidation}
    assert set(validations) == {"C4:C503", "D4:D503"}
    assert all(v.type == "list" for v in validations.values())

    def listed(formula: str) -> list[str]:
        _, cells = formula.removeprefix("=").split("!")
        return [row[0].value for row in lists[cells.replace("$", "")]]

    assert listed(validations["D4:D503"].formula1) == ["街道社区服务中心", "社区服务站", "社区服务信息网络"]
    counties = listed(validations["C4:C503"].formula1)
    assert len(counties) == 90 and "浙江省杭州市西湖区" in counties and all(c.startswith("浙江省") for c in counties)
    examples = [[c.value for c in row] for row in sheet.iter_rows(min_row=4, max_row=6)]
    assert [row[3] for row in examples] == ["街道社区服务中心", "社区服务站", "社区服务信息网络"]
    assert all(row[2] in counties for row in examples)


def test_a_filled_template_imports_and_runs(tmp_path):
    folder = tmp_path / "x"
    invoke("init", folder, "--province", "浙江省")
    book = openpyxl.load_workbook(folder / "projects_template.xlsx")
    book["申报表"].append([4, "文新街道社区服务中心", "浙江省杭州市西湖区", "街道社区服务中心", "260万", 900, 25000, 9000, None])
    book.save(folder / "projects_template.xlsx")
    code, _, stderr = invoke("import", folder / "projects_template.xlsx", "--out", folder / "projects.csv")
    assert code == 2 and "already exists; pass --force" in stderr
    code, stdout, stderr = invoke("import", folder / "projects_template.xlsx", "--out", folder / "projects.csv", "--force")
    assert code == 0, stdout + stderr
    assert read_csv(folder / "projects.csv")["region_id"].tolist()[-1] == "330106"
    code, stdout, stderr = invoke("run", folder / "scenario.toml", "--out", tmp_path / "run", "--no-reports")
    assert code == 0, stdout + stderr
    assert "  街道社区服务中心 [centre]: 2 of 2 candidates, 560.00万元" in stdout.splitlines()  # 300万 example + 260万 added


NATIONAL = REPO / "scenarios" / "eleventh_plan_national.toml"


def test_init_from_the_national_scenario_cuts_it_to_a_province_and_runs(tmp_path):
    folder = tmp_path / "zj"
    code, stdout, stderr = invoke("init", folder, "--province", "浙江省", "--from", NATIONAL)
    assert code == 0, stdout + stderr
    shipped = pd.read_csv(REPO / "scenarios" / "data" / "regions.csv.gz", dtype={"region_id": str})
    national = pd.read_csv(REPO / "scenarios" / "data" / "eleventh_plan_national_projects.csv.gz", dtype={"region_id": str})
    zhejiang = shipped[shipped["province"] == "浙江省"]
    regions = pd.read_csv(folder / "regions.csv", encoding="utf-8-sig", dtype={"region_id": str})
    projects = pd.read_csv(folder / "projects.csv", encoding="utf-8-sig", dtype={"region_id": str})
    assert regions.columns.tolist() == shipped.columns.tolist() and regions["region_id"].tolist() == zhejiang["region_id"].tolist()
    mine = national[national["region_id"].isin(zhejiang["region_id"])]
    assert projects["project_id"].tolist() == mine["project_id"].tolist()
    scenario = tomllib.loads((folder / "scenario.toml").read_text(encoding="utf-8"))
    share = mine["cost"].sum() / national["cost"].sum()
    assert scenario["sources"]["central"]["budget"] == f"{math.ceil(60000 * share)}万"  # 6亿 nationally
    assert scenario["types"]["rural"]["label"] == "农村社区综合服务设施"  # from base.toml, which it extends
    centres = (mine["type"] == "centre").sum() / (national["type"] == "centre").sum()
    assert scenario["targets"]["counts"]["centres"] == {"type": "centre", "min": math.floor(450 * min(centres, share)),
                                                        "max": math.ceil(550 * max(centres, share))}
    assert "balance" not in scenario  # its only rule leans to the central and western zones: no county of Zhejiang
    assert scenario["sources"]["local"]["matching"]["ratio"] == {"east": 2.0}
    text = (folder / "scenario.toml").read_text(encoding="utf-8")
    assert "# Cut: the share rule [balance.shares.central_money_to_central_west] is left out: no chosen county is a" in text
    code, stdout, stderr = invoke("run", folder / "scenario.toml", "--out", tmp_path / "run", "--no-reports")
    assert code == 0, stdout + stderr
    allocation = pd.read_csv(tmp_path / "run" / "allocation.csv", encoding="utf-8-sig", dtype={"region_id": str})
    funded = allocation[allocation["selected"] == 1]
    assert funded["region_id"].isin(zhejiang["region_id"]).all()
    assert funded["central"].sum() <= math.ceil(60000 * share) + 1e-6
    assert scenario["targets"]["counts"]["centres"]["min"] <= (funded["type"] == "centre").sum()
    book = openpyxl.load_workbook(folder / "projects_template.xlsx")
    assert [book["选项"].cell(row, 1).value for row in range(1, 5)] == ["街道社区服务中心", "社区服务站", "城市社区服务信息网络", "农村社区综合服务设施"]
    assert book["申报表"].max_row == 3  # no example rows: projects.csv is the scenario's


def test_the_starter_scenario_is_the_document_it_was_cut_from(tmp_path):
    from allocator.config import load_document
    from allocator.importing.derived import toml_text

    for path in sorted((REPO / "scenarios").glob("*.toml")):
        values = load_document(path).values
        assert tomllib.loads(toml_text(values, {("solver", "name"): "a comment"})) == values, path.name


def test_init_from_a_scenario_refuses_provinces_it_cannot_be_cut_to(tmp_path):
    code, _, stderr = invoke("init", tmp_path / "x", "--province", "浙江", "--from", REPO / "scenarios" / "rural_14th_plan.toml")
    assert code == 2 and "sources.central.zones names only central, west, where none of the chosen counties is" in stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(("args", "message"), [(["--province", "火星"], "--province: '火星' is not a province of the county table"),
                                               ([], "already exists and is not an empty folder")])
def test_init_refuses_an_unknown_province_and_a_folder_in_use(tmp_path, args, message):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "mine.txt").write_text("keep", encoding="utf-8")
    target = tmp_path / ("y" if args else "x")
    code, _, stderr = invoke("init", target, *args)
    assert code == 2 and message in stderr
    assert (tmp_path / "x" / "mine.txt").read_text(encoding="utf-8") == "keep" and not (tmp_path / "y").exists()


def test_skip_bad_with_no_good_row_writes_nothing(tmp_path):
    path = simple_workbook(tmp_path / "b.xlsx", ["项目名称", "建设地点", "项目类型", "总投资"], [["丑站", "鼓楼区", "社区服务站", "90万"]])
    code, _, stderr = invoke("import", path, "--out", tmp_path / "p.csv", "--skip-bad")
    assert code == 2 and "every project row has a problem" in stderr and not (tmp_path / "p.csv").exists()


def test_a_run_may_not_write_over_the_mapping_its_workbook_is_read_with(tmp_path, places_map):
    """The mapping file is an input like the tables: an output folder holding it is refused, even with --force."""
    county_workbook(tmp_path / "apps.xlsx")
    shutil.copy(REPO / "scenarios" / "data" / "regions.csv.gz", tmp_path / "regions.csv.gz")
    maps = tmp_path / "maps"
    maps.mkdir()
    shutil.move(str(places_map), maps / places_map.name)
    direct = SCENARIO.replace('projects = "projects.csv"\nmoney_unit = "万元"',
                              f'projects = "apps.xlsx"\nmoney_unit = "元"\nimport_projects = true\nprojects_mapping = "maps/{places_map.name}"\n'
                              'projects_sheet = "汇总表"')
    (tmp_path / "direct.toml").write_text(direct, encoding="utf-8")
    code, stdout, stderr = invoke("run", tmp_path / "direct.toml", "--out", maps, "--force", "--no-reports", "--marginal", "none")
    assert code == 2, stdout + stderr
    assert f"the input {maps / places_map.name}" in stdout + stderr  # refused because it holds an input, named as such
    assert (maps / places_map.name).exists()

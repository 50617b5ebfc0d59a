"""Spreadsheet and table quirks in the data files, and data that would give a silently wrong plan: yes/no cells
in number columns, merged cells, text that pandas reads as missing (``None``, ``NA``), ids that differ only by
invisible or full-width characters, files in an encoding other than UTF-8 or GBK, control characters, coverage
groups with no denominator, absurd magnitudes and a user column named like an internal one.
"""

from __future__ import annotations

import csv
import gzip
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from allocator.cli import main
from allocator.runformat.run import read_run
from corpus_harness import PLAN_ROWS, BASE, Break, Case, add_column, both, cell, check_case, plan, projects_as_xlsx, rows_of, table, toml

Sheet = Callable[[openpyxl.Workbook], None]


def as_xlsx(name: str, edit: Sheet = lambda book: None) -> Break:
    """Replace `name`.csv by `name`.xlsx (numbers as numbers), then ``edit`` the workbook."""
    def apply(folder: Path) -> None:
        book = openpyxl.Workbook()
        for row in rows_of(folder / f"{name}.csv"):
            book.active.append([float(v) if v.replace(".", "", 1).isdigit() else v for v in row])
        edit(book)
        book.save(folder / f"{name}.xlsx")
        (folder / f"{name}.csv").unlink()
        toml(f'"{name}.csv"', f'"{name}.xlsx"')(folder)
    return apply


def put(ref: str, value: object) -> Sheet:
    def edit(book: openpyxl.Workbook) -> None:
        book.active[ref] = value
    return edit


def merge(ref: str) -> Sheet:
    """Merge a range as Excel does: the top-left keeps its value, the other cells are emptied."""
    return lambda book: book.active.merge_cells(ref)


def truncated_sheet(folder: Path) -> None:
    """Cut the end off the sheet's XML inside projects.xlsx (its merged ranges are there)."""
    path = folder / "projects.xlsx"
    with zipfile.ZipFile(path) as book:
        parts = {name: book.read(name) for name in book.namelist()}
    parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"][:-120]
    with zipfile.ZipFile(path, "w") as book:
        for name, data in parts.items():
            book.writestr(name, data)


def column(name: str, header: str, values: list[str]) -> Break:
    """Replace every value of one column (rows 2..)."""
    def edit(rows: list[list[str]]) -> list[list[str]]:
        at = rows[0].index(header)
        for row, value in zip(rows[1:], values, strict=True):
            row[at] = value
        return rows
    return table(name, edit)


def header(old: str, new: str) -> Break:
    """Rename a column of projects.csv."""
    return table("projects.csv", lambda rows: [[new if h == old else h for h in rows[0]]] + rows[1:])


def benefit_from(column: str) -> Break:
    return toml("benefit = { benefit = 1.0 }", f"benefit = {{ {column} = 1.0 }}")


def scope(value: str) -> Break:
    return toml('scope = "zone"', f'scope = "{value}"')


def encoded(name: str, encoding: str, replace: dict[str, str], *, gz: bool = False) -> Break:
    """Rewrite a base table with some text replaced, saved in `encoding` (gzip-compressed if `gz`)."""
    def apply(folder: Path) -> None:
        path = folder / name
        text = path.read_text(encoding="utf-8")
        for old, new in replace.items():
            assert old in text, old
            text = text.replace(old, new)
        data = text.encode(encoding)
        if gz:
            path.unlink()
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            toml(f'"{name}"', f'"{name}.gz"')(folder)
        else:
            path.write_bytes(data)
    return apply


TRADITIONAL = {"东城中心": "東城中心", "东城网络": "東城網絡", "南湖服务站": "南湖服務站", "西川网络": "西川網絡",
               "北岭中心": "北嶺中心", "北岭服务站": "北嶺服務站"}
TRADITIONAL_REGIONS = {"东城区": "東城區", "南湖区": "南湖區", "西川县": "西川縣", "北岭县": "北嶺縣"}
JAPANESE = {"东城中心": "東京センター", "东城网络": "東京ネットワーク", "南湖中心": "大阪センター",
            "南湖服务站": "大阪ステーション", "西川中心": "札幌センター", "西川网络": "札幌ネットワーク",
            "北岭中心": "福岡センター", "北岭服务站": "福岡ステーション"}
FRENCH = {"东城中心": "Centre Saint-Éloi", "东城网络": "Réseau Est", "南湖中心": "Centre Lac Sud", "南湖服务站": "Station Sud",
          "西川中心": "Centre Ouest", "西川网络": "Réseau Ouest", "北岭中心": "Centre Crête Nord",
          "北岭服务站": "Station Nord"}
ACCENTED_REGIONS = {"东城区": "Zoë-Est", "南湖区": "Ñuñoa", "西川县": "Müllerstraße", "北岭县": "Genève",
                    "甲省": "Provence", "乙省": "Île-de-France", "丙省": "Côte"}
RARE = {"东城中心": "硚口中心", "南湖中心": "喆湖中心"}  # 硚 and 喆 are in GBK, not in GB2312

HARD = toml("penalty = 100", "hard = true")
WEST_NO_STREETS = both(cell("regions.csv", 4, "streets", "0"), cell("regions.csv", 5, "streets", "0"))
ENCODINGS = ("projects.csv", "UTF-8", "GBK/GB18030", "save it as UTF-8")

CASES = [
    # 1. yes/no cells where a number belongs: a spreadsheet stores TRUE as 1
    Case("tables-bool-xlsx-cost", projects_as_xlsx(put("E3", True)), 2, ("projects.xlsx", "row 3, column cost", "cell E3", "TRUE")),
    Case("tables-bool-xlsx-benefit", projects_as_xlsx(put("F4", False)), 2, ("projects.xlsx", "row 4, column benefit", "cell F4", "FALSE")),
    Case("tables-bool-xlsx-contribution", projects_as_xlsx(put("G2", True)), 2, ("projects.xlsx", "row 2, column adds_centre", "cell G2")),
    Case("tables-bool-xlsx-denominator", as_xlsx("regions", put("E3", True)), 2, ("regions.xlsx", "row 3, column streets", "cell E3", "TRUE")),
    Case("tables-bool-xlsx-baseline", as_xlsx("regions", put("F5", False)), 2, ("regions.xlsx", "row 5, column centres", "cell F5")),
    Case("tables-bool-xlsx-capacity", as_xlsx("regions", put("G2", True)), 2, ("regions.xlsx", "row 2, column local_capacity", "cell G2")),
    # 1b. error cells (#DIV/0!, #N/A as Excel saves =A/0 or a failed VLOOKUP) were read as empty cells, which count 0
    Case("tables-error-xlsx-benefit", projects_as_xlsx(put("F4", "#DIV/0!")), 2,
         ("projects.xlsx", "row 4, column benefit", "expected a number, got '#DIV/0!'")),
    Case("tables-error-xlsx-cost", projects_as_xlsx(put("E3", "#N/A")), 2, ("projects.xlsx", "column cost, row 3", "cannot read '#N/A'")),
    Case("tables-error-xlsx-denominator", as_xlsx("regions", put("E3", "#VALUE!")), 2,
         ("regions.xlsx", "row 3, column streets", "#VALUE!")),
    Case("tables-error-xlsx-contribution", projects_as_xlsx(put("G2", "#REF!")), 2, ("projects.xlsx", "row 2, column adds_centre", "#REF!")),
    Case("tables-bool-xlsx-request", both(plan(PLAN_ROWS), projects_as_xlsx(put("I2", True))), 2,
         ("projects.xlsx", "row 2, column request_lottery", "cell I2")),
    Case("tables-bool-csv-cost", cell("projects.csv", 3, "cost", "TRUE"), 2, ("projects.csv", "row 3", "column cost", "TRUE")),
    Case("tables-bool-csv-benefit-column", column("projects.csv", "benefit", ["TRUE", "FALSE"] * 4), 2,
         ("projects.csv", "row 2, column benefit", "cell F2", "TRUE")),
    Case("tables-bool-csv-contribution-column", column("projects.csv", "adds_centre", ["true", "false"] * 4), 2,
         ("projects.csv", "row 2, column adds_centre", "cell G2")),
    Case("tables-bool-csv-denominator-column", column("regions.csv", "streets", ["True", "True", "False", "True"]), 2,
         ("regions.csv", "row 2, column streets", "cell E2")),
    Case("tables-bool-csv-shi", cell("projects.csv", 5, "benefit", "是"), 2, ("projects.csv", "row 5, column benefit", "'是'")),
    Case("tables-bool-csv-yes", cell("regions.csv", 3, "centres", "yes"), 2, ("regions.csv", "row 3, column centres", "cell F3", "'yes'")),
    Case("tables-bool-csv-shi-fou-column", column("projects.csv", "adds_centre", ["是", "否"] * 4), 2,
         ("projects.csv", "row 2, column adds_centre", "'是'")),
    # 2. merged cells: only the top-left keeps the value, the rows below read as empty (0 for benefits)
    Case("tables-merged-benefit", projects_as_xlsx(merge("F2:F3")), 2, ("projects.xlsx", "cells F2:F3 are merged", "unmerge")),
    Case("tables-merged-cost", projects_as_xlsx(merge("E4:E6")), 2, ("projects.xlsx", "cells E4:E6 are merged", "fill every row")),
    Case("tables-merged-contribution", projects_as_xlsx(merge("G6:G7")), 2, ("projects.xlsx", "cells G6:G7 are merged")),
    Case("tables-merged-same-region", projects_as_xlsx(merge("C2:C3")), 2, ("projects.xlsx", "cells C2:C3 are merged")),
    Case("tables-merged-name", projects_as_xlsx(merge("B8:B9")), 2, ("projects.xlsx", "cells B8:B9 are merged")),
    Case("tables-merged-block", projects_as_xlsx(merge("F2:G3")), 2, ("projects.xlsx", "cells F2:G3 are merged")),
    Case("tables-merged-province", as_xlsx("regions", merge("C4:C5")), 2, ("regions.xlsx", "cells C4:C5 are merged")),
    Case("tables-merged-zone", as_xlsx("regions", merge("D2:D3")), 2, ("regions.xlsx", "cells D2:D3 are merged")),
    Case("tables-xlsx-truncated-sheet", both(projects_as_xlsx(merge("F2:F3")), truncated_sheet), 2, ("projects.xlsx", "cannot read the workbook")),
    # 3. text that pandas reads as missing is text in a text column
    Case("tables-na-name-none", cell("projects.csv", 2, "name", "None"), 0),
    Case("tables-na-project-id", cell("projects.csv", 3, "project_id", "NA"), 0),
    Case("tables-na-region-id", both(cell("regions.csv", 2, "region_id", "NULL"), cell("projects.csv", 2, "region_id", "NULL"),
                                     cell("projects.csv", 3, "region_id", "NULL")), 0),
    Case("tables-na-region-name", cell("regions.csv", 3, "name", "N/A"), 0),
    Case("tables-na-province", both(cell("regions.csv", 2, "province", "nan")), 0),
    Case("tables-na-xlsx-name", projects_as_xlsx(put("B4", "NULL")), 0),
    Case("tables-na-cost-still-refused", cell("projects.csv", 4, "cost", "NA"), 2, ("projects.csv", "row 4", "cost")),
    Case("tables-na-denominator-still-refused", cell("regions.csv", 3, "streets", "N/A"), 2, ("regions.csv", "row 3, column streets")),
    Case("tables-na-empty-zone-still-refused", cell("regions.csv", 3, "zone", ""), 2, ("regions.csv", "row 3, column zone", "empty")),
    Case("tables-na-type-is-text", cell("projects.csv", 3, "type", "None"), 2, ("projects.csv", "row 3, column type", "'None'")),
    # 4. ids that differ only by invisible or full-width characters are the same id
    Case("tables-id-fullwidth-duplicate", cell("projects.csv", 4, "project_id", "Ｐ０１"), 2,
         ("projects.csv", "'P01' appears more than once (rows 2, 4)", "full-width")),
    Case("tables-id-zero-width-duplicate", cell("projects.csv", 5, "project_id", "P01\u200b"), 2,
         ("projects.csv", "'P01' appears more than once (rows 2, 5)")),
    Case("tables-id-bom-duplicate", cell("projects.csv", 6, "project_id", "\ufeffP02"), 2, ("projects.csv", "'P02' appears more than once")),
    Case("tables-id-joiner-duplicate", cell("projects.csv", 7, "project_id", "P\u200d0\u20601"), 2, ("projects.csv", "'P01' appears more than once")),
    Case("tables-id-xlsx-duplicate", projects_as_xlsx(put("A5", "Ｐ０２")), 2, ("projects.xlsx", "'P02' appears more than once (rows 3, 5)")),
    Case("tables-id-regions-duplicate", cell("regions.csv", 3, "region_id", "Ｒ１"), 2, ("regions.csv", "'R1' appears more than once")),
    Case("tables-id-region-fullwidth", cell("projects.csv", 5, "region_id", "Ｒ２"), 0,
         ("warning", "projects.csv", "normalised", "row 5, column region_id", "'Ｒ２' → 'R2'")),
    Case("tables-id-region-zero-width-in-regions", cell("regions.csv", 3, "region_id", "R2\u200b"), 0, ("warning", "regions.csv", "normalised")),
    Case("tables-id-type-fullwidth", cell("projects.csv", 3, "type", "ｎｅｔｗｏｒｋ"), 0, ("warning", "projects.csv", "column type")),
    Case("tables-id-zone-fullwidth", cell("regions.csv", 5, "zone", "ｗｅｓｔ"), 0, ("warning", "regions.csv", "column zone")),
    Case("tables-id-province-zero-width", cell("regions.csv", 5, "province", "丙省\u200b"), 0, ("warning", "regions.csv", "column province")),
    Case("tables-id-ideographic-space-duplicate", cell("projects.csv", 8, "project_id", "\u3000P08"), 2,
         ("projects.csv", "'P08' appears more than once")),
    Case("tables-id-fullwidth-header", header("cost", "ｃｏｓｔ"), 0,
         ("warning", "projects.csv", "row 1", "column header 'ｃｏｓｔ' read as 'cost'")),
    Case("tables-id-nbsp-header", header("cost", "cost\u00a0"), 0),
    # 5. encodings other than UTF-8 and GBK/GB18030 are refused, not read as mojibake
    Case("tables-encoding-big5-projects", encoded("projects.csv", "big5", TRADITIONAL), 2, ENCODINGS),
    Case("tables-encoding-big5-regions", encoded("regions.csv", "big5", TRADITIONAL_REGIONS), 2, ("regions.csv", *ENCODINGS[1:])),
    Case("tables-encoding-big5-gz", encoded("projects.csv", "big5", TRADITIONAL, gz=True), 2, ("projects.csv.gz", *ENCODINGS[1:])),
    Case("tables-encoding-shift-jis", encoded("projects.csv", "shift_jis", JAPANESE), 2, ENCODINGS),
    Case("tables-encoding-latin-1", encoded("projects.csv", "latin-1", FRENCH), 2, ENCODINGS),
    Case("tables-encoding-cp1252-regions", encoded("regions.csv", "cp1252", ACCENTED_REGIONS), 2, ("regions.csv", *ENCODINGS[1:])),
    Case("tables-encoding-gbk-rare-is-read", encoded("projects.csv", "gb18030", RARE), 0),
    Case("tables-encoding-utf8-japanese-is-read", encoded("projects.csv", "utf-8", JAPANESE), 0),
    Case("tables-encoding-utf8-accents-is-read",
         both(encoded("projects.csv", "utf-8-sig", FRENCH), encoded("regions.csv", "utf-8", ACCENTED_REGIONS)), 0),
    # 6. control characters in names and ids (the workbook cannot hold them)
    Case("tables-control-project-name", cell("projects.csv", 2, "name", "东城\x07中心"), 2, ("projects.csv", "row 2, column name", "U+0007")),
    Case("tables-control-region-name", cell("regions.csv", 3, "name", "\x1b[31m南湖区"), 2, ("regions.csv", "row 3, column name", "U+001B")),
    Case("tables-control-province", cell("regions.csv", 5, "province", "丙省\x01"), 2, ("regions.csv", "row 5, column province", "U+0001")),
    Case("tables-control-line-break", cell("projects.csv", 4, "name", "南湖\n中心"), 2, ("projects.csv", "row 4, column name", "line break")),
    Case("tables-control-xlsx-line-break", projects_as_xlsx(put("B3", "东城\r\n网络")), 2, ("projects.xlsx", "row 3, column name", "line break")),
    Case("tables-control-delete-in-id", cell("projects.csv", 6, "project_id", "P0\x7f5"), 2, ("projects.csv", "row 6, column project_id", "U+007F")),
    Case("tables-control-tab-is-read", cell("projects.csv", 2, "name", "东城\t中心"), 0),
    # 7. coverage groups with no denominator
    Case("tables-denominator-zero-hard", both(WEST_NO_STREETS, HARD), 2,
         ("regions.csv", "column streets", "street_centres", "west", "no denominator")),
    Case("tables-denominator-zero-soft", WEST_NO_STREETS, 0, ("warning", "street_centres", "west", "no denominator", "streets",
                                                               "of 1 measured groups (1 without a denominator: west)")),
    Case("tables-denominator-zero-hard-province", both(WEST_NO_STREETS, HARD, scope("province")), 2,
         ("regions.csv", "street_centres", "丙省")),
    Case("tables-denominator-zero-hard-region", both(cell("regions.csv", 3, "streets", "0"), HARD, scope("region")), 2,
         ("regions.csv", "street_centres", "R2")),
    Case("tables-denominator-zero-hard-national", both(column("regions.csv", "streets", ["0"] * 4), HARD, scope("national")), 2,
         ("regions.csv", "street_centres", "national")),
    # 8. magnitudes a solver cannot take
    Case("tables-magnitude-benefit-1e308", cell("projects.csv", 3, "benefit", "1e308"), 2, ("projects.csv", "row 3, column benefit", "1e+308")),
    Case("tables-magnitude-benefit-1e13", cell("projects.csv", 3, "benefit", "1e13"), 2, ("projects.csv", "row 3, column benefit", "1e+13")),
    Case("tables-magnitude-benefit-negative", cell("projects.csv", 4, "benefit", "-1e300"), 2, ("projects.csv", "row 4, column benefit")),
    Case("tables-magnitude-cost-huge", cell("projects.csv", 5, "cost", "2e9"), 2, ("projects.csv", "row 5, column cost", "2e+09")),
    Case("tables-magnitude-cost-tiny", cell("projects.csv", 5, "cost", "0.000001"), 2, ("projects.csv", "row 5, column cost", "1 元")),
    Case("tables-magnitude-capacity", cell("regions.csv", 2, "local_capacity", "1e300"), 2, ("regions.csv", "row 2, column local_capacity")),
    Case("tables-magnitude-denominator-huge", cell("regions.csv", 2, "streets", "1e300"), 2, ("regions.csv", "row 2, column streets", "1e+300")),
    Case("tables-magnitude-denominator-tiny", cell("regions.csv", 2, "streets", "1e-300"), 2, ("regions.csv", "row 2, column streets", "1e-300")),
    Case("tables-magnitude-contribution-xlsx", projects_as_xlsx(put("G4", 1e200)), 2, ("projects.xlsx", "row 4, column adds_centre")),
    Case("tables-magnitude-large-is-read", cell("projects.csv", 3, "benefit", "1e9"), 0),
    # 9. a user column named like one the tool adds
    Case("tables-declared-text-column", add_column("projects.csv", "declared", ["yes", "no"] * 4), 0),
    Case("tables-declared-number-column", add_column("projects.csv", "declared", ["1", "0"] * 4), 0),
    Case("tables-declared-as-benefit-with-plan", both(plan(PLAN_ROWS), add_column("projects.csv", "declared", [str(i) for i in range(8)]),
                                                      benefit_from("declared")), 0),
    Case("tables-internal-region-as-benefit", both(add_column("projects.csv", "region", ["5"] * 8), benefit_from("region")), 2,
         ("projects.csv", "column region", "rename")),
    Case("tables-internal-zone-as-contribution",
         both(add_column("projects.csv", "zone", ["1"] * 8), toml('contribution = "adds_centre"', 'contribution = "zone"')), 2,
         ("projects.csv", "column zone", "rename")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_tables_case(tmp_path, monkeypatch, case):
    check_case(case, tmp_path, monkeypatch)


def run_broken(tmp_path: Path, breaks: Break) -> tuple[str, Path]:
    """Run the base broken by `breaks`; the output and the run directory (the run must succeed)."""
    folder = tmp_path / "case"
    shutil.copytree(BASE, folder)
    breaks(folder)
    result = CliRunner().invoke(main, ["run", str(folder / "case.toml"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    return result.output, tmp_path / "run"


def test_text_read_as_missing_comes_back_as_typed(tmp_path):
    _, run = run_broken(tmp_path, both(cell("projects.csv", 2, "name", "None"), cell("projects.csv", 3, "project_id", "NA"),
                                       cell("regions.csv", 3, "name", "N/A")))
    allocation = {row["project_id"]: row for row in csv_rows(run / "allocation.csv")}
    assert allocation["P01"]["name"] == "None" and allocation["NA"]["name"] == "东城网络"
    assert {row["region_id"]: row["name"] for row in csv_rows(run / "by_region.csv")}["R2"] == "N/A"


def csv_rows(path: Path) -> list[dict[str, str]]:
    """A run's CSV as the text it holds (no reader's idea of a missing value)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_normalised_province_is_one_province(tmp_path):
    """丙省 with a zero-width space in R4's row is 丙省: one local capacity of 350万 + 50万 for R3 and R4 together,
    so R4 may use more than its own 50万 (P07 alone needs a third of its 260万 from local money)."""
    _, run = run_broken(tmp_path, both(cell("regions.csv", 5, "province", "丙省\u200b"), cell("regions.csv", 4, "local_capacity", "350"),
                                       cell("regions.csv", 5, "local_capacity", "50")))
    tables = read_run(run)
    assert tables.by_province["province"].tolist() == ["丙省", "乙省", "甲省"]
    in_r4 = tables.allocation[tables.allocation["region_id"] == "R4"]
    assert in_r4["local"].sum() > 50 + 1e-6
    assert tables.allocation.groupby("province")["local"].sum()["丙省"] <= 400 + 1e-6


def test_soft_target_without_denominator_is_reported(tmp_path):
    output, run = run_broken(tmp_path, WEST_NO_STREETS)
    indicators = read_run(run).indicators.set_index("group")
    assert pd.isna(indicators.loc["west", "achieved"]) and "no denominator" in indicators.loc["west", "note"]
    assert indicators.loc["east", "achieved"] > 0 and pd.isna(indicators.loc["east", "note"])


def test_declared_column_is_the_users(tmp_path):
    """A user column 'declared' used as the benefit is the benefit: the objective is its sum over funded projects."""
    benefit = [str(10 * (i + 1)) for i in range(8)]
    _, run = run_broken(tmp_path, both(add_column("projects.csv", "declared", benefit), benefit_from("declared"),
                                       toml("penalty = 100", "penalty = 0")))
    allocation = read_run(run).allocation
    expected = sum(float(b) for b, chosen in zip(benefit, allocation["selected"]) if chosen)
    assert read_run(run).objective == pytest.approx(expected)

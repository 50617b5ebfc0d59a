"""Broken inputs, tried systematically: each case copies the valid scenario in tests/corpus/base, breaks
one thing, runs ``allocate run`` and expects one clear line (naming the file and the row, column or key),
the right exit code, no traceback and no run directory, finished or half-written.

This file holds the first families (scenario file, --set, data files, workbooks); the others are in
``test_corpus_*.py`` beside it, all on the harness of ``corpus_harness.py``.
"""

from __future__ import annotations

import gzip
import importlib
from pathlib import Path

import pytest

from corpus_harness import (PLAN_ROWS, Case, absolute_path, add_toml, both, cell, check_case, drop_column,
                            duplicate_xlsx_header, extends_cycle, formula, move, nothing, plan, projects_as_xlsx, reencode,
                            save_value, second_sheet, table, toml, write_bytes)

CASES = [
    # the scenario file
    Case("toml-syntax", add_toml("[sources"), 2, ("case.toml", "TOML syntax error", "line 59", "column")),
    Case("toml-bare-string", toml('budget = "600万"', "budget = 600万"), 2, ("case.toml", "TOML syntax error", "line 24")),
    Case("unknown-top-key", toml('name = "corpus base"', 'name = "corpus base"\ncolour = "red"'), 2,
         ("case.toml:4", "unknown key 'colour'")),
    Case("misspelt-key", toml('budget = "600万"', 'budgt = "600万"'), 2,
         ("case.toml:24", "sources.central.budgt", "did you mean 'budget'")),
    Case("misspelt-table", toml("[targets.counts.centres]", "[targets.count.centres]"), 2,
         ("case.toml", "targets.count", "did you mean 'counts'")),
    Case("misspelt-inline-key", toml("of = [", "off = ["), 2, ("case.toml:37", "unknown key 'off'", "did you mean 'of'")),
    Case("wrong-type-bool", toml("welfare = true", 'welfare = "yes"'), 2, ("case.toml:12", "'welfare' must be true or false")),
    Case("wrong-type-number", toml("max_share_of_cost = 0.6", 'max_share_of_cost = "60%"'), 2,
         ("case.toml:25", "sources.central.max_share_of_cost", "must be a number")),
    Case("wrong-type-table", toml('capacity = { column = "local_capacity", by = "province" }', 'capacity = "local_capacity"'), 2,
         ("case.toml:36", "sources.local.capacity", "must be a table")),
    Case("unit-typo", toml('budget = "600万"', 'budget = "6忆"'), 2, ("case.toml:24", "sources.central.budget", "did you mean '亿'")),
    Case("unknown-unit", toml('budget = "600万"', 'budget = "600 dollars"'), 2, ("case.toml:24", "unknown money unit 'dollars'")),
    Case("money-table-typo", toml('budget = "600万"', 'budget = { amount = 600, unti = "万" }'), 2,
         ("case.toml:24", "sources.central.budget", "'amount' and optionally 'unit'")),
    Case("negative-budget", toml('budget = "600万"', 'budget = "-600万"'), 2, ("case.toml:24", "must not be negative")),
    Case("nan-budget", toml('budget = "600万"', "budget = nan"), 2, ("case.toml:24", "sources.central.budget", "finite")),
    Case("infinite-budget", toml('budget = "600万"', "budget = inf"), 2, ("case.toml:24", "sources.central.budget", "finite")),
    Case("overflowing-budget", toml('budget = "600万"', 'budget = "1e400亿"'), 2, ("case.toml:24", "finite")),
    Case("nan-ratio", toml("east = 1.0", "east = nan"), 2, ("case.toml:37", "sources.local.matching.ratio.east", "finite")),
    Case("min-spend-above-budget", toml('budget = "600万"', 'budget = "600万"\nmin_spend = "700万"'), 2,
         ("case.toml:25", "min_spend", "above the budget")),
    Case("share-floor-above-1", toml("min = 0.3", "min = 1.3"), 2, ("case.toml:56", "balance.shares.central_to_west.min", "at most 1")),
    Case("share-min-above-max", toml("min = 0.3", "min = 0.9"), 2, ("case.toml:56", "min (0.9) is above max (0.8)")),
    Case("share-cap-above-1", toml("max_share_of_cost = 0.6", "max_share_of_cost = 6"), 2, ("case.toml:25", "at most 1")),
    Case("count-min-above-max", toml("min = 2\nmax = 4", "min = 5\nmax = 4"), 2, ("case.toml:41", "min (5) is above max (4)")),
    Case("count-not-whole", toml("min = 2\n", "min = 2.5\n"), 2, ("case.toml:41", "whole number")),
    Case("unknown-type-in-source", toml('max_share_of_cost = 0.6', 'max_share_of_cost = 0.6\ntypes = ["centr"]'), 2,
         ("case.toml:26", "'centr' is not one of", "did you mean 'centre'")),
    Case("unknown-source-in-matching", toml('of = ["central", "lottery"]', 'of = ["central", "lotery"]'), 2,
         ("case.toml:37", "did you mean 'lottery'")),
    Case("unknown-zone-in-source", toml('max_share_of_cost = 0.6', 'max_share_of_cost = 0.6\nzones = ["north"]'), 2,
         ("case.toml:26", "zone 'north' is not in the regions table")),
    Case("unknown-zone-in-share", toml('zone = "west"', 'zone = "wets"'), 2,
         ("case.toml:55", "balance.shares.central_to_west", "zone 'wets' is not in the regions table")),
    Case("unknown-province-in-share", toml('zone = "west"', 'province = "丁省"'), 2, ("case.toml:55", "province '丁省'")),
    Case("unknown-zone-in-count", toml('type = "centre"\nmin = 2', 'type = "centre"\nzone = "north"\nmin = 2'), 2,
         ("case.toml:41", "zone 'north' is not in the regions table")),
    Case("matching-zone-missing", toml("east = 1.0, west = 0.5", "east = 1.0"), 2, ("case.toml:37", "no matching ratio for zone 'west'")),
    Case("reserved-source-name", both(toml("[sources.lottery]", "[sources.total]"), toml('"central", "lottery"', '"central", "total"')), 2,
         ("case.toml", "'total' cannot name a source")),
    Case("unknown-money-unit", toml('money_unit = "万元"', 'money_unit = "万圆"'), 2, ("case.toml:8", "data.money_unit", "万元")),
    Case("scenario-not-utf8", reencode("case.toml", "gb18030"), 2, ("case.toml", "not UTF-8")),
    Case("scenario-missing", lambda folder: (folder / "case.toml").unlink(), 2, ("case.toml", "scenario file not found")),
    Case("extends-cycle", extends_cycle, 2, ("extends", "cycle: case.toml -> parent.toml -> case.toml")),
    Case("extends-missing", toml('name = "corpus base"', 'extends = "base.toml"\nname = "corpus base"'), 2,
         ("case.toml", "extends", "does not exist")),
    Case("path-escapes-by-dotdot", both(move("regions.csv", "../regions.csv"), toml('"regions.csv"', '"../regions.csv"')), 2,
         ("case.toml:6", "data.regions", "leaves the scenario's folder", "--allow-outside-paths")),
    Case("path-escapes-absolute", absolute_path, 2, ("case.toml:6", "data.regions", "leaves the scenario's folder")),
    Case("dotdot-allowed", both(move("regions.csv", "../regions.csv"), toml('"regions.csv"', '"../regions.csv"')), 0,
         args=("--allow-outside-paths",)),
    Case("absolute-allowed", absolute_path, 0, args=("--allow-outside-paths",)),
    # --set
    Case("set-no-equals", nothing, 2, ("--set", "key.path=value"), args=("--set", "sources.central.budget")),
    Case("set-into-a-value", nothing, 2, ("--set", "'sources.central.budget' is a value"), args=("--set", "sources.central.budget.unit=亿")),
    Case("set-unknown-key", nothing, 2, ("--set", "sourcs", "did you mean 'sources'"), args=("--set", "sourcs.central.budget=1亿")),
    Case("set-bad-money", nothing, 2, ("--set", "sources.central.budget", "did you mean '亿'"), args=("--set", "sources.central.budget=6忆")),
    Case("set-bad-number", nothing, 2, ("--time-limit", "above 0, got -5"), args=("--time-limit", "-5")),
    # data files
    Case("data-file-missing", lambda folder: (folder / "projects.csv").unlink(), 2, ("projects.csv", "data file not found")),
    Case("data-path-is-folder", both(lambda f: (f / "projects.csv").unlink(), lambda f: (f / "projects.csv").mkdir()), 2,
         ("projects.csv", "a folder, not a data file")),
    Case("unsupported-format", both(move("projects.csv", "projects.txt"), toml('"projects.csv"', '"projects.txt"')), 2,
         ("projects.txt", ".csv, .csv.gz, .xlsx or .parquet")),
    Case("gbk-is-read", both(reencode("regions.csv", "gbk"), reencode("projects.csv", "gb18030")), 0),
    Case("utf8-bom-is-read", both(reencode("regions.csv", "utf-8-sig"), reencode("projects.csv", "utf-8-sig")), 0),
    Case("csv-gz-is-read", both(lambda f: (f / "projects.csv.gz").write_bytes(gzip.compress((f / "projects.csv").read_bytes())),
                                toml('"projects.csv"', '"projects.csv.gz"')), 0),
    Case("utf16-refused", reencode("projects.csv", "utf-16"), 2, ("projects.csv", "UTF-16", "UTF-8")),
    Case("utf16-no-bom-refused", reencode("projects.csv", "utf-16-le"), 2, ("projects.csv", "UTF-16", "UTF-8")),
    Case("not-gzip", both(move("projects.csv", "projects.csv.gz"), toml('"projects.csv"', '"projects.csv.gz"')), 2,
         ("projects.csv.gz", "gzip")),
    Case("truncated-gzip", both(lambda f: (f / "projects.csv.gz").write_bytes(gzip.compress((f / "projects.csv").read_bytes())[:-12]),
                                toml('"projects.csv"', '"projects.csv.gz"')), 2, ("projects.csv.gz", "cannot read the file")),
    Case("trailing-comma-is-read", table("projects.csv", lambda rows: rows[:1] + [r + [""] for r in rows[1:]]), 0),
    Case("extra-field-every-row", table("projects.csv", lambda rows: rows[:1] + [r + ["x"] for r in rows[1:]]), 2,
         ("projects.csv", "row 1", "more fields than the header")),
    Case("empty-file", write_bytes("projects.csv", b""), 2, ("projects.csv", "empty")),
    Case("header-only-projects", table("projects.csv", lambda rows: rows[:1]), 2, ("projects.csv", "no rows")),
    Case("header-only-regions", table("regions.csv", lambda rows: rows[:1]), 2, ("regions.csv", "no rows")),
    Case("ragged-row", table("projects.csv", lambda rows: rows[:2] + [rows[2] + ["x", "y"]] + rows[3:]), 2,
         ("projects.csv", "line 3")),
    Case("too-large", nothing, 2, ("regions.csv", "file is 194 bytes, above the 100 bytes limit"), max_table_bytes=100),
    Case("duplicate-header", table("projects.csv", lambda rows: [rows[0][:-1] + ["cost"]] + rows[1:]), 2,
         ("projects.csv", "row 1", "'cost' appears more than once")),
    Case("duplicate-project-id", cell("projects.csv", 4, "project_id", "P01"), 2,
         ("projects.csv", "column project_id", "'P01' appears more than once (rows 2, 4)")),
    Case("duplicate-region-id", cell("regions.csv", 3, "region_id", "R1"), 2, ("regions.csv", "column region_id", "'R1'")),
    Case("unknown-region", cell("projects.csv", 5, "region_id", "R9"), 2, ("projects.csv", "row 5, column region_id", "'R9'")),
    Case("empty-region", cell("projects.csv", 5, "region_id", ""), 2, ("projects.csv", "row 5, column region_id", "empty")),
    Case("unknown-type", cell("projects.csv", 3, "type", "networks"), 2, ("projects.csv", "row 3, column type", "'networks'")),
    Case("missing-cost-column", drop_column("projects.csv", "cost"), 2, ("projects.csv", "row 1", "missing column 'cost'")),
    Case("missing-zone-column", drop_column("regions.csv", "zone"), 2, ("regions.csv", "row 1", "missing column 'zone'")),
    Case("missing-benefit-column", drop_column("projects.csv", "benefit"), 2,
         ("projects.csv", "missing column 'benefit'", "objective benefit")),
    Case("missing-denominator-column", drop_column("regions.csv", "streets"), 2,
         ("regions.csv", "missing column 'streets'", "street_centres")),
    Case("non-numeric-cost", cell("projects.csv", 3, "cost", "abc"), 2, ("projects.csv", "column cost, row 3", "'abc'")),
    Case("unit-typo-in-cost", cell("projects.csv", 3, "cost", "1.2忆"), 2, ("projects.csv", "column cost, row 3", "did you mean '亿'")),
    Case("zero-cost", cell("projects.csv", 4, "cost", "0"), 2, ("projects.csv", "row 4, column cost", "must be positive")),
    Case("negative-cost", cell("projects.csv", 4, "cost", "-80"), 2, ("projects.csv", "row 4", "non-negative number, got -80")),
    Case("nan-cost", cell("projects.csv", 4, "cost", "nan"), 2, ("projects.csv", "row 4", "'nan'")),
    Case("empty-cost", cell("projects.csv", 4, "cost", ""), 2, ("projects.csv", "column cost, row 4", "got an empty or NaN cell")),
    Case("infinite-cost", cell("projects.csv", 4, "cost", "inf"), 2, ("projects.csv", "row 4", "finite")),
    Case("decimal-benefit-is-read", cell("projects.csv", 2, "benefit", "30.5"), 0),
    Case("non-numeric-benefit", cell("projects.csv", 6, "benefit", "high"), 2, ("projects.csv", "row 6, column benefit", "'high'")),
    # A benefit that funding would take away, or a weight that makes benefit a cost: refused, as a type's weight is.
    Case("negative-benefit", cell("projects.csv", 3, "benefit", "-5"), 2, ("projects.csv", "row 3, column benefit", "at least 0")),
    Case("negative-benefit-weight", nothing, 2, ("objective.benefit.benefit", "at least 0"),
         args=("--set", "objective.benefit={benefit=-1}")),
    # Files that are not what their name says, with a message that says what they are.
    Case("xlsx-named-csv", write_bytes("projects.csv", b"PK\x03\x04" + bytes(200)), 2, ("projects.csv", "Excel workbook")),
    Case("semicolon-csv", lambda folder: (folder / "projects.csv").write_text(
        (folder / "projects.csv").read_text(encoding="utf-8").replace(",", ";"), encoding="utf-8"), 2,
        ("projects.csv", "split by ';', not by commas")),
    Case("stray-quote-line", lambda folder: (folder / "projects.csv").write_text(
        "\n".join(('"' if number == 3 else "") + line for number, line in
                  enumerate((folder / "projects.csv").read_text(encoding="utf-8").splitlines(), start=1)) + "\n", encoding="utf-8"), 2,
        ("projects.csv", "starting on line 3 of the file")),
    Case("scenario-is-a-folder", nothing, 2, ("is a folder, not a scenario file", "case.toml"),
         argv=lambda folder, out: ["run", str(folder), "--out", str(out)]),
    # A source that may fund nothing (an empty list) is a slip whose budget would sit unspent, unsaid.
    Case("source-types-empty", nothing, 2, ("sources.central.types", "may fund no project type"),
         args=("--set", "sources.central.types=[]")),
    Case("source-zones-empty", nothing, 2, ("sources.central.zones", "'zones' is an empty list"),
         args=("--set", "sources.central.zones=[]")),
    # A failed VLOOKUP's #N/A, or NULL, where a number belongs is refused as #DIV/0! is, not read as an empty cell (0).
    Case("na-text-benefit", cell("projects.csv", 4, "benefit", "#N/A"), 2, ("projects.csv", "row 4, column benefit", "'#N/A'")),
    Case("null-text-benefit", cell("projects.csv", 5, "benefit", "NULL"), 2, ("projects.csv", "row 5, column benefit", "'NULL'")),
    Case("nan-denominator", cell("regions.csv", 3, "streets", ""), 2, ("regions.csv", "row 3, column streets", "expected a number, got an empty or NaN cell")),
    # 丙省 with one county in another zone: a typo that moves money between zones' rules; said, and the run goes on.
    Case("province-split-across-zones", cell("regions.csv", 5, "zone", "east"), 0,
         ("warning: province 丙省 has regions in 2 zones", "region R4 in east")),
    # 丙 in one row and 丙省 in another: one province read as two, every by-province rule split unsaid; said.
    Case("province-spelled-two-ways", cell("regions.csv", 5, "province", "丙 "), 0,
         ("warning: provinces '丙' (1 region), '丙省' (1 region) differ only by an ending", "read as 2 provinces")),
    Case("nan-text-denominator", cell("regions.csv", 3, "streets", "NaN"), 2, ("regions.csv", "row 3, column streets")),
    Case("negative-denominator", cell("regions.csv", 3, "streets", "-8"), 2, ("regions.csv", "row 3, column streets", "negative")),
    Case("bad-capacity", cell("regions.csv", 2, "local_capacity", "4OO"), 2, ("regions.csv", "row 2, column local_capacity", "'4OO'")),
    Case("plan-is-read", plan(PLAN_ROWS), 0),
    Case("plan-does-not-add-up", plan(["120,30,140", *PLAN_ROWS[1:]]), 2,
         ("projects.csv", "row 2", "adds up to 290.0000万元 but the cost is 300.0000万元")),
    Case("plan-unknown-source", plan(PLAN_ROWS, ["request_central", "request_lotery", "request_local"]), 2,
         ("projects.csv", "column request_lotery", "names no funding source")),
    Case("plan-negative", plan(["170,-20,150", *PLAN_ROWS[1:]]), 2, ("projects.csv", "column request_lottery, row 2", "non-negative")),
    Case("plan-breaks-rule", plan(["200,30,70", *PLAN_ROWS[1:]]), 2, ("projects.csv", "row 2", "declared funding plan")),
    Case("plan-breaks-rule-row-in-file-order", both(cell("projects.csv", 2, "project_id", "P99"), plan(["200,30,70", *PLAN_ROWS[1:]])), 2,
         ("projects.csv", "row 2", "declared funding plan")),
    # workbooks
    Case("xlsx-is-read", projects_as_xlsx(), 0),
    Case("xlsx-formula", projects_as_xlsx(formula), 2, ("projects.xlsx", "row 3, column cost", "cell E3", "formula '=E2/3' with no saved value")),
    Case("xlsx-formula-with-saved-value-is-read", both(projects_as_xlsx(formula), save_value), 0),
    Case("xlsx-several-sheets", projects_as_xlsx(second_sheet), 2, ("projects.xlsx", "2 sheets", "notes")),
    Case("xlsx-duplicate-header", projects_as_xlsx(duplicate_xlsx_header), 2, ("projects.xlsx", "row 1", "'cost' appears more than once")),
    Case("xlsx-damaged", both(projects_as_xlsx(), lambda folder: (folder / "projects.xlsx").write_bytes(b"PK\x03\x04 not really")), 2,
         ("projects.xlsx", "cannot read the workbook")),
]


def all_cases() -> list[Case]:
    """Every case of every corpus family (the test_corpus*.py modules beside this one)."""
    found = []
    for path in sorted(Path(__file__).parent.glob("test_corpus*.py")):
        found += importlib.import_module(path.stem).CASES
    return found


def test_the_corpus_is_large_and_its_ids_unique():
    cases = all_cases()
    assert len(cases) >= 200, len(cases)
    assert len({case.id for case in cases}) == len(cases)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_broken_input_is_refused_with_one_clear_line(tmp_path, monkeypatch, case):
    check_case(case, tmp_path, monkeypatch)

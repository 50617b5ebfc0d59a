"""Parquet tables: the same allocation as the same data in CSV, and the same kind of one-line error naming the file,
the row (counted as in the CSV: row 2 is the first record) and the column."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from allocator.cli import main
from allocator.data import read_table

pytest.importorskip("pyarrow")

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo"


def _csv(path: Path) -> pd.DataFrame:
    """A table as pandas reads the CSV, every column as it comes (region ids as integers)."""
    return pd.read_csv(path, encoding="utf-8-sig")


def _as_parquet(folder: Path, *tables: str) -> Path:
    """The demo in `folder`, with `tables` (projects, regions) saved as Parquet and the scenario pointing at them."""
    shutil.copytree(DEMO, folder)
    scenario = folder / "demo.toml"
    text = scenario.read_text(encoding="utf-8")
    for table in tables:
        _csv(folder / f"{table}.csv").to_parquet(folder / f"{table}.parquet", index=False)
        (folder / f"{table}.csv").unlink()
        text = text.replace(f'"{table}.csv"', f'"{table}.parquet"')
    scenario.write_text(text, encoding="utf-8")
    return scenario


def _run(scenario: Path, out: Path) -> Path:
    result = CliRunner().invoke(main, ["run", str(scenario), "--out", str(out), "--no-reports"])
    assert result.exit_code == 0, result.output
    return out


def test_parquet_tables_give_the_identical_allocation(tmp_path):
    from_csv = _run(DEMO / "demo.toml", tmp_path / "csv")
    from_parquet = _run(_as_parquet(tmp_path / "pq", "projects", "regions"), tmp_path / "parquet")
    for name in ("allocation.csv", "by_region.csv"):
        assert (from_parquet / name).read_bytes() == (from_csv / name).read_bytes(), name
    assert pd.read_csv(from_parquet / "allocation.csv", encoding="utf-8-sig")["selected"].sum() > 0


def test_whole_number_ids_read_as_text_and_empty_text_as_missing(tmp_path):
    frame = pd.DataFrame({"region_id": [330102.0, 330110.0], "name": ["上城区", ""], "cost": [1.5, None]})
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    table, file = read_table(tmp_path / "t.parquet")
    assert table["region_id"].tolist() == ["330102", "330110"]  # not "330102.0": it matches the regions table
    assert table["name"].isna().tolist() == [False, True]
    assert file.encoding == "parquet" and file.rows == 2


def _refused(scenario: Path, out: Path) -> str:
    result = CliRunner().invoke(main, ["run", str(scenario), "--out", str(out), "--no-reports"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1
    assert not out.exists()
    return result.output


def _same_error_as_csv(tmp_path: Path, change) -> str:
    """The error `change` (a frame -> frame edit of the projects table) gives with the table as Parquet, checked to be
    the one it gives with the same table as CSV, but for the file's name."""
    said = {}
    for kind in ("csv", "parquet"):
        scenario = _as_parquet(tmp_path / kind, *(["projects"] if kind == "parquet" else []))
        path = tmp_path / kind / f"projects.{kind}"
        frame = change(_csv(tmp_path / kind / "projects.csv") if kind == "csv" else pd.read_parquet(path))
        frame.to_csv(path, index=False, encoding="utf-8-sig") if kind == "csv" else frame.to_parquet(path, index=False)
        said[kind] = _refused(scenario, tmp_path / f"out-{kind}").replace(str(path), "<file>")
    assert said["parquet"] == said["csv"]
    return said["parquet"]


def test_a_missing_column_names_the_file(tmp_path):
    said = _same_error_as_csv(tmp_path, lambda frame: frame.drop(columns=["cost"]))
    assert "<file>: row 1: missing column 'cost'" in said


@pytest.mark.parametrize(("cost", "says"), [("abc", "cannot read 'abc' as an amount of money"), ("-5万", "amount must not be negative"), ("0万", "cost must be positive")])
def test_a_bad_cost_names_the_file_row_and_column(tmp_path, cost, says):
    def bad(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[4, "cost"] = cost  # index 4: the fifth record, row 6 of the table as CSV
        return frame

    said = _same_error_as_csv(tmp_path, bad)
    assert said.startswith("error: <file>: ") and "row 6" in said and "cost" in said and says in said


def test_a_file_that_is_not_parquet_is_one_line(tmp_path):
    scenario = _as_parquet(tmp_path / "pq", "projects")
    (tmp_path / "pq" / "projects.parquet").write_bytes(b"project_id,cost\nP1,5\n")
    said = _refused(scenario, tmp_path / "out")
    assert "projects.parquet: cannot read the Parquet file" in said


@pytest.mark.parametrize(("table", "column"), [("projects", "province"), ("projects", "households_served"),
                                               ("regions", "street_offices")])
def test_a_column_of_lists_is_refused_naming_it(tmp_path, table, column):
    # A list in a cell crashed a number column's reader, and in a text column made a province named "[1 2]".
    scenario = _as_parquet(tmp_path / "pq", table)
    path = tmp_path / "pq" / f"{table}.parquet"
    frame = pd.read_parquet(path)
    frame[column] = [[1, 2]] * len(frame)
    frame.to_parquet(path, index=False)
    said = _refused(scenario, tmp_path / "out")
    assert f"{table}.parquet: column {column}: holds list<" in said and "one value per cell" in said


def test_a_column_of_dates_where_numbers_belong_is_refused_as_dates(tmp_path):
    # Read as numbers, a date is nanoseconds: the cost of 2020-01-01 was "1.57784e+15万元, check the unit".
    scenario = _as_parquet(tmp_path / "pq", "projects")
    path = tmp_path / "pq" / "projects.parquet"
    frame = pd.read_parquet(path)
    frame["cost"] = pd.Timestamp("2020-01-01")
    frame.to_parquet(path, index=False)
    said = _refused(scenario, tmp_path / "out")
    assert "projects.parquet: column cost: holds dates" in said


def test_a_code_stored_as_a_decimal_with_a_fraction_names_its_row(tmp_path):
    # The message named the first id (row 2, '330102.0', "39 such rows"), not the one with the fraction.
    scenario = _as_parquet(tmp_path / "pq", "projects")
    path = tmp_path / "pq" / "projects.parquet"
    frame = pd.read_parquet(path)
    frame["region_id"] = frame["region_id"].astype(float)
    frame.loc[2, "region_id"] = frame.loc[2, "region_id"] + 0.5
    frame.to_parquet(path, index=False)
    said = _refused(scenario, tmp_path / "out")
    assert "row 4, column region_id" in said and ".5 is not a whole number" in said

"""Build townships.csv.gz, the township table places are resolved against, from the 2023 division codes.

    python -m allocator.importing.make_townships ../shared/data/townships_2023.csv

The source (townships_2023.csv: every 街道/镇/乡 of the 2023 statistical division codes, 国家统计局 统计用区划代码,
as compiled in the public "Administrative-divisions-of-China" dataset; docs/import.md) is reduced to three
columns: ``name``; ``region_id``, its county in the shipped county table (2020 codes): the same code, else
the one county of the same name in the same province (a code changed since 2020); and, for a township whose
county is in neither (a district created since 2020, such as 杭州市临平区), ``unlisted``, that county's
province and name, so that the import can say why the township does not resolve.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from collections import defaultdict
from pathlib import Path

from allocator.importing.places import COUNTIES, TOWNSHIPS

COLUMNS = ("name", "region_id", "unlisted")


def county_codes() -> tuple[set[str], dict[tuple[str, str], list[str]]]:
    """The county table's codes, and its codes by (province, county name)."""
    with gzip.open(COUNTIES, "rt", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    by_name: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        by_name[(row["province"], row["name"])].append(row["region_id"])
    return {row["region_id"] for row in rows}, by_name


def reduce(source: Path) -> list[dict[str, str]]:
    """One row per township of `source`: its name, its county code in the county table, or its unlisted county."""
    codes, by_name = county_codes()
    with source.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for row in rows:
        same_name = by_name.get((row["province_name"], row["county_name"]), [])
        region_id = row["county_code"] if row["county_code"] in codes else (same_name[0] if len(same_name) == 1 else "")
        unlisted = "" if region_id else row["province_name"] + row["county_name"]
        out.append({"name": row["name"].strip(), "region_id": region_id, "unlisted": unlisted})
    return sorted(out, key=lambda r: (r["region_id"] or "~", r["unlisted"], r["name"]))


def write(rows: list[dict[str, str]], target: Path = TOWNSHIPS) -> None:
    """Gzip with a fixed time stamp, so that rebuilding from the same source gives the same bytes."""
    with target.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
        packed.write(_csv_text(rows).encode("utf-8"))


def _csv_text(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    rows = reduce(Path(argv[0]))
    write(rows)
    unlisted = sum(1 for r in rows if r["unlisted"])
    print(f"{TOWNSHIPS}: {len(rows):,} townships, {unlisted:,} in counties not in the county table")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

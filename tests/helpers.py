"""Small scenario folders for tests, written from Python literals."""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

REGIONS = [
    {"region_id": "R1", "name": "东城区", "province": "甲省", "zone": "east", "streets": 10, "centres": 4, "capacity": 1000},
    {"region_id": "R2", "name": "西川县", "province": "乙省", "zone": "west", "streets": 10, "centres": 2, "capacity": 1000},
]


def write_table(path: Path, rows: list[dict[str, object]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_case(folder: Path, toml: str, projects: list[dict[str, object]], regions: list[dict[str, object]] | None = None,
               name: str = "case.toml") -> Path:
    """A scenario folder: regions.csv, projects.csv and the scenario file; returns the scenario's path."""
    folder.mkdir(parents=True, exist_ok=True)
    write_table(folder / "regions.csv", regions or REGIONS)
    write_table(folder / "projects.csv", projects)
    path = folder / name
    path.write_text(textwrap.dedent(toml), encoding="utf-8")
    return path


DATA = """
[data]
regions = "regions.csv"
projects = "projects.csv"
money_unit = "万元"
"""


#: One centre type, central money matched 1:1 by local money under a capacity per province, and the west's local money
#: arriving uncertainly (robust planning at the 10% quantile). The capacities come from the regions table.
ROBUST = DATA + """
[types.centre]
welfare = true

[sources.central]
budget = "300万"
max_share_of_cost = 0.5

[sources.local]
budget = "1000万"
matching = { ratio = 1.0, of = ["central"] }
capacity = { column = "capacity", by = "province" }

[objective]
sense = "max_benefit"
benefit = { benefit = 1.0 }

[uncertainty]
local_arrival = { west = { low = 0.5, mode = 0.8, high = 1.0 } }
robust_quantile = 0.1
"""


def as_older_run(run: Path) -> Path:
    """Make the run directory `run` look written before runs recorded their tables' checksums (so its tables may be
    edited as an old run's could hold anything)."""
    manifest = run / "manifest.json"
    content = json.loads(manifest.read_text(encoding="utf-8"))
    content.pop("tables", None)
    manifest.write_text(json.dumps(content, ensure_ascii=False, indent=2), encoding="utf-8")
    return run

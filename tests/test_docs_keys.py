"""docs/scenarios.md documents exactly the keys the scenario parser accepts.

The accepted keys are not listed here: they are recorded from the parser while it reads a scenario that
enters every table. Each :class:`Table` remembers every key its parser asked for (present or not), so the
scenario needs to open every table, not to give every key. The names a file chooses itself (of types,
sources, zones, columns) start with ``my_`` here, and the docs write them as ``<key>``, ``<zone>``, ...
"""

import re
from pathlib import Path

from allocator.config import EXTENDS, KeyPath
from allocator.schema import Table
from allocator.scenario_toml import load_scenario

DOCS = Path(__file__).resolve().parents[1] / "docs" / "scenarios.md"
NAME = "*"  # a name the file chooses, in a table path

EVERY_TABLE = """
name = "every table"
description = "opens every table the parser reads"

[data]
regions = "regions.csv"
projects = "projects.csv"

[projects]

[types.my_centre]
welfare = true

[types.my_station]

[phasing]
first_year = 2006
last_year = 2010

[sources.my_central]
budget_by_year = ["1亿", "1亿", "1亿", "1亿", "1亿"]
max_share_of_cost = { my_centre = 0.5 }
cap_per_project = { my_station = { my_west = "40万" } }
capacity = { column = "my_capacity" }

[sources.my_local]
budget = "5亿"
matching = { ratio = { my_east = 1.0 } }

[targets.counts.my_count]
min = 1

[targets.indicators.my_coverage]
contribution = "my_adds"
denominator = "my_streets"
target = 0.5
hard = true

[balance.shares.my_share]
zone = "my_west"
min = 0.1

[balance.per_resident.my_rule]
min = 0.1

[objective]
benefit = { my_population = 1.0 }

[objective.by_type.my_station]
column = "my_households"

[model]

[solver]

[baseline]
factors = { my_population = 1.0 }

[uncertainty]
local_arrival = { my_west = { low = 0.5, mode = 0.8, high = 1.0 } }
cost_overrun = { my_station = { low = 1.0, mode = 1.1, high = 1.3 } }

[stability]

[output]
"""


def _pattern(path: KeyPath, chosen: str) -> KeyPath:
    """`path` with every name the file chooses (as `chosen` spells one) written as NAME."""
    return tuple(NAME if re.fullmatch(chosen, part) else part for part in path)


def _with_parents(keys: set[tuple[KeyPath, str]]) -> set[tuple[KeyPath, str]]:
    """`keys` and, for each, the keys of the tables above it (``[a.b]`` has key ``b`` in ``[a]``); no chosen names."""
    found = set(keys)
    for path, _key in keys:
        found |= {(path[:i], path[i]) for i in range(len(path))}
    return {(path, key) for path, key in found if key != NAME}


def accepted_keys(tmp_path, monkeypatch) -> set[tuple[KeyPath, str]]:
    """(table pattern, key) for every key the parser asked for while reading EVERY_TABLE, and ``extends``."""
    tables: list[Table] = []
    opened = Table.__init__

    def recording(self, *args, **kwargs):
        opened(self, *args, **kwargs)
        tables.append(self)

    monkeypatch.setattr(Table, "__init__", recording)
    scenario = tmp_path / "every.toml"
    scenario.write_text(EVERY_TABLE, encoding="utf-8")
    load_scenario(scenario)
    keys = {(_pattern(table.path, "my_.*"), key) for table in tables for key in table.allowed}
    return _with_parents({(path, key) for path, key in keys if not key.startswith("my_")} | {((), EXTENDS)})


def documented_keys(text: str) -> set[tuple[KeyPath, str]]:
    """(table pattern, key) for every key in the first column of a key table, under the table its heading names."""
    keys: set[tuple[KeyPath, str]] = set()
    paths: list[KeyPath] = []
    in_key_table = False
    for line in text.splitlines():
        if line.startswith("#"):
            named = re.findall(r"`\[([^\]`]+)\]`", line)
            paths = [()] if line.strip("# ") == "Top level" else [_pattern(tuple(p.split(".")), "<.+>") for p in named]
            keys |= {(path, NAME) for path in paths}  # a heading alone documents its table
        in_key_table = line.startswith("| key |") or (in_key_table and line.startswith("|"))
        if in_key_table and line.startswith("| `"):
            assert paths, f"a key table under a heading that names no table: {line}"
            keys |= {(path, key) for path in paths for key in re.findall(r"`([^`]+)`", line.split("|")[1])}
    return _with_parents(keys)


def _shown(keys: set[tuple[KeyPath, str]]) -> list[str]:
    return sorted(f"[{'.'.join(path) or '(top level)'}] {key}" for path, key in keys)


def test_every_accepted_key_is_documented_and_every_documented_key_is_accepted(tmp_path, monkeypatch):
    accepted = accepted_keys(tmp_path, monkeypatch)
    documented = documented_keys(DOCS.read_text(encoding="utf-8"))
    assert not _shown(accepted - documented), "keys the parser accepts but docs/scenarios.md does not document"
    assert not _shown(documented - accepted), "keys docs/scenarios.md documents but the parser does not accept"
    assert ((), "extends") in accepted and (("sources", NAME, "matching"), "ratio_column") in accepted
    assert (("uncertainty", "cost_overrun", NAME), "mode") in accepted and len(accepted) > 80


def test_the_docs_reader_takes_the_keys_of_key_tables_under_their_tables():
    text = ("## Top level\n\n| key | type |\n| --- | --- |\n| `name` | `x` |\n\n## Money\n\n| written | read as |\n| `\"6亿\"` | 1 |\n\n"
            "## `[a.<key>]`, `[c]`\n\n| key | type |\n| --- | --- |\n| `b`, `d` | `e` |\n")
    assert documented_keys(text) == {((), "name"), ((), "a"), ((), "c"), (("a", NAME), "b"), (("a", NAME), "d"),
                                     (("c",), "b"), (("c",), "d")}

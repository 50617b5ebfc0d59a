"""``allocate init --from SCENARIO.toml``: a starter cut from an existing scenario to some provinces.

The scenario's document (with everything it ``extends``) is copied whole: types, sources, targets, balance
rules, objective, solver settings. Its regions and projects tables are cut to the chosen provinces, and
the amounts that were set for the whole scenario are cut in proportion, so that the starter still runs:

- a source's ``budget``, ``budget_by_year`` and ``min_spend``, by the provinces' share of the candidates'
  cost (rounded up to whole 万元);
- a count's ``min`` (rounded down) and ``max`` (rounded up), by the provinces' share of the candidates
  the count counts (of its type and zone);
- a balance share rule is left out when every chosen county is a member or none is: it would then
  either hold by itself or force its source to spend nothing.

Every such change is written as a comment beside the key. docs/import.md, "Starting from a scenario".
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from allocator.config import EXTENDS, Document, load_document
from allocator.errors import InputError
from allocator.units import format_wan, parse_money

if TYPE_CHECKING:
    import pandas as pd

    from allocator.scenario import Scenario

KeyPath = tuple[str, ...]
#: The zones a rule may be written by (docs/scenarios.md).
ZONES = ("east", "central", "west")
#: Tables whose entries are named tables of their own ([types.centre], [targets.counts.centres] …), never inline.
NAMED = ("types", "sources", "counts", "indicators", "shares", "by_type")


@dataclass
class Derived:
    """A scenario cut to some provinces: its document, comments on the keys changed, its two tables."""

    values: dict[str, Any]
    regions: pd.DataFrame
    projects: pd.DataFrame
    labels: dict[str, str]
    money_unit: str
    comments: dict[KeyPath, str] = field(default_factory=dict)
    #: What was cut or left out, for the head of the file.
    notes: list[str] = field(default_factory=list)


def derive(path: Path, provinces: list[str]) -> Derived:
    """The scenario at `path` cut to `provinces` (full names; all of the scenario's regions if empty)."""
    return derive_document(load_document(path), provinces, path)


def derive_document(document: Document, provinces: list[str], path: Path) -> Derived:
    """A scenario document (with any --set overrides already in it) cut to `provinces`; `path` names it in messages."""
    from allocator.data import read_table
    from allocator.scenario_toml import scenario_from_document

    scenario = scenario_from_document(document)
    regions = read_table(scenario.data.regions)[0]
    projects = read_table(scenario.data.projects)[0]
    if provinces:
        if "province" not in regions.columns:
            raise InputError("the regions table has no 'province' column to choose provinces by", source=str(scenario.data.regions))
        regions = regions[regions["province"].isin(provinces)].reset_index(drop=True)
    chosen = projects[projects["region_id"].isin(set(regions["region_id"]))].reset_index(drop=True)
    if chosen.empty:
        raise InputError(f"the scenario has no candidate projects in {'、'.join(provinces)}", source=f"--from {path}")
    values = copy.deepcopy(document.values)
    values.pop(EXTENDS, None)
    if provinces:
        values["name"] = f"{scenario.name}_{'_'.join(provinces)}"
    values["data"] = {"regions": "regions.csv", "projects": "projects.csv", "money_unit": scenario.data.money_unit}
    derived = Derived(values, regions, chosen, {key: t.label for key, t in scenario.types.items()}, scenario.data.money_unit)
    if provinces:
        cost_share = _cost_share(chosen, projects, scenario.data.money_unit)
        _cut_money(derived, scenario, cost_share)
        _cut_counts(derived, projects, regions, cost_share)
        _cut_shares(derived, scenario, regions)
        derived.values = _without(derived.values, _places(), _absent(regions), derived.notes, ())
    return derived


def _places() -> set[str]:
    """Every zone and province a rule may be written by, and ``default``."""
    from allocator.importing.places import gazetteer

    return {*ZONES, *gazetteer().provinces.values(), "default"}


def _absent(regions: pd.DataFrame) -> set[str]:
    """The zones and provinces a rule may name that none of `regions` is in."""
    zones = set(regions["zone"]) if "zone" in regions.columns else set()
    provinces = set(regions["province"]) if "province" in regions.columns else set()
    return (_places() - zones - provinces) - {"default"}


def _without(value: Any, places: set[str], absent: set[str], notes: list[str], path: KeyPath) -> Any:
    """`value` without the entries of a table by zone or province (ratio = { east = 2.0, … }) and the items of a
    zones or provinces list that name an absent zone or province, where something is left; each left out is noted."""
    if isinstance(value, dict):
        by_place = path and path[-1] not in NAMED and set(value) <= places
        kept = {k: v for k, v in value.items() if k not in absent}
        if by_place and kept and len(kept) < len(value):
            notes.append(f"{'.'.join(path)}: {', '.join(k for k in value if k in absent)} left out (no chosen county there)")
            value = kept
        return {k: _without(v, places, absent, notes, (*path, k)) for k, v in value.items()}
    if isinstance(value, list) and path and path[-1] in ("zones", "provinces"):
        kept_items = [v for v in value if v not in absent]
        if not kept_items:
            raise InputError(f"{'.'.join(path)} names only {', '.join(map(str, value))}, where none of the chosen counties is; "
                             "cut the scenario to other provinces, or edit a copy of it", source="--from")
        if len(kept_items) < len(value):
            notes.append(f"{'.'.join(path)}: {', '.join(str(v) for v in value if v in absent)} left out (no chosen county there)")
            return kept_items
    return value


def _cost_share(chosen: pd.DataFrame, projects: pd.DataFrame, unit: str) -> float:
    from allocator.units import parse_money_column

    cost = [math.fsum(parse_money_column(frame["cost"], where="cost", default_unit=unit)) for frame in (chosen, projects)]
    return cost[0] / cost[1]


def _cut_money(derived: Derived, scenario: Scenario, share: float) -> None:
    why = f"× {share:.2%}, the provinces' share of the candidates' cost"
    for key, table in derived.values.get("sources", {}).items():
        for name in ("budget", "min_spend"):
            if name in table:
                amount = parse_money(table[name], default_unit=None)
                table[name] = _wan(amount * share)
                derived.comments[("sources", key, name)] = f"{format_wan(amount)} in {scenario.name} {why}"
        if "budget_by_year" in table:
            table["budget_by_year"] = [_wan(parse_money(a, default_unit=None) * share) for a in table["budget_by_year"]]
            derived.comments[("sources", key, "budget_by_year")] = f"{scenario.name}'s {why}"
            if "budget" in table:
                table["budget"] = f"{sum(int(a.removesuffix('万')) for a in table['budget_by_year'])}万"
                derived.comments[("sources", key, "budget")] = "the sum of budget_by_year"


def _wan(amount: float) -> str:
    return f"{math.ceil(amount - 1e-9):d}万"


def _cut_counts(derived: Derived, projects: pd.DataFrame, regions: pd.DataFrame, cost_share: float) -> None:
    """Each count's min by the smaller, its max by the larger of two shares: of the candidates it counts, and of
    the cost (the money was cut by it), so that a province with cheap or many candidates keeps a count it can meet."""
    counts = derived.values.get("targets", {}).get("counts", {})
    zone_of = dict(zip(regions["region_id"], regions["zone"])) if "zone" in regions.columns else {}
    for key, table in counts.items():
        counted = projects if "type" not in table else projects[projects["type"] == table["type"]]
        chosen = counted[counted["region_id"].isin(set(regions["region_id"]))]
        if "zone" in table:
            chosen = chosen[chosen["region_id"].map(zone_of) == table["zone"]]
        share = len(chosen) / len(counted) if len(counted) else 0.0
        low, high = min(share, cost_share), max(share, cost_share)
        before = " – ".join(f"{table[n]}" for n in ("min", "max") if n in table)
        if "min" in table:
            table["min"] = math.floor(table["min"] * low)
        if "max" in table:
            table["max"] = math.ceil(table["max"] * high)
        derived.comments[("targets", "counts", key, "min" if "min" in table else "max")] = \
            (f"{before} in the scenario × {low:.2%} – {high:.2%}: the provinces' shares of these candidates "
             f"({len(chosen)} of {len(counted)}) and of the candidates' cost")


def _cut_shares(derived: Derived, scenario: Scenario, regions: pd.DataFrame) -> None:
    shares = derived.values.get("balance", {}).get("shares", {})
    for key in list(shares):
        members = _members(shares[key], regions)
        if members in (0, len(regions)):
            del shares[key]
            derived.notes.append(f"the share rule [balance.shares.{key}] is left out: {'every' if members else 'no'} chosen county "
                                 "is a member, so it would hold by itself or forbid its source to spend")
    if "shares" in derived.values.get("balance", {}) and not shares:
        del derived.values["balance"]["shares"]
    if "balance" in derived.values and not derived.values["balance"]:
        del derived.values["balance"]


def _members(rule: dict[str, Any], regions: pd.DataFrame) -> int:
    """How many of `regions` a share rule's zone(s) or province(s) take in."""
    for key, column in (("zone", "zone"), ("zones", "zone"), ("province", "province"), ("provinces", "province")):
        if key in rule:
            wanted = rule[key] if isinstance(rule[key], list) else [rule[key]]
            return int(regions[column].isin(wanted).sum()) if column in regions.columns else 0
    return len(regions)


def toml_text(values: dict[str, Any], comments: dict[KeyPath, str]) -> str:
    """`values` as TOML: plain keys first, then each table under its [header]; `comments` after their keys."""
    lines: list[str] = []
    _table(values, (), comments, lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(table: dict[str, Any], path: KeyPath, comments: dict[KeyPath, str], lines: list[str]) -> None:
    inline = {k: v for k, v in table.items() if not _is_table(v, (*path, k))}
    if path and (inline or path in comments or not table):
        lines.extend(["", f"[{'.'.join(_key(p) for p in path)}]"])
    if path in comments:
        lines.append(f"# {comments[path]}")
    for key, value in inline.items():
        comment = comments.get((*path, key))
        lines.append(f"{_key(key)} = {_value(value)}" + (f"   # {comment}" if comment else ""))
    for key, value in table.items():
        if key not in inline:
            _table(value, (*path, key), comments, lines)


def _is_table(value: Any, path: KeyPath) -> bool:
    """A table gets its own [header] unless it is a small one of plain values (matching = { … }) inside a named entry."""
    if not isinstance(value, dict):
        return False
    return len(path) == 1 or path[-2] in NAMED or any(isinstance(v, dict) for v in value.values())


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isascii() and key.replace("_", "").replace("-", "").isalnum() \
        else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")

"""Reading a scenario from its TOML file: every table checked strictly, every amount resolved to 万元.

The scenario's types are in :mod:`allocator.scenario`; the document (``extends``, ``--set``, file:line)
in :mod:`allocator.config`; the strict reading of one table in :mod:`allocator.schema`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
import math
from pathlib import Path
from typing import Any, get_args

from allocator.backends.options import SolverOptions, Strategy
from allocator.config import Document, KeyPath, apply_overrides, load_document, parse_assignment
from allocator.errors import InputError
from allocator.paths import path_problem
from allocator.scenario import (ALL_SOURCES, INVERSE_PREFIX, ApplicationsSpec, BaselineSpec, Capacity, CapacityLevel, CountTarget, DataSpec,
                                Display, Indicator, Level, Matching, Phasing, ProjectType, Scenario, Scope, Selection, Sense,
                                OutputSpec, PerResidentRule, ProjectStatuses, ShareLevel, ShareRule, Source, SplitRule, Stability, Standard, StallRule, Triangular, TypeBenefit,
                                Uncertainty, default_display)
from allocator.schema import MAX_NUMBER, Table, check_choice
from allocator.units import UNITS_IN_WAN, format_wan, parse_money

#: Column names of the output tables, which a source key (a money column there) must not repeat.
RESERVED_SOURCE_KEYS = (ALL_SOURCES, "project_id", "name", "region_id", "province", "zone", "type", "cost",
                        "selected", "funded", "total", "candidates", "label", "share")
#: Tables of named objects: ``--set`` may change one of them but not create one by a misspelt name.
NAMED_TABLES: dict[KeyPath, str] = {("types",): "project type", ("sources",): "source", ("targets", "counts"): "count target",
                                    ("targets", "indicators"): "indicator", ("balance", "shares"): "share rule"}
#: The years a plan may have: whole years within YEARS, at most MAX_PLAN_YEARS of them.
YEARS = (1900, 2200)
MAX_PLAN_YEARS = 50
#: Solver options within what HiGHS accepts: threads, and a seed that fits its 32-bit integer.
MAX_THREADS = 1024
MAX_SEED = 2**31 - 1
#: The smallest indicator scale (1e-9: "per billion"); a smaller one is a typo that breaks the solver's numerics.
MIN_SCALE = 1e-9
#: The options of each closed choice, in the order a message lists them.
SENSES: tuple[Sense, ...] = get_args(Sense)
SELECTIONS: tuple[Selection, ...] = get_args(Selection)
SPLIT_RULES: tuple[SplitRule, ...] = get_args(SplitRule)
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
SCOPES: tuple[Scope, ...] = get_args(Scope)
DISPLAYS: tuple[Display, ...] = get_args(Display)
LEVELS: tuple[Level, ...] = get_args(Level)
CAPACITY_LEVELS: tuple[CapacityLevel, ...] = get_args(CapacityLevel)
STALL_RULES: tuple[StallRule, ...] = get_args(StallRule)


def load_scenario(path: str | Path, overrides: list[str] | None = None, *, allow_outside_paths: bool = False) -> Scenario:
    """Read, merge, override and validate a scenario file."""
    document = load_document(path, allow_outside_paths=allow_outside_paths)
    if overrides:
        document = apply_overrides(document, [parse_assignment(item) for item in overrides], collections=NAMED_TABLES)
    return scenario_from_document(document, allow_outside_paths=allow_outside_paths)


def with_overrides(scenario: Scenario, overrides: dict[str, Any] | list[str], *, allow_outside_paths: bool = False,
                   label: str = "--set") -> Scenario:
    """A new scenario: `scenario` with ``{"sources.central.budget": "8亿"}`` (or ``["key=value"]``) applied;
    a mistake in a value is reported as coming from `label` (the option that gave it)."""
    if isinstance(overrides, dict):
        assignments = [(tuple(key.split(".")), value) for key, value in overrides.items()]
    else:
        assignments = [parse_assignment(item) for item in overrides]
    document = apply_overrides(scenario.document, assignments, label=label, collections=NAMED_TABLES)
    return scenario_from_document(document, allow_outside_paths=allow_outside_paths)


def budgets_as_read(scenario: Scenario) -> list[str]:
    """One line per source: its budget in 万元 as read, and the file:line or option that gave it."""
    lines = []
    for key, source in scenario.sources.items():
        given = "budget_by_year" if "budget_by_year" in scenario.document.values["sources"][key] else "budget"
        lines.append(f"budget {key}: {format_wan(source.budget)} ({scenario.document.locate(('sources', key, given))})")
    return lines


def scenario_from_document(document: Document, *, allow_outside_paths: bool = False) -> Scenario:
    """The scenario a merged document describes; an :class:`InputError` names the first mistake and its file:line."""
    if not document.values:
        raise InputError("the scenario is empty: it needs a [data] table, project types under [types.<key>] and funding "
                         "sources under [sources.<key>] (see docs/scenarios.md)", source=str(document.files[-1]))
    top = Table(document, ())
    name = top.text("name", default=document.files[-1].stem)
    description = top.text("description", default="")
    data = _data_spec(top.subtable("data", required=True), allow_outside_paths)
    types = _types(top)
    phasing = _phasing(top.subtable("phasing"))
    sources = _sources(top, types, phasing)
    targets = top.subtable("targets")
    counts = _counts(targets, types) if targets else {}
    indicators = _indicators(targets, types, phasing) if targets else {}
    if targets:
        targets.close()
    balance = top.subtable("balance")
    shares = _shares(balance, sources) if balance else {}
    per_resident = _per_resident(balance, sources) if balance else {}
    min_per_region = balance.whole("min_projects_per_region", 0, low=0, high=int(MAX_NUMBER)) if balance else 0
    if balance:
        balance.close()
    sense, benefit, by_type, unit, raise_lowest = _objective(top.subtable("objective"), types, phasing, indicators)
    selection, split = _model(top.subtable("model"))
    solver = _solver(top.subtable("solver"))
    baseline = _baseline(top.subtable("baseline"))
    uncertainty = _uncertainty(top.subtable("uncertainty"), sources, types)
    stability = _stability(top.subtable("stability"))
    statuses = _statuses(top.subtable("projects"))
    output = _output(top.subtable("output"))
    top.close()
    return Scenario(
        name=name, description=description, data=data, types=types, sources=sources, counts=counts,
        indicators=indicators, shares=shares, min_projects_per_region=min_per_region, sense=sense,
        benefit=benefit, selection=selection, solver=solver, document=document, phasing=phasing, baseline=baseline,
        uncertainty=uncertainty, stability=stability, split=split, output=output,
        benefit_by_type=by_type, objective_unit=unit, raise_lowest=raise_lowest, per_resident=per_resident, statuses=statuses,
    )


def _data_spec(table: Table, allow_outside_paths: bool) -> DataSpec:
    paths = {key: _data_path(table, key, allow_outside_paths) for key in ("regions", "projects")}
    unit = table.choice("money_unit", list(UNITS_IN_WAN), "元")
    applications = _applications(table, allow_outside_paths)
    table.close()
    return DataSpec(regions=paths["regions"], projects=paths["projects"], money_unit=unit, applications=applications)


def _applications(table: Table, allow_outside_paths: bool) -> ApplicationsSpec | None:
    """[data] import_projects, projects_mapping, projects_sheet: the projects file read as an application workbook."""
    mapping = _data_path(table, "projects_mapping", allow_outside_paths) if table.has("projects_mapping") else None
    sheet = table.text("projects_sheet", None)
    if not table.take("import_projects", bool, mapping is not None or sheet is not None):
        if mapping or sheet:
            table.fail("projects_mapping and projects_sheet are for an application workbook: set import_projects = true or drop them",
                       (*table.path, "import_projects"))
        return None
    if not str(table.values["projects"]).lower().endswith(".xlsx"):
        table.fail("import_projects reads an application workbook: 'projects' must be an .xlsx file", (*table.path, "projects"))
    return ApplicationsSpec(mapping=mapping, sheet=sheet)


def _data_path(table: Table, key: str, allow_outside_paths: bool) -> Path:
    raw = table.text(key)
    problem = "the path is empty" if not raw.strip() else path_problem(raw)
    if problem:
        table.fail(f"{problem}; name a data file", (*table.path, key))
    declared_in = table.document.origin((*table.path, key)).parent
    try:
        path = (declared_in / raw).resolve()
    except (OSError, RuntimeError) as exc:
        table.fail(f"cannot use the path '{raw}': {exc}", (*table.path, key))
    if not allow_outside_paths and not path.is_relative_to(declared_in):
        table.fail(
            f"data path '{raw}' leaves the scenario's folder {declared_in}; move the file there or pass --allow-outside-paths",
            (*table.path, key),
        )
    return path


def _stability(table: Table | None) -> Stability:
    """``[stability]``: the reference run directory (relative to the file that names it), keep, churn penalty."""
    if table is None:
        return Stability()
    reference = None
    if table.has("reference"):
        raw = table.text("reference")
        problem = "the path is empty" if not raw.strip() else path_problem(raw)
        if problem:
            table.fail(f"{problem}; name a run directory", (*table.path, "reference"))
        reference = (table.document.origin((*table.path, "reference")).parent / raw).resolve()
    stability = Stability(reference=reference, keep=table.take("keep", bool, True),
                          churn_penalty=table.number("churn_penalty", 0.0, low=0.0))
    table.close()
    return stability


def _statuses(table: Table | None) -> ProjectStatuses:
    """``[projects]``: project_ids whose status is must_fund or exclude, whatever the projects table says (allocator.data
    checks that each names a project); one id in both lists is refused."""
    if table is None:
        return ProjectStatuses()
    must_fund, exclude = (tuple(dict.fromkeys(table.strings(key, ()))) for key in ("must_fund", "exclude"))
    both = [project for project in exclude if project in must_fund]
    if both:
        table.fail(f"project '{both[0]}' is both in must_fund (必须安排) and in exclude (不予安排); keep it in one", (*table.path, "exclude"))
    table.close()
    return ProjectStatuses(must_fund=must_fund, exclude=exclude)


def _types(top: Table) -> dict[str, ProjectType]:
    types = {}
    for key, table in top.named_subtables("types").items():
        types[key] = ProjectType(key=key, label=table.text("label", key), welfare=table.take("welfare", bool, False))
        table.close()
    if not types:
        top.fail("a scenario needs at least one project type under [types.<key>]", ("types",))
    return types


def _phasing(table: Table | None) -> Phasing:
    if table is None:
        return Phasing()
    first = table.whole("first_year", low=YEARS[0], high=YEARS[1], what=" (a year)")
    last = table.whole("last_year", low=first, high=YEARS[1], what=" (a year)")
    if last - first + 1 > MAX_PLAN_YEARS:
        table.fail(f"the plan spans {last - first + 1} years ({first}-{last}); a plan may have at most {MAX_PLAN_YEARS} years",
                   (*table.path, "last_year"))
    years = tuple(range(first, last + 1))
    duration = table.whole("duration", 1, low=1, high=len(years))
    profile = table.take("cost_profile", list, [1.0 / duration] * duration, what="a list of shares")
    if len(profile) != duration or not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in profile) \
            or abs(sum(profile) - 1.0) > 1e-9:
        table.fail(f"'cost_profile' must be {duration} non-negative shares adding up to 1 (one per construction year)",
                   (*table.path, "cost_profile"))
    phasing = Phasing(years=years, duration=duration, cost_profile=tuple(float(v) for v in profile),
                      carry_over=table.take("carry_over", bool, True),
                      discount_rate=table.number("discount_rate", 0.0, low=0.0, high=1.0))
    table.close()
    return phasing


def _sources(top: Table, types: dict[str, ProjectType], phasing: Phasing) -> dict[str, Source]:
    tables = top.named_subtables("sources")
    if not tables:
        top.fail("a scenario needs at least one funding source under [sources.<key>]", ("sources",))
    for key in tables:
        if key in RESERVED_SOURCE_KEYS:
            top.fail(f"'{key}' cannot name a source: it is a column of the output tables (or, for 'all', every source); "
                     "rename the source", ("sources", key))
    return {key: _source(key, table, types, list(tables), phasing) for key, table in tables.items()}


def _source(key: str, table: Table, types: dict[str, ProjectType], source_keys: list[str], phasing: Phasing) -> Source:
    budget, by_year = _budgets(table, phasing)
    min_spend = _money(table, "min_spend", default=0.0)
    if min_spend > budget:
        table.fail_together(f"min_spend ({min_spend:,.2f}万元) is above the budget ({budget:,.2f}万元)", ["min_spend", "budget", "budget_by_year"])
    eligible = table.strings("types", tuple(types))
    for type_key in eligible:
        check_choice(table, "types", type_key, list(types))
    if table.take("welfare_only", bool, False):
        eligible = tuple(t for t in eligible if types[t].welfare)
    zones = table.strings("zones", None)
    # A source that may fund nothing is a slip, not a plan: its budget would sit unspent, unsaid.
    if eligible == ():
        table.fail("the source may fund no project type (an empty 'types', or welfare_only with no welfare type); leave "
                   "'types' out to let it fund every type", (*table.path, "types"))
    if zones == ():
        table.fail("'zones' is an empty list: the source could fund no project; leave it out to let it fund every zone",
                   (*table.path, "zones"))
    source = Source(
        key=key,
        label=table.text("label", key),
        budget=budget,
        by_year=by_year,
        min_spend=min_spend,
        types=eligible,
        zones=zones,
        max_share_of_cost=_share_caps(table, types),
        cap_per_project=_by_type_and_place(table, "cap_per_project", tuple(types), _money),
        capacity=_capacity(table),
        matching=_matching(table, key, source_keys),
    )
    source = replace(source, standard=_standard(table, source))
    table.close()
    return source


def _budgets(table: Table, phasing: Phasing) -> tuple[float, tuple[float, ...]]:
    """The total budget and its split over the plan's years: `budget_by_year`, or `budget` x `profile` (equal by default)."""
    periods = phasing.periods
    if table.has("budget_by_year"):
        if not phasing.years:
            table.fail("'budget_by_year' needs a [phasing] table with first_year and last_year", (*table.path, "budget_by_year"))
        amounts = table.take("budget_by_year", list, what="a list of amounts, one per year")
        if len(amounts) != periods:
            table.fail(f"'budget_by_year' has {len(amounts)} amounts for {periods} years", (*table.path, "budget_by_year"))
        where = table.document.locate((*table.path, "budget_by_year")) + f": {table.name}.budget_by_year"
        by_year = tuple(parse_money(a, where=f"{where}[{i}]", default_unit=None) for i, a in enumerate(amounts))
        if table.has("budget") and abs(_money(table, "budget") - sum(by_year)) > 1e-6 * max(1.0, sum(by_year)):
            table.fail_together("'budget' differs from the sum of 'budget_by_year'; give one of them", ["budget", "budget_by_year"])
        if table.has("profile"):
            table.fail("give 'budget_by_year' or 'profile', not both", (*table.path, "profile"))
        return sum(by_year), by_year
    budget = _money(table, "budget")
    profile = table.take("profile", list, [1.0 / periods] * periods, what="a list of shares, one per year")
    if len(profile) != periods or not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in profile) \
            or abs(sum(profile) - 1.0) > 1e-9:
        table.fail(f"'profile' must be {periods} non-negative shares adding up to 1", (*table.path, "profile"))
    return budget, tuple(budget * float(share) for share in profile)


def _money(table: Table, key: str, default: float | None = None) -> float:
    if not table.has(key):
        if default is None:
            table.missing(key)
        return default
    where = table.document.locate((*table.path, key)) + f": {table.name}.{key}"
    return parse_money(table.values[key], where=where, default_unit=None)


def _share_caps(table: Table, types: dict[str, ProjectType]) -> dict[str, float]:
    if not table.has("max_share_of_cost"):
        return {}
    value = table.values["max_share_of_cost"]
    if isinstance(value, dict):
        caps = Table(table.document, (*table.path, "max_share_of_cost"))
        result = {type_key: caps.number(type_key, None, low=0.0, high=1.0) for type_key in types}
        caps.close()
        return {k: v for k, v in result.items() if v is not None}
    share = table.number("max_share_of_cost", low=0.0, high=1.0)
    return dict.fromkeys(types, share)


def _standard(table: Table, source: Source) -> Standard | None:
    """[sources.<key>.standard]: a fixed share of cost (`share`) or amount per project (`amount`), by type, then by
    province, zone or "default"; a share must stay within the source's max_share_of_cost, a type within its types."""
    standard = table.subtable("standard")
    if standard is None:
        return None
    share = _by_type_and_place(standard, "share", source.types, lambda t, k: t.number(k, low=0.0, high=1.0))
    amount = _by_type_and_place(standard, "amount", source.types, _money)
    standard.close()
    if not share and not amount:
        standard.fail("a standard needs 'share' or 'amount' (a number, or a table by type, then by province or zone)")
    for type_key in sorted(set(share) & set(amount)):
        standard.fail(f"type '{type_key}' has both a share and an amount; give one", (*standard.path, "amount", type_key))
    for type_key, by_place in share.items():
        cap = source.max_share_of_cost.get(type_key, 1.0)
        for place, value in by_place.items():
            if value > cap:
                standard.fail(f"share {value:g} for {type_key} in {place} is above max_share_of_cost {cap:g}",
                              (*standard.path, "share", type_key))
    return Standard(share=share, amount=amount)


def _by_type_and_place(table: Table, key: str, types: tuple[str, ...], read: Callable[[Table, str], float]) -> dict[str, dict[str, float]]:
    """`key` as one value for every type in `types`, or a table by type whose entries are values or tables by place."""
    if not table.has(key):
        return {}
    value, path = table.values[key], (*table.path, key)
    if not isinstance(value, dict) or set(value) <= {"amount", "unit"}:
        single = read(table, key)
        return {type_key: {"default": single} for type_key in types}
    by_type = Table(table.document, path)
    for type_key in value:
        check_choice(by_type, type_key, type_key, list(types))
    result: dict[str, dict[str, float]] = {}
    for type_key, entry in value.items():
        by_type.allowed.add(type_key)
        if isinstance(entry, dict) and not set(entry) <= {"amount", "unit"}:
            by_place = Table(table.document, (*path, type_key))
            by_place.allowed.update(entry)
            result[type_key] = {place: read(by_place, place) for place in entry}
        else:
            result[type_key] = {"default": read(by_type, type_key)}
    by_type.close()
    return result


def _capacity(table: Table) -> Capacity | None:
    capacity = table.subtable("capacity")
    if capacity is None:
        return None
    result = Capacity(column=capacity.text("column"), by=capacity.choice("by", CAPACITY_LEVELS, "province"))
    capacity.close()
    return result


def _matching(table: Table, key: str, source_keys: list[str]) -> Matching | None:
    matching = table.subtable("matching")
    if matching is None:
        return None
    others = [s for s in source_keys if s != key]
    of = matching.strings("of", tuple(others))
    for other in of:
        check_choice(matching, "of", other, others)
    ratio: float | None = None
    by_zone: dict[str, float] | None = None
    if matching.has("ratio") and isinstance(matching.values["ratio"], dict):
        zones = Table(matching.document, (*matching.path, "ratio"))
        zones.allowed.update(zones.values)
        by_zone = {zone: zones.number(zone, low=0.0) for zone in zones.values}
    else:
        ratio = matching.number("ratio", None, low=0.0)
    column = matching.text("ratio_column", None)
    if sum(x is not None for x in (ratio, by_zone, column)) != 1:
        matching.fail("give exactly one of 'ratio' (a number or a table by zone) and 'ratio_column'")
    matching.close()
    return Matching(of=of, ratio=ratio, ratio_by_zone=by_zone, ratio_column=column)


def _counts(targets: Table, types: dict[str, ProjectType]) -> dict[str, CountTarget]:
    counts = {}
    for name, table in targets.named_subtables("counts").items():
        type_key = table.choice("type", list(types), None)
        low = table.whole("min", None, low=0, high=int(MAX_NUMBER), what=" of projects")
        high = table.whole("max", None, low=0, high=int(MAX_NUMBER), what=" of projects")
        if low is None and high is None:
            table.fail("a count target needs 'min', 'max' or both")
        if low is not None and high is not None and low > high:
            table.fail_together(f"min ({low:g}) is above max ({high:g})", ["min", "max"])
        counts[name] = CountTarget(name=name, type=type_key, zone=table.text("zone", None), min=low, max=high)
        table.close()
    return counts


def _indicators(targets: Table, types: dict[str, ProjectType], phasing: Phasing) -> dict[str, Indicator]:
    indicators = {}
    for name, table in targets.named_subtables("indicators").items():
        only = table.strings("types", None)
        for type_key in only or ():
            check_choice(table, "types", type_key, list(types))
        hard = table.take("hard", bool, False)
        target, scale = table.number("target"), table.number("scale", 1.0, low=MIN_SCALE)
        indicators[name] = Indicator(
            name=name,
            label=table.text("label", name),
            baseline=table.text("baseline", None),
            contribution=table.text("contribution"),
            denominator=table.text("denominator"),
            scale=scale,
            scope=table.choice("scope", SCOPES, "national"),
            target=target,
            hard=hard,
            penalty=table.number("penalty", 0.0, low=0.0) if hard else table.number("penalty", low=0.0),
            types=only,
            display=table.choice("display", DISPLAYS, None) or default_display(target, scale),
            deadline=_deadline(table, phasing),
            max_zone_gap=table.number("max_zone_gap", None, low=0.0),
        )
        table.close()
    return indicators


def _deadline(table: Table, phasing: Phasing) -> int | None:
    deadline = table.whole("deadline", None, low=YEARS[0], high=YEARS[1], what=" (a year)")
    if deadline is None:
        return None
    if deadline not in phasing.years:
        table.fail(f"'deadline' {deadline} is not a year of the plan ({phasing.years[0]}-{phasing.years[-1]})" if phasing.years
                   else "'deadline' needs a [phasing] table with first_year and last_year", (*table.path, "deadline"))
    return deadline


def _shares(balance: Table, sources: dict[str, Source]) -> dict[str, ShareRule]:
    shares = {}
    for name, table in balance.named_subtables("shares").items():
        source = table.choice("source", [ALL_SOURCES, *sources], ALL_SOURCES)
        chosen = [key for key in ("zone", "zones", "province", "provinces") if table.has(key)]
        if len(chosen) != 1:
            table.fail("give exactly one of 'zone', 'zones', 'province' or 'provinces'")
        members = table.strings(chosen[0])
        low = table.number("min", None, low=0.0, high=1.0)
        high = table.number("max", None, low=0.0, high=1.0)
        if low is None and high is None:
            table.fail("a share rule needs 'min', 'max' or both")
        if low is not None and high is not None and low > high:
            table.fail_together(f"min ({low:g}) is above max ({high:g})", ["min", "max"])
        shares[name] = ShareRule(
            name=name, source=source, level="zone" if chosen[0].startswith("zone") else "province",
            members=members, min=low, max=high,
        )
        table.close()
    return shares


#: The most money per resident a rule may name (元): far above any programme's.
MAX_PER_RESIDENT_YUAN = 1e6
PER_RESIDENT_LEVELS: tuple[ShareLevel, ...] = ("province", "zone")


def _per_resident(balance: Table, sources: dict[str, Source]) -> dict[str, PerResidentRule]:
    """[balance.per_resident.<name>]: money per resident of a source (or all money) per province or zone, in 元."""
    rules = {}
    for name, table in balance.named_subtables("per_resident").items():
        source = table.choice("source", [ALL_SOURCES, *sources], ALL_SOURCES)
        level = table.choice("by", PER_RESIDENT_LEVELS, "province")
        low = table.number("min", None, low=0.0, high=MAX_PER_RESIDENT_YUAN)
        high = table.number("max", None, low=0.0, high=MAX_PER_RESIDENT_YUAN)
        if low is None and high is None:
            table.fail("a per-resident rule needs 'min', 'max' or both (元 per resident)")
        if low is not None and high is not None and low > high:
            table.fail_together(f"min ({low:g}) is above max ({high:g})", ["min", "max"])
        rules[name] = PerResidentRule(name=name, source=source, level=level, min=low, max=high)
        table.close()
    return rules


def _objective(table: Table | None, types: dict[str, ProjectType], phasing: Phasing,
               indicators: dict[str, Indicator]) -> tuple[Sense, dict[str, float], dict[str, TypeBenefit], str, str | None]:
    if table is None:
        return "min_cost", {}, {}, "", None
    sense = table.choice("sense", SENSES, "max_benefit")
    unit = table.text("unit", "")
    raise_lowest = _raise_lowest(table, indicators)
    benefit: dict[str, float] = {}
    weights = table.subtable("benefit")
    if weights is not None:
        weights.allowed.update(weights.values)
        benefit = {column: weights.number(column, low=0.0) for column in weights.values}
        weights.close()
    by_type = _benefit_by_type(table, types, phasing)
    if sense == "max_benefit" and not benefit and set(by_type) != set(types):
        table.fail_together("objective 'max_benefit' needs a [objective.benefit] table of project columns and weights "
                            "(or an [objective.by_type.<type>] table for every type)", ["benefit", "by_type", "sense"])
    table.close()
    return sense, benefit, by_type, unit, raise_lowest


def _raise_lowest(table: Table, indicators: dict[str, Indicator]) -> str | None:
    """[objective] raise_lowest: an indicator with several groups whose lowest group is raised first."""
    name = table.text("raise_lowest", "")
    if not name:
        return None
    if name not in indicators:
        table.fail(f"raise_lowest = {name!r} names no indicator: use one of {', '.join(indicators) or '(none defined)'}",
                   (*table.path, "raise_lowest"))
    if indicators[name].scope == "national":
        table.fail(f"raise_lowest = {name!r} is measured nationally (one group): give it scope = \"zone\", \"province\" or \"region\"",
                   (*table.path, "raise_lowest"))
    return name


def _benefit_by_type(table: Table, types: dict[str, ProjectType], phasing: Phasing) -> dict[str, TypeBenefit]:
    """[objective.by_type.<type>]: a type's own benefit column, weight and optional per-region cap column."""
    by_type: dict[str, TypeBenefit] = {}
    for name, entry in table.named_subtables("by_type").items():
        if name not in types:
            entry.fail(f"'{name}' is not a project type ({', '.join(types)})")
        cap = entry.text("cap", None)
        if cap is not None and phasing.starts > 1 and phasing.discount_rate > 0:
            entry.fail("a benefit cap with several start years needs [phasing] discount_rate = 0: a region's capped benefit "
                       "cannot be discounted by each project's completion year", (*entry.path, "cap"))
        by_type[name] = TypeBenefit(column=entry.text("column"), weight=entry.number("weight", 1.0, low=0.0), cap=cap)
        entry.close()
    return by_type


def _output(table: Table | None) -> OutputSpec:
    """[output]: the unit every money cell is rounded to, a power of ten from 1元 (0.0001万) to 1亿."""
    if table is None:
        return OutputSpec()
    precision = _money(table, "money_precision", default=OutputSpec().money_precision)
    exponent = round(math.log10(precision)) if precision > 0 else 99
    if not -4 <= exponent <= 4 or abs(precision - 10.0**exponent) > 1e-9 * precision:
        table.fail(f"money_precision must be a power of ten from 1元 to 1亿, like \"0.01万\" or \"1万\", not {precision:g}万元",
                   (*table.path, "money_precision"))
    table.close()
    return OutputSpec(money_precision=10.0**exponent)


def _model(table: Table | None) -> tuple[Selection, SplitRule]:
    """[model]: binary or continuous selection, and the rule that splits money between sources (allocator.split)."""
    if table is None:
        return "binary", "even"
    selection = table.choice("selection", SELECTIONS, "binary")
    split = table.choice("split", SPLIT_RULES, "even")
    table.close()
    return selection, split


def _solver(table: Table | None) -> SolverOptions:
    if table is None:
        return SolverOptions()
    defaults = SolverOptions()
    time_limit = table.number("time_limit", defaults.time_limit, low=0.0)
    if time_limit == 0:
        table.fail("'time_limit' must be above 0 seconds (it bounds the whole run)", (*table.path, "time_limit"))
    options = SolverOptions(
        name=table.text("name", defaults.name),
        time_limit=time_limit,
        mip_rel_gap=table.number("mip_rel_gap", defaults.mip_rel_gap, low=0.0, high=1.0),
        threads=table.whole("threads", defaults.threads, low=1, high=MAX_THREADS),
        seed=table.whole("seed", defaults.seed, low=0, high=MAX_SEED),
        strategy=table.choice("strategy", STRATEGIES, defaults.strategy),
        workers=table.whole("workers", None, low=1, high=MAX_THREADS),
    )
    table.close()
    return options


def _baseline(table: Table | None) -> BaselineSpec | None:
    if table is None:
        return None
    level = table.choice("level", LEVELS, "province")
    factors = table.subtable("factors", required=True)
    factors.allowed.update(factors.values)
    weights = {name: factors.number(name, low=0.0) for name in factors.values}
    for name in weights:
        if not name.removeprefix(INVERSE_PREFIX):
            factors.fail(f"'{name}' names no column", (*factors.path, name))
    if not any(weight > 0 for weight in weights.values()):
        factors.fail("[baseline.factors] needs at least one column with a positive weight, e.g. { population = 1.0 }")
    factors.close()
    floor = table.number("floor", 0.0, low=0.0, high=1.0)
    cap = table.number("cap", 1.0, low=0.0, high=1.0)
    if floor > cap:
        table.fail_together(f"floor ({floor:g}) is above cap ({cap:g})", ["floor", "cap"])
    spec = BaselineSpec(level=level, factors=weights, floor=floor, cap=cap, priority=table.text("priority", "priority"))
    table.close()
    return spec


def _uncertainty(table: Table | None, sources: dict[str, Source], types: dict[str, ProjectType]) -> Uncertainty | None:
    if table is None:
        return None
    matched = [key for key, source in sources.items() if source.matching is not None]
    if table.has("matching_source"):
        matching_source = table.choice("matching_source", list(sources))
        if matched and matching_source not in matched:  # with no matching rule anywhere, any source may be the uncertain one
            table.fail(f"'matching_source' is '{matching_source}', a source with no matching rule, while "
                       f"{', '.join(repr(key) for key in matched)} matches other money: name the source whose matching money "
                       f"may not all arrive ({', '.join(matched)})", (*table.path, "matching_source"))
    elif len(matched) == 1:
        matching_source = matched[0]
    else:
        table.fail("name the source whose money may not arrive: 'matching_source' (no default: "
                   f"{'no source has' if not matched else 'several sources have'} a matching rule)")
    arrival = _triangulars(table, "local_arrival", None, low=0.0, high=1.0)
    overrun = _triangulars(table, "cost_overrun", list(types), low=0.0, high=None)
    for type_key, law in overrun.items():
        if law.high <= 0:
            table.fail(f"a cost overrun factor must be positive, got high = {law.high:g}", (*table.path, "cost_overrun", type_key))
    result = Uncertainty(
        matching_source=matching_source, local_arrival=arrival,
        arrival_by=table.choice("arrival_by", LEVELS, "zone"),
        cost_overrun=overrun, delay_probability=table.number("delay_probability", 0.0, low=0.0, high=1.0),
        stall_rule=table.choice("stall_rule", STALL_RULES, "stall"),
        robust_quantile=table.number("robust_quantile", 0.1, low=0.0, high=1.0),
    )
    table.close()
    return result


def _triangulars(table: Table, key: str, keys: list[str] | None, *, low: float, high: float | None) -> dict[str, Triangular]:
    """``key = { <name> = { low = .., mode = .., high = .. }, ... }``; `keys` limits the names (None: any)."""
    parent = table.subtable(key)
    if parent is None:
        return {}
    laws = {}
    for name in list(parent.values):
        if keys is not None:
            check_choice(parent, name, name, keys)
        parent.allowed.add(name)
        entry = Table(parent.document, (*parent.path, name))
        values = [entry.number(part, low=low, high=high) for part in ("low", "mode", "high")]
        if not values[0] <= values[1] <= values[2]:
            entry.fail(f"need low <= mode <= high, got {values[0]:g}, {values[1]:g}, {values[2]:g}")
        entry.close()
        laws[name] = Triangular(*values)
    parent.close()
    return laws

"""Bad inputs in the scenario file, in money text and in --set: comma decimals and full-width digits,
bare numbers for money, misspelt names on the command line, missing or empty tables, invisible
characters, deep nesting, unbounded horizons, solver options and absurd magnitudes, and path text.
Each case breaks one thing in a copy of tests/corpus/base (see corpus_harness.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from allocator.data import load_data
from allocator.scenario_toml import load_scenario, with_overrides
from allocator.summary import most_money, unaffordable_warning
from corpus_harness import BASE, Break, Case, add_toml, both, cell, check_case, nothing, rows_of, toml, write_bytes

CENTRAL = 'budget = "600万"'
ALL_BUDGETS = ('budget = "600万"', 'budget = "150万"', 'budget = "¥0.08亿"')
COUNT = "min = 2\nmax = 4"


def budget(text: str) -> Break:
    """The central source's budget written as `text` (TOML, quotes included when a string)."""
    return toml(CENTRAL, f"budget = {text}")


def every_budget(text: str) -> Break:
    """Every budget at `text`, and no count floor that would make the scenario infeasible."""
    return both(*(toml(old, f'budget = "{text}"') for old in ALL_BUDGETS), toml(COUNT, "max = 4"))


def phasing(first: str, last: str, extra: str = "") -> Break:
    return add_toml(f"[phasing]\nfirst_year = {first}\nlast_year = {last}\n{extra}")


def solver(text: str) -> Break:
    return add_toml(f"[solver]\n{text}")


def top_line(text: str) -> Break:
    """A line added right after the scenario's name (line 4)."""
    return toml('name = "corpus base"', f'name = "corpus base"\n{text}')


def drop_tables(*headers: str) -> Break:
    """Remove the tables starting with each header, up to the next blank line."""
    def apply(folder: Path) -> None:
        path = folder / "case.toml"
        blocks = path.read_text(encoding="utf-8").split("\n\n")
        kept = [b for b in blocks if not any(b.lstrip().startswith(h) for h in headers)]
        path.write_text("\n\n".join(kept), encoding="utf-8")
    return apply


def pad_scenario(size: int) -> Break:
    def apply(folder: Path) -> None:
        path = folder / "case.toml"
        path.write_text(path.read_text(encoding="utf-8") + ("# padding\n" * (size // 10 + 1)), encoding="utf-8")
    return apply


def validate(folder: Path, out: Path) -> list[str]:
    return ["validate", str(folder / "case.toml")]


DEEP = 10_000

CASES = [
    # comma decimals and full-width text in money
    Case("scenario-comma-decimal-budget", budget('"0,06亿"'), 2, ("case.toml:24", "sources.central.budget", "'0.06亿'")),
    Case("scenario-comma-every-digit", budget('"6,0,0万"'), 2, ("case.toml:24", "thousands separator")),
    Case("scenario-comma-groups-of-four", budget('"1,5000万"'), 2, ("case.toml:24", "thousands separator")),
    Case("scenario-comma-leading-zero-group", budget('"0,600万"'), 2, ("case.toml:24", "'0.600万'")),
    Case("scenario-comma-in-fraction", budget('"1.234,5万"'), 2, ("case.toml:24", "thousands separator")),
    Case("scenario-comma-decimal-set", nothing, 2, ("--set", "sources.central.budget", "'0.06亿'"),
         args=("--set", "sources.central.budget=0,06亿")),
    Case("scenario-comma-decimal-cap", toml("max_share_of_cost = 0.6", 'max_share_of_cost = 0.6\ncap_per_project = "12,5万"'), 2,
         ("case.toml:26", "cap_per_project", "'12.5万'")),
    Case("scenario-comma-decimal-cost", cell("projects.csv", 3, "cost", "99,5"), 2, ("projects.csv", "row 3", "'99.5'")),
    Case("scenario-comma-decimal-capacity", cell("regions.csv", 2, "local_capacity", "40,5"), 2,
         ("regions.csv", "local_capacity", "row 2", "40,5")),
    Case("scenario-thousands-budget-is-read", budget('"6,000,000元"'), 0, ("budget central: 600.00万元",)),
    Case("scenario-thousands-cost-is-read", cell("projects.csv", 3, "cost", "1,000"), 0),
    Case("scenario-fullwidth-budget-is-read", budget('"６００万"'), 0, ("budget central: 600.00万元",)),
    Case("scenario-fullwidth-thousands-is-read", budget('"６，０００，０００元"'), 0, ("budget central: 600.00万元",)),
    Case("scenario-fullwidth-point-is-read", budget('"０．０６亿"'), 0, ("budget central: 600.00万元",)),
    Case("scenario-fullwidth-comma-decimal", budget('"０，０６亿"'), 2, ("case.toml:24", "'0.06亿'")),
    Case("scenario-fullwidth-cost-is-read", cell("projects.csv", 4, "cost", "２５０"), 0),
    Case("scenario-fullwidth-comma-decimal-cost", cell("projects.csv", 3, "cost", "９９，５"), 2, ("projects.csv", "row 3", "'99.5'")),
    Case("scenario-ideographic-point", budget('"0。06亿"'), 2, ("case.toml:24", "cannot read")),
    Case("scenario-space-in-number", budget('"1 500万"'), 2, ("case.toml:24", "cannot read")),
    # bare numbers for money
    Case("scenario-bare-budget", budget("600"), 2, ("case.toml:24", "sources.central.budget", "write the unit", "600万")),
    Case("scenario-bare-budget-decimal", budget("600.5"), 2, ("case.toml:24", "600.5万")),
    Case("scenario-bare-budget-text", budget('"600"'), 2, ("case.toml:24", "write the unit")),
    Case("scenario-bare-budget-yuan-sized", budget("6000000"), 2, ("case.toml:24", "6000000元")),
    Case("scenario-bare-set", nothing, 2, ("--set", "sources.central.budget", "write the unit", "80万"),
         args=("--set", "sources.central.budget=80")),
    Case("scenario-bare-set-text", nothing, 2, ("--set", "write the unit"), args=("--set", 'sources.central.budget="80"')),
    Case("scenario-bare-min-spend", toml(CENTRAL, f"{CENTRAL}\nmin_spend = 100"), 2, ("case.toml:25", "min_spend", "write the unit")),
    Case("scenario-bare-cap", toml("max_share_of_cost = 0.6", "max_share_of_cost = 0.6\ncap_per_project = 50"), 2,
         ("case.toml:26", "cap_per_project", "write the unit")),
    Case("scenario-bare-cap-by-type", toml("max_share_of_cost = 0.6", "max_share_of_cost = 0.6\ncap_per_project = { station = 30 }"), 2,
         ("case.toml:26", "cap_per_project.station", "write the unit")),
    Case("scenario-bare-budget-by-year", both(phasing("2006", "2007"), toml(CENTRAL, "budget_by_year = [300, 300]")), 2,
         ("case.toml:24", "budget_by_year[0]", "write the unit")),
    Case("scenario-money-table-without-unit", budget("{ amount = 600 }"), 2, ("case.toml:24", "write the unit")),
    Case("scenario-bare-zero-is-read", toml('budget = "150万"', "budget = 0"), 0, ("budget lottery: 0.00万元",)),
    Case("scenario-budgets-echoed-by-validate", nothing, 0,
         ("budget central: 600.00万元", "case.toml:24", "budget lottery: 150.00万元", "budget local: 800.00万元"), argv=validate),
    Case("scenario-budget-set-is-echoed", nothing, 0, ("budget central: 800.00万元 (--set)",), args=("--set", "sources.central.budget=800万")),
    Case("scenario-nothing-affordable", every_budget("1万"), 0, ("warning: no candidate project can be fully funded",)),
    Case("scenario-nothing-affordable-validate", every_budget("1万"), 0, ("warning: no candidate project can be fully funded",),
         argv=validate),
    Case("scenario-nothing-affordable-in-yuan", every_budget("600元"), 0, ("budget central: 0.06万元", "warning: no candidate")),
    # --set on names that do not exist
    Case("scenario-set-misspelt-source", nothing, 2, ("--set", "no source 'centrl'", "did you mean 'central'"),
         args=("--set", "sources.centrl.budget=8亿")),
    Case("scenario-set-source-case", nothing, 2, ("--set", "did you mean 'central'"), args=("--set", "sources.Central.budget=8亿")),
    Case("scenario-set-misspelt-count", nothing, 2, ("--set", "no count target 'centers'", "did you mean 'centres'"),
         args=("--set", "targets.counts.centers.min=3")),
    Case("scenario-set-misspelt-indicator", nothing, 2, ("--set", "did you mean 'street_centres'"),
         args=("--set", "targets.indicators.street_centre.target=40")),
    Case("scenario-set-misspelt-type", nothing, 2, ("--set", "no project type 'center'", "did you mean 'centre'"),
         args=("--set", "types.center.welfare=false")),
    Case("scenario-set-misspelt-share", nothing, 2, ("--set", "did you mean 'central_to_west'"),
         args=("--set", "balance.shares.central_to_wset.min=0.2")),
    Case("scenario-set-new-count", nothing, 2, ("--set", "no count target 'stations'", "whole table"),
         args=("--set", "targets.counts.stations.min=1")),
    Case("scenario-set-whole-new-source", nothing, 0, ("budget extra: 10.00万元",),
         args=("--set", 'sources.extra={ budget = "10万", types = ["station"] }')),
    # missing or empty tables
    Case("scenario-empty-file", write_bytes("case.toml", b""), 2, ("case.toml", "empty", "[data]", "[sources")),
    Case("scenario-comments-only", write_bytes("case.toml", b"# to do\n"), 2, ("case.toml", "empty")),
    Case("scenario-no-data", drop_tables("[data]"), 2, ("case.toml", "missing required table [data]")),
    Case("scenario-no-types", drop_tables("[types."), 2, ("case.toml", "at least one project type")),
    Case("scenario-no-sources", drop_tables("[sources."), 2, ("case.toml", "at least one funding source")),
    Case("scenario-set-sources-empty", nothing, 2, ("--set", "at least one funding source"), args=("--set", "sources={}")),
    Case("scenario-set-types-empty", nothing, 2, ("--set", "at least one project type"), args=("--set", "types={}")),
    Case("scenario-set-data-empty", nothing, 2, ("--set", "data", "regions"), args=("--set", "data={}")),
    # invisible characters
    Case("scenario-control-in-label", toml('label = "中央专项资金"', 'label = "中央\\u0007专项资金"'), 2,
         ("case.toml:23", "sources.central.label", "U+0007")),
    Case("scenario-tab-in-label", toml('label = "中央专项资金"', 'label = "中央\\t专项资金"'), 2, ("case.toml:23", "U+0009")),
    Case("scenario-delete-in-type-label", toml('label = "社区服务站"', 'label = "社区\\u007f服务站"'), 2, ("case.toml:15", "U+007F")),
    Case("scenario-nul-in-source-key", toml("[sources.central]", '[sources."cen\\u0000tral"]'), 2, ("case.toml", "U+0000", "key")),
    Case("scenario-zero-width-in-type-key", toml("[types.station]", '[types."station\u200b"]'), 2, ("case.toml:14", "U+200B")),
    Case("scenario-bidi-in-name", toml('name = "corpus base"', 'name = "corpus \\u202ebase"'), 2, ("case.toml:3", "name", "U+202E")),
    Case("scenario-control-in-set", nothing, 2, ("--set", "sources.central.label", "U+0001"),
         args=("--set", 'sources.central.label="a\\u0001b"')),
    Case("scenario-newline-in-description-is-read", top_line('description = """two\nlines"""'), 0),
    # nesting and size
    Case("scenario-deep-arrays", top_line("deep = " + "[" * DEEP + "]" * DEEP), 2, ("case.toml", "nested")),
    Case("scenario-deep-inline-tables", top_line("deep = " + "{ a = " * DEEP + "1" + " }" * DEEP), 2, ("case.toml", "nested")),
    Case("scenario-nested-100", top_line("deep = " + "[" * 100 + "]" * 100), 2, ("case.toml:4", "deep", "nested")),
    Case("scenario-deep-set", nothing, 2, ("--set", "nested"), args=("--set", "description=" + "[" * DEEP + "]" * DEEP)),
    Case("scenario-file-too-large", pad_scenario(2 << 20), 2, ("case.toml", "MiB")),
    # phasing horizon and years
    Case("scenario-horizon-100-million-years", phasing("2006", "100002006"), 2, ("case.toml", "phasing.last_year", "at most")),
    Case("scenario-horizon-51-years", phasing("2000", "2050"), 2, ("case.toml", "phasing", "50 years")),
    Case("scenario-horizon-50-years-is-read", phasing("2001", "2050"), 0),
    Case("scenario-year-fraction", phasing("2006.7", "2010"), 2, ("case.toml", "phasing.first_year", "whole")),
    Case("scenario-year-out-of-range", phasing("5", "6"), 2, ("case.toml", "phasing.first_year", "1900")),
    Case("scenario-deadline-fraction", both(phasing("2006", "2010"), toml("penalty = 100", "penalty = 100\ndeadline = 2008.5")), 2,
         ("case.toml:52", "deadline", "whole")),
    Case("scenario-discount-huge", phasing("2006", "2010", "discount_rate = 1e300"), 2, ("case.toml", "discount_rate", "at most")),
    # solver options
    Case("scenario-time-limit-zero-option", nothing, 2, ("--time-limit", "above 0, got 0"), args=("--time-limit", "0")),
    Case("scenario-time-limit-zero", solver("time_limit = 0"), 2, ("case.toml", "solver.time_limit", "above 0")),
    Case("scenario-threads-huge", solver("threads = 1e10"), 2, ("case.toml", "solver.threads", "at most 1024")),
    Case("scenario-threads-fraction", solver("threads = 1.5"), 2, ("case.toml", "solver.threads", "whole")),
    Case("scenario-seed-huge", solver("seed = 1e30"), 2, ("case.toml", "solver.seed", "2147483647")),
    Case("scenario-seed-just-too-big", solver("seed = 2147483648"), 2, ("case.toml", "solver.seed", "2147483647")),
    Case("scenario-seed-largest-is-read", solver("seed = 2147483647"), 0),
    # absurd magnitudes
    Case("scenario-penalty-huge", toml("penalty = 100", "penalty = 1e300"), 2, ("case.toml:51", "penalty", "at most 1000000000")),
    Case("scenario-scale-tiny", toml("scale = 0.01", "scale = 1e-300"), 2, ("case.toml:48", "scale", "at least 1e-09")),
    Case("scenario-target-huge", toml("target = 35", "target = 1e300"), 2, ("case.toml:50", "target", "at most")),
    Case("scenario-weight-huge", toml("benefit = { benefit = 1.0 }", "benefit = { benefit = 1e300 }"), 2,
         ("case.toml:61", "objective.benefit.benefit", "at most")),
    Case("scenario-weight-hugely-negative", toml("benefit = { benefit = 1.0 }", "benefit = { benefit = -1e300 }"), 2,
         ("case.toml:61", "objective.benefit.benefit", "at least")),
    Case("scenario-ratio-huge", toml("east = 1.0", "east = 1e300"), 2, ("case.toml:37", "matching.ratio.east", "at most")),
    Case("scenario-count-huge", toml("max = 4", "max = 1e300"), 2, ("case.toml:42", "targets.counts.centres.max", "at most")),
    Case("scenario-budget-huge", budget('"1e300亿"'), 2, ("case.toml:24", "at most")),
    Case("scenario-cost-huge", cell("projects.csv", 2, "cost", "1e300"), 2, ("projects.csv", "row 2", "cost")),
    Case("scenario-cost-huge-text", cell("projects.csv", 2, "cost", "1e300亿"), 2, ("projects.csv", "row 2", "cost")),
    # text of paths
    Case("scenario-nul-in-data-path", toml('regions = "regions.csv"', 'regions = "regions\\u0000.csv"'), 2,
         ("case.toml:6", "data.regions", "U+0000")),
    Case("scenario-long-file-name", toml('regions = "regions.csv"', f'regions = "{"r" * 300}.csv"'), 2,
         ("case.toml:6", "data.regions", "too long (304 bytes; at most 255)")),
    Case("scenario-long-path", toml('regions = "regions.csv"', f'regions = "{"d/" * 3000}regions.csv"'), 2,
         ("case.toml:6", "data.regions", "too long")),
    Case("scenario-nul-in-extends", top_line('extends = "base\\u0000.toml"'), 2, ("case.toml", "extends", "U+0000")),
    Case("scenario-long-extends", top_line(f'extends = "{"b" * 300}.toml"'), 2, ("case.toml:4", "extends", "at most 255")),
    Case("scenario-long-chinese-path", toml('regions = "regions.csv"', f'regions = "{"社区服务中心/" * 250}regions.csv"'), 2,
         ("case.toml:6", "data.regions", "at most 4,095")),
    Case("scenario-sweep-bare-number", nothing, 2, ("--vary", "sources.central.budget", "has no unit", "'500万'"),
         argv=lambda folder, out: ["sweep", str(folder / "case.toml"), "--vary", "sources.central.budget=500,600", "--out", str(out)]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_scenario_case(tmp_path, monkeypatch, case):
    check_case(case, tmp_path, monkeypatch)


def test_the_money_a_project_could_get_matches_a_hand_count_of_the_base_rules():
    """central: 60% of cost; lottery: 30%, welfare types only; local: the capacity of the province; each within its budget."""
    budgets = {"central": 100.0, "lottery": 10.0, "local": 50.0}
    scenario = load_scenario(BASE / "case.toml", [f"sources.{key}.budget={amount}万" for key, amount in budgets.items()])
    data = load_data(scenario)
    region_header, *region_rows = rows_of(BASE / "regions.csv")
    regions = {row["region_id"]: row for row in (dict(zip(region_header, values)) for values in region_rows)}
    capacity = {p: sum(float(r["local_capacity"]) for r in regions.values() if r["province"] == p) for p in {"甲省", "乙省", "丙省"}}
    header, *projects = rows_of(BASE / "projects.csv")
    expected = []
    for row in (dict(zip(header, values)) for values in projects):
        cost, welfare = float(row["cost"]), row["type"] in ("centre", "station")
        expected.append(min(0.6 * cost, budgets["central"]) + (min(0.3 * cost, budgets["lottery"]) if welfare else 0.0)
                        + min(cost, budgets["local"], capacity[regions[row["region_id"]]["province"]]))
    assert most_money(scenario, data) == pytest.approx(expected)
    assert unaffordable_warning(scenario, data) is None  # P02 (network, 100万) can get 60 + 50
    poor = with_overrides(scenario, {"sources.central.budget": "1万", "sources.local.budget": "1万"})
    assert "the closest, P04, could get at most 12.00万元 of its cost 80.00万元" in unaffordable_warning(poor, data)

"""Property-based tests: random small scenarios, once solved, keep every rule when read back from
allocation.csv (no model code is used to check them); random garbage is refused with one clear line; the
same scenario gives byte-identical tables.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from allocator.cli import main
from allocator.errors import SolveFailed
from allocator.runformat.tables import write_csv
from allocator.scenario_toml import load_scenario
from allocator.solve import solve
from helpers import write_table

ROOT = Path(__file__).resolve().parents[1]
CORPUS_BASE = ROOT / "tests" / "corpus" / "base"
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TYPES = {"centre": True, "station": True, "network": False}  # type -> welfare
PROVINCES = {"east": ["甲省", "乙省"], "west": ["丙省", "丁省"]}
#: allocation.csv rounds money to 0.01万元 (output.money_precision): a cell is within one unit of the exact plan.
TOL = 0.01


def close_enough(amount: float) -> float:
    return TOL + 1e-6 * abs(amount)


@dataclass
class Spec:
    """A random scenario, kept as plain values so the checks need nothing from the allocator."""

    regions: list[dict[str, object]]
    projects: list[dict[str, object]]
    budgets: dict[str, int]  # 万元
    share_caps: dict[str, float] = field(default_factory=dict)
    matching: float | None = None  # local >= ratio x (central + lottery)
    count: tuple[str, int | None, int | None] | None = None  # type, min, max
    west_share: float | None = None  # minimum share of central money going west

    def toml(self) -> str:
        lines = ['[data]', 'regions = "regions.csv"', 'projects = "projects.csv"', 'money_unit = "万元"']
        for key, welfare in TYPES.items():
            lines += [f"[types.{key}]", f"welfare = {str(welfare).lower()}"]
        for key, budget in self.budgets.items():
            lines += [f"[sources.{key}]", f'budget = "{budget}万"']
            if key in self.share_caps:
                lines.append(f"max_share_of_cost = {self.share_caps[key]}")
            if key == "lottery":
                lines.append("welfare_only = true")
            if key == "local" and self.matching is not None:
                lines.append(f"matching = {{ ratio = {self.matching}, of = {json.dumps([s for s in self.budgets if s != 'local'])} }}")
        if self.count:
            type_key, low, high = self.count
            lines += ["[targets.counts.chosen]", f'type = "{type_key}"']
            lines += [f"min = {low}"] * (low is not None) + [f"max = {high}"] * (high is not None)
        if self.west_share is not None:
            lines += ["[balance.shares.west]", 'source = "central"', 'zone = "west"', f"min = {self.west_share}"]
        lines += ["[objective]", 'sense = "max_benefit"', "benefit = { benefit = 1.0 }"]
        return "\n".join(lines) + "\n"

    def write(self, folder: Path) -> Path:
        write_table(folder / "regions.csv", self.regions)
        write_table(folder / "projects.csv", self.projects)
        (folder / "case.toml").write_text(self.toml(), encoding="utf-8")
        return folder / "case.toml"


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    zones = ["east", "west", *draw(st.lists(st.sampled_from(["east", "west"]), min_size=0, max_size=2))]
    regions = [{"region_id": f"R{i + 1}", "name": f"区{i + 1}", "province": draw(st.sampled_from(PROVINCES[zone])), "zone": zone}
               for i, zone in enumerate(zones)]
    projects = [
        {"project_id": f"P{i + 1:02d}", "region_id": draw(st.sampled_from(regions))["region_id"],
         "type": draw(st.sampled_from(list(TYPES))), "cost": draw(st.integers(10, 500)),
         "benefit": draw(st.floats(0, 50, allow_nan=False).map(lambda x: round(x, 2)))}
        for i in range(draw(st.integers(3, 15)))
    ]
    sources = ["central", *draw(st.sampled_from([[], ["lottery"], ["local"], ["lottery", "local"]]))]
    budgets = {key: draw(st.integers(0, 1500)) for key in sources}
    caps = st.none() | st.sampled_from([0.3, 0.5, 0.6, 0.8, 1.0])
    share_caps = {key: cap for key in sources if (cap := draw(caps)) is not None}
    matching = draw(st.none() | st.sampled_from([0.0, 0.5, 1.0, 1.5])) if "local" in sources else None
    count = None
    if draw(st.booleans()):
        low, high = draw(st.none() | st.integers(0, 4)), draw(st.none() | st.integers(1, 6))
        if low is not None or high is not None:
            count = (draw(st.sampled_from(list(TYPES))), low, high if low is None or high is None else max(low, high))
    west_share = draw(st.none() | st.sampled_from([0.1, 0.3, 0.5]))
    return Spec(regions, projects, budgets, share_caps, matching, count, west_share)


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_refused(result, *says: str) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1, result.output
    for expected in says:
        assert expected in result.output, result.output


#: Always tried: three centres wanted, one candidate.
INFEASIBLE = Spec(regions=[{"region_id": "R1", "name": "东区", "province": "甲省", "zone": "east"},
                           {"region_id": "R2", "name": "西区", "province": "丙省", "zone": "west"}],
                  projects=[{"project_id": "P01", "region_id": "R1", "type": "centre", "cost": 100, "benefit": 1.0},
                            {"project_id": "P02", "region_id": "R2", "type": "network", "cost": 100, "benefit": 1.0}],
                  budgets={"central": 500}, count=("centre", 3, None))


@SETTINGS
@given(specs())
@example(INFEASIBLE)
def test_a_random_scenario_keeps_every_rule_or_writes_no_allocation(spec):
    """Solved in-process (the CLI adds only reports, slow here); an infeasible one also through the CLI."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "case"
        folder.mkdir()
        scenario = load_scenario(spec.write(folder))
        try:
            result = solve(scenario, marginal="none")
        except SolveFailed:
            event("infeasible")
            out = Path(tmp) / "run"
            run = invoke("run", scenario.path, "--out", out)
            assert run.exit_code == 3, run.output
            assert not (out / "allocation.csv").exists()
            assert not any(p.name.startswith(".run.partial") for p in Path(tmp).iterdir())
            return
        event("solved")
        write_csv(result.allocation, folder / "allocation.csv")
        allocation = pd.read_csv(folder / "allocation.csv", encoding="utf-8-sig", dtype={"region_id": str})
    check_rules(spec, allocation)


def check_rules(spec: Spec, allocation: pd.DataFrame) -> None:
    sources = list(spec.budgets)
    projects = pd.DataFrame(spec.projects)
    assert allocation["project_id"].tolist() == projects["project_id"].tolist()
    assert (allocation["cost"] == projects["cost"]).all()
    assert set(allocation["selected"]) <= {0, 1}
    funded = allocation["selected"] == 1
    money = allocation[sources]
    assert (money.to_numpy() >= -TOL).all(), "negative money"
    # full funding or nothing
    total = money.sum(axis=1)
    assert ((total - allocation["cost"]).abs()[funded] <= close_enough(allocation["cost"].max())).all()
    assert (total[~funded].abs() <= TOL).all()
    # budgets
    for key, budget in spec.budgets.items():
        assert money[key].sum() <= budget + close_enough(budget), key
    # eligibility: lottery money only for welfare types
    if "lottery" in sources:
        welfare = allocation["type"].map(TYPES)
        assert (money.loc[~welfare, "lottery"] <= TOL).all()
    # share-of-cost caps
    for key, cap in spec.share_caps.items():
        assert (money[key] <= cap * allocation["cost"] + TOL).all(), key
    # matching
    if spec.matching is not None:
        others = money[[s for s in sources if s != "local"]].sum(axis=1)
        rounding = TOL * (1 + spec.matching * (len(sources) - 1))  # local down, each other source up by < 1 unit
        assert (money["local"] >= spec.matching * others - rounding - close_enough(others.max())).all()
    # counts
    if spec.count:
        type_key, low, high = spec.count
        chosen = int(allocation.loc[allocation["type"] == type_key, "selected"].sum())
        assert low is None or chosen >= low
        assert high is None or chosen <= high
    # regional balance: at least this share of central money goes west
    if spec.west_share is not None:
        central = money["central"]
        west = central[allocation["zone"] == "west"].sum()
        assert west >= spec.west_share * central.sum() - TOL * len(allocation) - close_enough(central.sum())


MONEY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


def toml_string(text: str) -> str:
    """`text` as a TOML basic string (control characters escaped; json.dumps would split astral ones into surrogates)."""
    escaped = "".join(f"\\u{ord(ch):04x}" if ch in '"\\' or ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in text)
    return f'"{escaped}"'


def maybe_money(text: str) -> bool:
    """Could this be read as an amount? Text without a digit never can."""
    return bool(re.search(r"\d", text))


@SETTINGS
@given(MONEY_TEXT)
def test_garbage_budget_is_refused_cleanly(text):
    assume(not maybe_money(text))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "case"
        shutil.copytree(CORPUS_BASE, folder)
        scenario = folder / "case.toml"
        scenario.write_text(scenario.read_text(encoding="utf-8").replace('budget = "600万"', f"budget = {toml_string(text)}"), encoding="utf-8")
        result = invoke("run", scenario, "--out", Path(tmp) / "run")
        assert_refused(result, "case.toml:24", "sources.central.budget")
        assert not (Path(tmp) / "run").exists()


@SETTINGS
@given(MONEY_TEXT, st.integers(2, 9))
def test_garbage_cost_is_refused_cleanly(text, row):
    assume(not maybe_money(text))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "case"
        shutil.copytree(CORPUS_BASE, folder)
        projects = pd.read_csv(folder / "projects.csv", dtype=str)
        projects.loc[row - 2, "cost"] = text
        projects.to_csv(folder / "projects.csv", index=False, encoding="utf-8")
        result = invoke("run", folder / "case.toml", "--out", Path(tmp) / "run")
        assert_refused(result, "projects.csv")
        assert not (Path(tmp) / "run").exists()


#: Tables of the base scenario and the keys each may hold.
KNOWN_KEYS = {
    "": {"name", "description", "extends", "data", "types", "sources", "targets", "balance", "objective", "model", "solver"},
    "[sources.central]": {"label", "budget", "min_spend", "types", "welfare_only", "zones", "max_share_of_cost",
                          "cap_per_project", "capacity", "matching"},
    "[types.centre]": {"label", "welfare"},
    "[data]": {"regions", "projects", "money_unit"},
    "[targets.counts.centres]": {"type", "zone", "min", "max"},
    "[objective]": {"sense", "benefit"},
}


@SETTINGS
@given(st.sampled_from(sorted(KNOWN_KEYS)), st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True),
       st.sampled_from(["1", '"x"', "true", "[1, 2]", "{ a = 1 }"]))
def test_unknown_key_is_refused_cleanly(table, key, value):
    assume(key not in KNOWN_KEYS[table])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "case"
        shutil.copytree(CORPUS_BASE, folder)
        scenario = folder / "case.toml"
        lines = scenario.read_text(encoding="utf-8").splitlines()
        at = lines.index(table) + 1 if table else next(i for i, line in enumerate(lines) if line.startswith("["))
        lines.insert(at, f"{key} = {value}")
        scenario.write_text("\n".join(lines) + "\n", encoding="utf-8")
        result = invoke("run", scenario, "--out", Path(tmp) / "run")
        assert_refused(result, f"case.toml:{at + 1}", f"unknown key '{key}'")
        assert not (Path(tmp) / "run").exists()


def test_the_same_scenario_gives_byte_identical_tables(tmp_path):
    for scenario in (CORPUS_BASE / "case.toml", ROOT / "scenarios" / "demo" / "demo.toml"):
        runs = [tmp_path / f"{scenario.stem}-{i}" for i in range(2)]
        for out in runs:
            assert invoke("run", scenario, "--out", out).exit_code == 0
        tables = sorted(p.name for p in runs[0].glob("*.csv"))
        assert "allocation.csv" in tables
        for name in tables:
            assert (runs[0] / name).read_bytes() == (runs[1] / name).read_bytes(), name

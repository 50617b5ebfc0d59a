"""Rules checked from allocation.csv and the scenario TOML alone: this file imports no model code.

The demo scenario is run through the CLI; every funded project's sources must add up to its cost,
each source may fund only its types, matching ratios and share caps hold, budgets and provincial
capacities are respected.
"""

import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scenarios" / "demo" / "demo.toml"


def wan(text):
    """Just enough money parsing for the demo's own amounts."""
    text = str(text).lstrip("¥")
    for unit, factor in (("亿", 10_000.0), ("万", 1.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text) / 10_000


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "run"
    completed = subprocess.run([sys.executable, "-m", "allocator", "run", str(DEMO), "--out", str(out)],
                               capture_output=True, text=True, encoding="utf-8")
    assert completed.returncode == 0, completed.stderr
    allocation = pd.read_csv(out / "allocation.csv", encoding="utf-8-sig", dtype={"region_id": str})
    scenario = tomllib.loads(DEMO.read_text(encoding="utf-8"))
    return allocation, scenario, out


def test_csv_has_a_bom_and_every_candidate(run):
    allocation, _, out = run
    assert (out / "allocation.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    projects = pd.read_csv(DEMO.parent / "projects.csv")
    assert sorted(allocation["project_id"]) == sorted(projects["project_id"])
    assert set(allocation["selected"]) <= {0, 1}
    assert 0 < allocation["selected"].sum() < len(allocation), "the demo should force a choice"


def test_sources_add_up_and_only_fund_what_they_may(run):
    allocation, scenario, _ = run
    sources = list(scenario["sources"])
    funded = allocation[allocation["selected"] == 1]
    assert (funded[sources].sum(axis=1) - funded["cost"]).abs().max() < 1e-4
    unfunded = allocation[allocation["selected"] == 0]
    assert (unfunded[sources].abs().to_numpy() < 1e-9).all()
    welfare = {key for key, t in scenario["types"].items() if t.get("welfare")}
    assert (allocation.loc[~allocation["type"].isin(welfare), "lottery"] < 1e-6).all()


def test_caps_matching_and_budgets_hold(run):
    allocation, scenario, _ = run
    funded = allocation[allocation["selected"] == 1]
    for key, source in scenario["sources"].items():
        assert funded[key].sum() <= wan(source["budget"]) + 1e-3, key
        if "max_share_of_cost" in source:
            assert (funded[key] <= source["max_share_of_cost"] * funded["cost"] + 1e-4).all(), key
    ratio = funded["zone"].map(scenario["sources"]["local"]["matching"]["ratio"])
    assert (funded["local"] >= ratio * (funded["central"] + funded["lottery"]) - 1e-4).all()
    regions = pd.read_csv(DEMO.parent / "regions.csv")
    capacity = regions.groupby("province")["local_capacity"].sum()  # the demo's tables are in 万元
    spent = funded.groupby("province")["local"].sum()
    assert (spent <= capacity.reindex(spent.index) + 1e-3).all()
    central = funded["central"]
    assert central[funded["zone"].isin(["central", "west"])].sum() >= 0.6 * central.sum() - 1e-3
    assert (funded["type"] == "centre").sum() >= scenario["targets"]["counts"]["centres"]["min"]

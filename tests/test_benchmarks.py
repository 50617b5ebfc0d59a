"""benchmarks/run.py's result table and benchmarks/generate.py's rule variants (no benchmark is run here)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from allocator.data import load_data
from allocator.rules import Rules
from allocator.scenario_toml import load_scenario

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.generate import VARIANTS, generate  # noqa: E402
from benchmarks.run import ENGINE, REFERENCE, speedup, speedups, table  # noqa: E402

ENGINE_RUN = {"formulation": ENGINE, "variant": "base", "candidates": 20000, "exit": 0, "wall_s": 8.0, "peak_rss_mib": 160.0,
              "load_before": 1.0, "load_after": 1.2, "status": "optimal", "objective": 862009473.0, "mip_gap": 2.6e-5,
              "seconds": {"read_and_validate": 0.2, "build": 0.05, "solve": 0.5, "recover_and_verify": 0.1, "write": 0.4,
                          "reports": 3.0},
              "model_size": {"rows": 415, "columns": 20252}}
# What reference_model.py prints when HiGHS stops without an allocation: exit 0, objective None.
NO_SOLUTION = {"formulation": REFERENCE, "variant": "base", "candidates": 20000, "exit": 0, "wall_s": 61.0, "peak_rss_mib": 330.0,
               "load_before": 1.1, "load_after": 1.3, "status": "no_solution", "objective": None, "mip_gap": None, "dual_bound": None,
               "seconds": {"read_and_validate": 0.1, "build": 0.06, "solve": 60.0}}
KILLED = {"formulation": ENGINE, "variant": "project_caps", "candidates": 20000, "exit": "timeout", "wall_s": 300.0,
          "peak_rss_mib": None, "load_before": 1.0, "load_after": 2.0}


def test_a_reference_without_a_solution_has_no_speedup_and_still_makes_a_table():
    assert speedup(ENGINE_RUN, NO_SOLUTION) is None
    assert speedups([ENGINE_RUN, NO_SOLUTION, KILLED], [20000]) == {}
    lines = table([ENGINE_RUN, NO_SOLUTION, KILLED]).splitlines()
    assert len(lines) == 5
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    column = dict(zip(cells[0], zip(*cells[2:], strict=True), strict=True))
    assert column["status"] == ("optimal", "no_solution", "no manifest")
    assert column["objective"] == ("862,009,473", "–", "–")
    assert column["proven gap"] == ("2.6e-05", "–", "–")
    assert column["other s"] == ("3.00", "0.00", "–")
    # Ratios to the base engine run of the same size: 60 / 0.5 and 300 / 8.
    assert column["solve ×base"] == ("1.0", "120.0", "–")
    assert column["end to end ×base"] == ("1.0", "7.6", "37.5")
    assert column["end to end s"][2] == "300.0 (exit timeout)"
    assert column["rows × cols"] == ("415 × 20,252", "–", "–")
    assert column["peak RSS MiB"] == ("160", "330", "–") and column["all processes MiB"] == ("–", "–", "–")


def test_the_memory_of_a_run_sums_every_process_it_starts():
    # A parent holding ~40 MiB starts a child holding ~80 MiB: /usr/bin/time sees the larger, the sampler both.
    from benchmarks.run import timed_child

    script = ("import subprocess, sys, time; block = bytearray(40 << 20); "
              "subprocess.run([sys.executable, '-c', 'import time; block = bytearray(80 << 20); time.sleep(1.5)'])")
    record = timed_child([sys.executable, "-c", script], timeout=60)
    assert record["exit"] == 0
    assert 80 <= record["peak_rss_mib"] < 120  # the child's, not the sum
    assert record["peak_rss_all_mib"] >= 120  # both at once


def test_a_speedup_when_both_solved():
    reference = {**NO_SOLUTION, "status": "optimal", "objective": 862009473.0 * (1 - 1e-6),
                 "seconds": {"read_and_validate": 0.1, "build": 0.05, "solve": 50.0}}
    found = speedup(ENGINE_RUN, reference)
    assert found is not None
    assert found["solve"] == 100.0
    assert found["build_plus_solve"] == round(50.05 / 0.55, 1)
    assert found["objective_relative_difference"] == pytest.approx(1e-6)


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("generated")
    return {variant: generate(600, 0, out, variant=variant) for variant in ("base", *VARIANTS)}


def test_variants_share_the_tables_and_change_only_their_rules(variants: dict[str, Path]):
    assert len({path.parent for path in variants.values()}) == 1
    base = load_scenario(variants["base"])
    pooled = load_scenario(variants["county_pooling"])
    assert base.sources["local"].capacity.by == "province" and pooled.sources["local"].capacity.by == "region"
    phased = load_scenario(variants["phasing"])
    assert (phased.phasing.years, phased.phasing.duration) == ((2006, 2007, 2008, 2009, 2010), 2)
    hard = load_scenario(variants["hard_targets"])
    assert hard.indicators.keys() == base.indicators.keys()
    assert all(i.hard and i.scope == "province" for i in hard.indicators.values())
    assert not any(i.hard for i in base.indicators.values())
    for key, count in hard.counts.items():
        base_count = base.counts[key]
        middle = (base_count.min + base_count.max) / 2
        assert middle * 0.995 <= count.min <= count.max <= max(middle * 1.005, count.min)
        assert count.min - middle * 0.995 < 1


def test_project_caps_are_below_every_cost(variants: dict[str, Path]):
    scenario = load_scenario(variants["project_caps"])
    rules = Rules(scenario, load_data(scenario))
    cost = rules.data.projects["cost"].to_numpy()
    central = list(scenario.sources).index("central")
    assert np.all(rules.absolute_caps[:, central] < cost)
    assert np.isinf(np.delete(rules.absolute_caps, central, axis=1)).all()


def test_generation_is_deterministic(tmp_path: Path, variants: dict[str, Path]):
    again = generate(600, 0, tmp_path, variant="project_caps")
    for name in ("projects.csv.gz", "regions.csv.gz", "scenario_project_caps.toml"):
        assert (again.parent / name).read_bytes() == (variants["project_caps"].parent / name).read_bytes()

"""Tests for the shipped seed-scenario data (scenarios/data/) and its generator."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "scenarios" / "data"
SHARED = REPO / ".." / "shared" / "data"
SCENARIOS = ["eleventh_plan_national", "shandong_12th_plan", "zhejiang_2008", "rural_14th_plan"]
TYPES = {"centre", "station", "network", "rural"}
MAX_SHIPPED_BYTES = 1_500_000


def load_generator():
    """Import tools/build_demo_data.py as a module."""
    spec = importlib.util.spec_from_file_location("build_demo_data",
                                                  REPO / "tools" / "build_demo_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def regions() -> pd.DataFrame:
    return pd.read_csv(DATA / "regions.csv.gz", dtype={"region_id": str})


@pytest.fixture(scope="module")
def projects() -> dict[str, pd.DataFrame]:
    return {s: pd.read_csv(DATA / f"{s}_projects.csv.gz",
                           dtype={"region_id": str, "project_id": str})
            for s in SCENARIOS}


def province(regions: pd.DataFrame, name: str) -> pd.DataFrame:
    return regions[regions["province"] == name]


# --- (a) reproducibility ---------------------------------------------------

@pytest.mark.skipif(not (SHARED / "counties_2020.csv").exists(),
                    reason="reference data ../shared/data is absent; cannot regenerate")
def test_generator_reproduces_shipped_files_byte_for_byte(tmp_path: Path) -> None:
    load_generator().main([str(SHARED), "--out", str(tmp_path), "--quiet"])
    shipped = sorted(p.name for p in DATA.glob("*.csv.gz"))
    rebuilt = sorted(p.name for p in tmp_path.glob("*.csv.gz"))
    assert rebuilt == shipped
    for name in shipped:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_shipped_files_are_small() -> None:
    total = sum(p.stat().st_size for p in DATA.glob("*.csv.gz"))
    assert 0 < total < MAX_SHIPPED_BYTES


# --- (b) calibrated totals -------------------------------------------------

def test_one_row_per_census_county(regions: pd.DataFrame) -> None:
    assert len(regions) == 2948
    assert regions["region_id"].is_unique
    assert regions["region_id"].str.fullmatch(r"\d{6}").all()
    assert set(regions["zone"]) == {"east", "central", "west"}


@pytest.mark.parametrize("column, total", [
    ("urban_communities", 100_000),
    ("villages", 500_000),
    ("centres_2005", 8_479),
    ("facilities_2005", 194_796),
    ("it_communities_2005", 20_000),
    ("villages_with_facility_2020", 328_500),  # 65.7% of 500,000
    ("local_capacity", 220_000),
])
def test_national_totals(regions: pd.DataFrame, column: str, total: int) -> None:
    assert regions[column].sum() == total


@pytest.mark.parametrize("column, total", [
    ("centres_2010", 472), ("stations_2010", 5_594), ("communities_2010", 5_520),
    ("service_area_2010_m2", 455 * 5_520),
])
def test_shandong_totals_and_nowhere_else(regions: pd.DataFrame, column: str, total: int) -> None:
    assert province(regions, "山东省")[column].sum() == total
    assert regions[column].sum() == total


@pytest.mark.parametrize("column, total", [
    ("communities_below_350", 1_128), ("streets_without_centre", 130),
])
def test_zhejiang_totals_and_nowhere_else(regions: pd.DataFrame, column: str, total: int) -> None:
    assert province(regions, "浙江省")[column].sum() == total
    assert regions[column].sum() == total


def test_zhejiang_share_below_350(regions: pd.DataFrame) -> None:
    zj = province(regions, "浙江省")
    assert zj["communities_below_350"].sum() / zj["communities_2006"].sum() == pytest.approx(0.405, abs=5e-4)


def test_local_capacity_above_matching_need(regions: pd.DataFrame) -> None:
    assert regions["local_capacity"].sum() > 145_000
    by_zone = regions.groupby("zone")["local_capacity"].sum()
    assert by_zone["west"] < by_zone["central"] < by_zone["east"]


def test_service_area_below_target(regions: pd.DataFrame) -> None:
    per_100_hh = 100 * regions["service_area_2005_m2"].sum() / regions["urban_households"].sum()
    assert 5 < per_100_hh < 20


def test_rural_coverage_east_ahead_of_west(regions: pd.DataFrame) -> None:
    g = regions.groupby("zone")[["villages_with_facility_2020", "villages"]].sum()
    coverage = g["villages_with_facility_2020"] / g["villages"]
    assert coverage["east"] > coverage["central"] > coverage["west"]


def test_baselines_within_their_denominators(regions: pd.DataFrame) -> None:
    assert (regions["centres_2005"] <= regions["street_offices"]).all()
    assert (regions["centres_2010"] <= regions["street_offices"]).all()
    assert (regions["streets_without_centre"] <= regions["street_offices"]).all()
    assert (regions["it_communities_2005"] <= regions["urban_communities"]).all()
    assert (regions["facilities_2005"] >= regions["centres_2005"]).all()
    assert (regions["villages_with_facility_2020"] <= regions["villages"]).all()
    assert (regions["communities_below_350"] <= regions["communities_2006"]).all()
    assert (regions["urban_communities"] >= regions["street_offices"]).all()
    numeric = regions.select_dtypes("number")
    assert (numeric >= 0).all().all()


# --- (c) project tables ----------------------------------------------------

@pytest.mark.parametrize("scenario", SCENARIOS)
def test_projects_are_well_formed(scenario: str, projects, regions) -> None:
    p = projects[scenario]
    assert len(p) > 0
    assert p["project_id"].is_unique
    assert p["region_id"].isin(set(regions["region_id"])).all()
    assert (p["cost"] > 0).all()
    assert set(p["type"]) <= TYPES
    assert p["priority"].between(0, 100).all()
    assert p["name"].str.len().gt(0).all()


def test_national_candidates_exceed_what_the_money_buys(projects) -> None:
    p = projects["eleventh_plan_national"]
    counts = p["type"].value_counts()
    assert counts["centre"] > 500 and counts["station"] >= 1.6 * 2_400 and counts["network"] >= 160
    assert p["cost"].sum() > 218_000
    mix = 500 * p.groupby("type")["cost"].mean()
    mix = mix["centre"] + 2_400 / 500 * mix["station"] + 100 / 500 * mix["network"]
    assert mix == pytest.approx(218_000, rel=0.10)


def test_national_centres_sit_at_streets_lacking_one(projects, regions) -> None:
    centres = projects["eleventh_plan_national"].query("type == 'centre'")
    lacking = (regions["street_offices"] - regions["centres_2005"]).set_axis(regions["region_id"])
    per_region = centres["region_id"].value_counts()
    assert per_region.sum() == lacking.sum()
    assert (per_region == lacking[per_region.index]).all()
    assert centres["project_id"].str.fullmatch(r"C-\d{9}").all()
    assert (centres["area_m2"] >= 1_000).all()


def test_provincial_tables_stay_in_province(projects, regions) -> None:
    prov = regions.set_index("region_id")["province"]
    assert (projects["shandong_12th_plan"]["region_id"].map(prov) == "山东省").all()
    assert (projects["zhejiang_2008"]["region_id"].map(prov) == "浙江省").all()


def test_zhejiang_candidates_match_the_gaps(projects, regions) -> None:
    p = projects["zhejiang_2008"]
    zj = province(regions, "浙江省")
    assert (p["type"] == "centre").sum() == 130
    assert (p["closes_gap"] > 0).sum() == 1_128
    assert p["closes_gap"].sum() == zj["gap_below_350_m2"].sum()


def test_shandong_centres_close_the_street_gap(projects, regions) -> None:
    sd = province(regions, "山东省")
    centres = projects["shandong_12th_plan"].query("type == 'centre'")
    assert len(centres) == sd["street_offices"].sum() - 472 == regions["streets_without_centre_2010"].sum()
    assert (centres["area_m2"] >= 1_000).all()
    stations = projects["shandong_12th_plan"].query("type == 'station'")
    assert (stations["area_m2"] >= 300).all()


def test_rural_candidates_cover_the_uncovered_villages(projects, regions) -> None:
    p = projects["rural_14th_plan"]
    assert len(p) <= 20_000
    assert set(p["type"]) == {"rural"}
    uncovered = (regions["villages"] - regions["villages_with_facility_2020"]).sum()
    assert p["adds_rural_facility"].sum() == uncovered
    needed_for_80pct = 0.80 * regions["villages"].sum() - regions["villages_with_facility_2020"].sum()
    assert p["adds_rural_facility"].sum() > needed_for_80pct


# --- the apportioning helper ----------------------------------------------

def test_apportion_preserves_total_and_bounds() -> None:
    apportion = load_generator().apportion
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 40))
        w = rng.random(n) * (rng.random(n) > 0.2)
        caps = rng.integers(0, 50, n)
        floors = np.minimum(rng.integers(0, 5, n), caps)
        total = int(rng.integers(floors.sum(), caps.sum() + 1))
        out = apportion(total, w, caps=caps, floors=floors)
        assert out.sum() == total
        assert (out <= caps).all() and (out >= floors).all()
    assert list(apportion(10, np.array([1.0, 1.0, 2.0]))) == [2, 3, 5] or \
        list(apportion(10, np.array([1.0, 1.0, 2.0]))) == [3, 2, 5]
    with pytest.raises(ValueError):
        apportion(10, np.ones(3), caps=np.array([1, 1, 1]))

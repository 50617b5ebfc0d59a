#!/usr/bin/env python3
"""Build the seed-scenario data tables under scenarios/data/.

Reads the public reference data (census 2020 counties, 2023 township-level
division codes) from ``../shared/data`` and writes:

* ``regions.csv.gz``: one row per county with census columns and ESTIMATED
  baselines calibrated to the published totals in docs (see docs/data.md);
* ``<scenario>_projects.csv.gz``: one candidate-project table per seed scenario.

The script is deterministic: every random draw comes from a numpy Generator
seeded from ``SEED`` and the scenario name, and gzip is written with mtime=0,
so re-running it reproduces the shipped files byte for byte.

Usage: python tools/build_demo_data.py [SHARED_DATA_DIR] [--out OUT_DIR]
"""

from __future__ import annotations

import argparse
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED_DATA = REPO_ROOT / ".." / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "scenarios" / "data"
SEED = 20060101
ZONES = ("east", "central", "west")

# ---------------------------------------------------------------------------
# Published totals (docs/DOMAIN digest of the seed documents)
# ---------------------------------------------------------------------------
CENTRES_2005_TOTAL = 8_479  # street community-service centres, end of 10th plan
FACILITIES_2005_TOTAL = 194_796  # all community-service facilities, end of 10th plan
SD_CENTRES_2010_TOTAL = 472  # Shandong street centres, 2010
SD_STATIONS_2010_TOTAL = 5_594  # Shandong community service stations, 2010
SD_COMMUNITIES_2010_TOTAL = 5_520  # Shandong urban communities, 2010
SD_AREA_PER_COMMUNITY_2010_M2 = 455  # Shandong average service floor area, 2010
ZJ_BELOW_350_TOTAL = 1_128  # Zhejiang communities with rooms < 350 m2 (2006)
ZJ_BELOW_350_SHARE = 0.405  # ... = 40.5% of all Zhejiang communities
ZJ_STREETS_WITHOUT_CENTRE_TOTAL = 130  # Zhejiang streets without a centre
ZJ_ROOM_TARGET_M2 = 350  # Zhejiang target floor area per community
ZJ_SPECIAL_FUND_WAN = 2_615  # provincial special funds for rooms in less-developed areas, 万元
RURAL_COVERAGE_2020 = 0.657  # rural comprehensive-facility coverage, end 2020

# ---------------------------------------------------------------------------
# Calibration targets for ESTIMATED columns (our choices, not official)
# ---------------------------------------------------------------------------
URBAN_COMMUNITIES_TOTAL = 100_000  # "about 100,000 urban communities" (2015)
VILLAGES_TOTAL = 500_000  # villages (村委会), order of magnitude of the 2010s
IT_SHARE_2005 = 0.20  # share of urban communities with modern IT means, 2005
SERVICE_AREA_2005_M2_PER_100_HH = 12.0  # national, below the 20 m2 target
SD_IT_SHARE_2010 = 0.50  # Shandong communities with modern IT means, 2010
SD_BELOW_300_SHARE_2010 = 0.25  # Shandong communities without a >= 300 m2 station
LOCAL_CAPACITY_TOTAL_WAN = 220_000  # local matching capacity, 万元 (> 145,000)

# Relative zone factors used by the estimation rules (east, central, west).
ZONE_CENTRE_GAP_FACTOR = {"east": 0.5, "central": 1.0, "west": 1.5}
ZONE_FACILITY_FACTOR = {"east": 1.2, "central": 1.0, "west": 0.8}
ZONE_IT_FACTOR = {"east": 1.4, "central": 0.9, "west": 0.6}
ZONE_AREA_FACTOR = {"east": 1.25, "central": 1.0, "west": 0.75}
ZONE_RURAL_COVERAGE_FACTOR = {"east": 1.2, "central": 1.0, "west": 0.8}
ZONE_CAPACITY_FACTOR = {"east": 1.6, "central": 1.0, "west": 0.6}
ZONE_STATION_NEED_FACTOR = {"east": 0.7, "central": 1.0, "west": 1.3}
ZONE_NEED_SCORE = {"east": 0.0, "central": 0.5, "west": 1.0}

# ---------------------------------------------------------------------------
# Unit costs (万元, prices of the 11th plan, 2006-2010). Modelling assumptions
# sized so that the 11th-plan mix (500 centres, 2,400 stations, 100 networks)
# costs about 21.8亿 = 218,000万; see check_national_cost_mix().
# ---------------------------------------------------------------------------
CONSTRUCTION_WAN_PER_M2 = {"east": 0.13, "central": 0.115, "west": 0.105}  # urban
RURAL_CONSTRUCTION_WAN_PER_M2 = {"east": 0.12, "central": 0.10, "west": 0.09}
CENTRE_EQUIPMENT_WAN = 35.0  # furniture, IT and service equipment per centre
STATION_EQUIPMENT_WAN = 6.0  # per community station
ROOM_UPGRADE_EQUIPMENT_WAN = 3.0  # per upgraded community room (Zhejiang)
RURAL_EQUIPMENT_WAN_PER_VILLAGE = 5.0
NETWORK_BASE_WAN = 80.0  # platform, servers, software per network
NETWORK_WAN_PER_COMMUNITY = 0.5  # terminals and links per connected community
NETWORK_MAX_COMMUNITIES = 400  # a network connects at most this many communities
CENTRE_AREA_M2 = (1_000, 1_300)  # uniform draw; standard: street centre >= 1,000 m2
STATION_AREA_M2 = (300, 360)  # standard: station >= 300 m2 per community
RURAL_AREA_M2_PER_VILLAGE = (120, 250)
COST_NOISE_SIGMA = 0.10  # lognormal multiplicative noise, clipped to +-25%
# Price level of each scenario relative to the 11th plan (our assumption).
PRICE_INDEX = {
    "eleventh_plan_national": 1.00,
    "zhejiang_2008": 1.10,
    "shandong_12th_plan": 1.35,
    "rural_14th_plan": 1.60,
}

# Candidate counts (about 1.6-2x what the budget buys).
NATIONAL_STATION_CANDIDATES = 4_400  # vs ~2,400 funded
NATIONAL_NETWORK_CANDIDATES = 180  # vs ~100 funded
RURAL_BATCH_VILLAGES = 20  # villages per rural candidate project

# 2020 county codes that changed by 2023: census code -> 2023 division code.
# Found by matching names within the province (横县 -> 横州市 by hand). Their
# township-level units are counted and used under the census code.
CODE_2020_TO_2023 = {
    "170971": "140971", "320571": "320576", "340171": "340176",
    "340172": "340177", "340173": "340178", "350403": "350404",
    "350427": "350405", "350625": "350605", "350681": "350604",
    "370171": "370176", "370672": "370676", "410322": "410308",
    "410381": "410307", "431121": "431181", "450127": "450181",
    "513425": "513402", "520522": "520581", "532331": "532302",
    "540422": "540481", "540530": "540581", "610322": "610305",
    "610928": "610981", "654223": "654203", "620200": "620201",
}
ZJ_LESS_DEVELOPED_CITIES = ("丽水市", "衢州市")
ZJ_LESS_DEVELOPED_MAX_URBAN_SHARE = 0.55


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def rng_for(name: str) -> np.random.Generator:
    """A Generator seeded from SEED and a stable hash of ``name``."""
    return np.random.default_rng([SEED, zlib.crc32(name.encode("utf-8"))])


def apportion(
    total: int,
    weights: np.ndarray,
    caps: np.ndarray | None = None,
    floors: np.ndarray | None = None,
) -> np.ndarray:
    """Split integer ``total`` in proportion to ``weights`` (largest remainder).

    Optional ``floors``/``caps`` bound each share: a share that would fall
    outside its bounds is fixed at the bound and the rest is re-split among
    the others in proportion to their weights. The result sums to ``total``.
    """
    w = np.asarray(weights, dtype=float)
    n = len(w)
    lo = np.zeros(n, dtype=np.int64) if floors is None else np.asarray(floors, dtype=np.int64)
    hi = np.full(n, total, dtype=np.int64) if caps is None else np.asarray(caps, dtype=np.int64)
    if lo.sum() > total or hi.sum() < total or np.any(lo > hi):
        raise ValueError("apportion: infeasible floors/caps for total")
    share = np.zeros(n)
    fixed = np.zeros(n, dtype=bool)
    while True:
        rest = total - share[fixed].sum()
        wf = np.where(fixed, 0.0, w)
        if wf.sum() <= 0:  # no weight left: spread evenly over the free entries
            wf = np.where(fixed, 0.0, 1.0)
        share = np.where(fixed, share, rest * wf / wf.sum())
        below, above = ~fixed & (share < lo), ~fixed & (share > hi)
        if not (below.any() or above.any()):
            break
        # fix the side with the larger violation first, so the loop converges
        if (lo - share)[below].sum() >= (share - hi)[above].sum():
            share[below], fixed[below] = lo[below], True
        else:
            share[above], fixed[above] = hi[above], True
    base = np.clip(np.floor(share + 1e-9).astype(np.int64), lo, hi)
    short = int(total - base.sum())
    frac = np.where(base < hi, share - base, -np.inf)
    order = np.argsort(-frac, kind="stable")
    base[order[:short]] += 1
    assert base.sum() == total and np.all(base <= hi) and np.all(base >= lo)
    return base


def zone_factor(zones: pd.Series, factors: dict[str, float]) -> np.ndarray:
    """Map a zone column to a float array of factors."""
    return zones.map(factors).to_numpy(dtype=float)


def cost_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Multiplicative lognormal cost noise, clipped to [0.75, 1.25]."""
    return np.clip(rng.lognormal(0.0, COST_NOISE_SIGMA, n), 0.75, 1.25)


def pct_rank(values: pd.Series | np.ndarray) -> np.ndarray:
    """Percentile rank in [0, 1] (average rank for ties)."""
    s = pd.Series(np.asarray(values, dtype=float))
    return ((s.rank(method="average") - 1) / max(len(s) - 1, 1)).to_numpy()


def write_csv_gz(df: pd.DataFrame, path: Path) -> None:
    """Write a UTF-8 CSV with byte-deterministic gzip (mtime=0)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, encoding="utf-8", lineterminator="\n",
              compression={"method": "gzip", "mtime": 0, "compresslevel": 9})


# ---------------------------------------------------------------------------
# Reading the reference data
# ---------------------------------------------------------------------------
def read_counties(shared: Path) -> pd.DataFrame:
    """Census 2020 counties with code as text."""
    return pd.read_csv(shared / "counties_2020.csv", dtype={"county_code": str},
                       encoding="utf-8")


def read_units(shared: Path, region_ids: pd.Series) -> pd.DataFrame:
    """2023 township-level units mapped to census county codes (region_id).

    Units whose 2023 county code is not in the census table and not in
    CODE_2020_TO_2023 (development zones, merged districts) are dropped here;
    build_regions() reports how many.
    """
    units = pd.read_csv(shared / "townships_2023.csv", dtype=str, encoding="utf-8")
    back = {v: k for k, v in CODE_2020_TO_2023.items()}
    units["region_id"] = units["county_code"].map(lambda c: back.get(c, c))
    units = units[units["region_id"].isin(set(region_ids))]
    return units.sort_values("division_code").reset_index(drop=True)


# ---------------------------------------------------------------------------
# Regions: census columns
# ---------------------------------------------------------------------------
def base_regions(counties: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """Census columns plus township-level counts (repaired for renamed codes)."""
    r = pd.DataFrame({
        "region_id": counties["county_code"],
        "name": counties["county_name"],
        "city": counties["city_name"],
        "province": counties["province_name"],
        "zone": counties["zone"],
        "population": counties["population"],
        "urban_population": counties["urban_population"],
        "rural_population": counties["rural_population"],
        "households": counties["households"],
        "share_65plus_pct": counties["share_65plus_pct"],
    })
    urban_share = r["urban_population"] / r["population"]
    r["urban_households"] = (r["households"] * urban_share).round().astype("int64")
    counts = (units.pivot_table(index="region_id", columns="kind", values="division_code",
                                aggfunc="count", fill_value=0)
              .reindex(columns=["street", "town", "township"], fill_value=0))
    for col, kind in (("street_offices", "street"), ("towns", "town"),
                      ("townships", "township")):
        census = counties[col].to_numpy()
        from_units = r["region_id"].map(counts[kind]).fillna(0).astype("int64").to_numpy()
        remapped = r["region_id"].isin(CODE_2020_TO_2023.keys()).to_numpy()
        mismatch = (~remapped) & (census != from_units)
        if mismatch.any():
            raise ValueError(f"{col}: census counts differ from 2023 units")
        r[col] = np.where(remapped, from_units, census).astype("int64")
    return r


# ---------------------------------------------------------------------------
# Regions: estimated national columns
# ---------------------------------------------------------------------------
def add_national_estimates(r: pd.DataFrame) -> pd.DataFrame:
    """urban_communities, villages and the 2005 baselines (estimates)."""
    zones = r["zone"]
    streets = r["street_offices"].to_numpy()
    # At least one community per street office, and one in any county with urban residents.
    has_urban = (r["urban_households"] > 0).to_numpy().astype(np.int64)
    r["urban_communities"] = apportion(
        URBAN_COMMUNITIES_TOTAL, r["urban_households"], floors=np.maximum(streets, has_urban))
    rural = r["rural_population"].to_numpy(dtype=float)
    rural_units = (r["towns"] + r["townships"]).to_numpy(dtype=float)
    w_vill = 0.5 * rural / rural.sum() + 0.5 * rural_units / rural_units.sum()
    r["villages"] = apportion(VILLAGES_TOTAL, np.where(rural > 0, w_vill, 0.0))
    # Streets lacking a centre in 2005: the gap is spread over streets with a
    # zone factor (west lags), so centres = streets - gap.
    gap_total = int(streets.sum()) - CENTRES_2005_TOTAL
    gap = apportion(gap_total, streets * zone_factor(zones, ZONE_CENTRE_GAP_FACTOR),
                    caps=streets)
    r["centres_2005"] = streets - gap
    r["facilities_2005"] = apportion(
        FACILITIES_2005_TOTAL,
        r["urban_population"] * zone_factor(zones, ZONE_FACILITY_FACTOR),
        floors=r["centres_2005"].to_numpy())
    r["it_communities_2005"] = apportion(
        round(IT_SHARE_2005 * URBAN_COMMUNITIES_TOTAL),
        r["urban_communities"] * zone_factor(zones, ZONE_IT_FACTOR),
        caps=r["urban_communities"].to_numpy())
    area_total = round(SERVICE_AREA_2005_M2_PER_100_HH / 100 * r["urban_households"].sum())
    r["service_area_2005_m2"] = apportion(
        area_total, r["urban_households"] * zone_factor(zones, ZONE_AREA_FACTOR))
    return r


def add_rural_and_capacity(r: pd.DataFrame) -> pd.DataFrame:
    """villages_with_facility_2020, local_capacity and the need score."""
    zones = r["zone"]
    rural_units = (r["towns"] + r["townships"]).to_numpy(dtype=float)
    township_share = np.divide(r["townships"].to_numpy(dtype=float), rural_units,
                               out=np.zeros(len(r)), where=rural_units > 0)
    # Coverage weight: zone factor x (1 - 0.4 x share of 乡 among 镇+乡), a
    # proxy for remote/mountain areas; villages covered ∝ villages x weight.
    weight = zone_factor(zones, ZONE_RURAL_COVERAGE_FACTOR) * (1 - 0.4 * township_share)
    villages = r["villages"].to_numpy()
    r["villages_with_facility_2020"] = apportion(
        round(RURAL_COVERAGE_2020 * VILLAGES_TOTAL), villages * weight,
        caps=np.floor(0.98 * villages).astype(np.int64))
    r["local_capacity"] = apportion(
        LOCAL_CAPACITY_TOTAL_WAN, r["population"] * zone_factor(zones, ZONE_CAPACITY_FACTOR))
    fac_per_10k = r["facilities_2005"] / (r["urban_population"] / 1e4)
    urban_share = r["urban_population"] / r["population"]
    r["need_score"] = np.round(
        40 * zone_factor(zones, ZONE_NEED_SCORE)
        + 30 * (1 - urban_share.to_numpy())
        + 30 * (1 - pct_rank(fac_per_10k)), 1)
    return r


# ---------------------------------------------------------------------------
# Regions: provincial baselines
# ---------------------------------------------------------------------------
def add_shandong_2010(r: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Shandong 2010 baselines (estimates, calibrated to provincial totals)."""
    sd = (r["province"] == "山东省").to_numpy()
    streets = r["street_offices"].to_numpy()
    urban_share = (r["urban_population"] / r["population"]).to_numpy()
    cols = {c: np.zeros(len(r), dtype=np.int64) for c in (
        "centres_2010", "streets_without_centre_2010", "stations_2010", "communities_2010",
        "it_communities_2010", "communities_below_300_2010", "service_area_2010_m2")}
    comm = apportion(SD_COMMUNITIES_2010_TOTAL, r.loc[sd, "urban_households"],
                     floors=streets[sd])
    gap = apportion(int(streets[sd].sum()) - SD_CENTRES_2010_TOTAL,
                    streets[sd] * (2 - urban_share[sd]), caps=streets[sd])
    stations = apportion(SD_STATIONS_2010_TOTAL,
                         comm * rng.lognormal(0.0, 0.25, sd.sum()))
    area = apportion(SD_AREA_PER_COMMUNITY_2010_M2 * SD_COMMUNITIES_2010_TOTAL,
                     comm * rng.lognormal(0.0, 0.2, sd.sum()))
    avg_area = np.divide(area, comm, out=np.full(len(comm), float(SD_AREA_PER_COMMUNITY_2010_M2)),
                         where=comm > 0)
    below = apportion(round(SD_BELOW_300_SHARE_2010 * SD_COMMUNITIES_2010_TOTAL),
                      comm * SD_AREA_PER_COMMUNITY_2010_M2 / avg_area, caps=comm)
    it = apportion(round(SD_IT_SHARE_2010 * SD_COMMUNITIES_2010_TOTAL),
                   comm * urban_share[sd], caps=comm)
    for col, values in (("centres_2010", streets[sd] - gap),
                        ("streets_without_centre_2010", gap), ("stations_2010", stations),
                        ("communities_2010", comm), ("it_communities_2010", it),
                        ("communities_below_300_2010", below),
                        ("service_area_2010_m2", area)):
        cols[col][sd] = values
    for col, values in cols.items():
        r[col] = values
    return r


def zhejiang_less_developed(r: pd.DataFrame) -> np.ndarray:
    """Proxy flag for Zhejiang's less-developed counties (not an official list)."""
    zj = (r["province"] == "浙江省").to_numpy()
    urban_share = (r["urban_population"] / r["population"]).to_numpy()
    flag = r["city"].isin(ZJ_LESS_DEVELOPED_CITIES).to_numpy() | (
        urban_share < ZJ_LESS_DEVELOPED_MAX_URBAN_SHARE)
    return (zj & flag).astype(np.int64)


def add_zhejiang_2006(r: pd.DataFrame,
                      rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Zhejiang 2006 baselines (estimates) and the rooms below 350 m2.

    Returns the regions table and one row per community below 350 m2
    (region_id, current room area) for the Zhejiang project table.
    """
    zj = (r["province"] == "浙江省").to_numpy()
    streets = r["street_offices"].to_numpy()
    r["less_developed"] = zhejiang_less_developed(r)
    lagging = np.where(r["less_developed"].to_numpy() == 1, 1.5, 1.0)
    communities_total = round(ZJ_BELOW_350_TOTAL / ZJ_BELOW_350_SHARE)
    comm = np.zeros(len(r), dtype=np.int64)
    comm[zj] = apportion(communities_total, r.loc[zj, "urban_households"], floors=streets[zj])
    below = np.zeros(len(r), dtype=np.int64)
    below[zj] = apportion(ZJ_BELOW_350_TOTAL, comm[zj] * lagging[zj], caps=comm[zj])
    no_centre = np.zeros(len(r), dtype=np.int64)
    no_centre[zj] = apportion(ZJ_STREETS_WITHOUT_CENTRE_TOTAL, streets[zj] * lagging[zj],
                              caps=streets[zj])
    rooms = []  # (region_id, current room area m2) for every community below 350
    gap = np.zeros(len(r), dtype=np.int64)
    for i in np.flatnonzero(below):
        areas = rng.integers(80, ZJ_ROOM_TARGET_M2, size=below[i])  # 80..349 m2
        gap[i] = int((ZJ_ROOM_TARGET_M2 - areas).sum())
        rooms.extend((r.at[i, "region_id"], int(a)) for a in areas)
    r["communities_2006"] = comm
    r["communities_below_350"] = below
    r["gap_below_350_m2"] = gap
    r["streets_without_centre"] = no_centre
    # Assumed county quotas of the 2,615万 special fund: less-developed counties only, split
    # in proportion to their m2 gap (whole 万元).
    quota = np.zeros(len(r), dtype=np.int64)
    weights = gap * r["less_developed"].to_numpy()
    quota[zj] = apportion(ZJ_SPECIAL_FUND_WAN, weights[zj])
    r["zj_special_fund_quota"] = quota
    return r, pd.DataFrame(rooms, columns=["region_id", "room_m2"])


REGION_COLUMNS = [
    "region_id", "name", "city", "province", "zone", "population", "urban_population",
    "rural_population", "households", "urban_households", "share_65plus_pct",
    "street_offices", "towns", "townships", "urban_communities", "villages",
    "centres_2005", "facilities_2005", "it_communities_2005", "service_area_2005_m2",
    "centres_2010", "streets_without_centre_2010", "stations_2010", "communities_2010", "it_communities_2010",
    "communities_below_300_2010", "service_area_2010_m2",
    "communities_2006", "communities_below_350", "gap_below_350_m2",
    "streets_without_centre", "less_developed",
    "villages_with_facility_2020", "local_capacity", "need_score",
    "zj_special_fund_quota",
]


@dataclass(frozen=True)
class Inputs:
    """What the project builders read."""

    regions: pd.DataFrame  # the regions table as written
    units: pd.DataFrame  # 2023 township-level units with region_id
    zj_rooms: pd.DataFrame  # Zhejiang communities below 350 m2


def build_regions(counties: pd.DataFrame,
                  units: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The full regions table (one row per census county, none dropped) and
    the Zhejiang rooms below 350 m2."""
    r = base_regions(counties, units)
    r = add_national_estimates(r)
    r = add_rural_and_capacity(r)
    r = add_shandong_2010(r, rng_for("regions/shandong"))
    r, rooms = add_zhejiang_2006(r, rng_for("regions/zhejiang"))
    return r[REGION_COLUMNS].copy(), rooms


# ---------------------------------------------------------------------------
# Projects: shared pieces
# ---------------------------------------------------------------------------
PROJECT_COLUMNS = [
    "project_id", "name", "region_id", "type", "cost", "area_m2", "households_served",
    "population_served", "adds_centre", "adds_facility", "adds_it_community",
    "adds_rural_facility", "closes_gap", "priority",
]


def finish_projects(rows: list[dict], regions: pd.DataFrame, need: pd.Series,
                    rng: np.random.Generator) -> pd.DataFrame:
    """Assemble rows into a table: fill zeros, add priority, order columns."""
    p = pd.DataFrame(rows)
    for col in PROJECT_COLUMNS:
        if col not in p:
            p[col] = 0
    numeric = [c for c in PROJECT_COLUMNS if c not in ("project_id", "name", "region_id", "type")]
    p[numeric] = p[numeric].fillna(0)
    base = p["region_id"].map(need).to_numpy(dtype=float)
    p["priority"] = np.clip(np.round(base + rng.normal(0.0, 5.0, len(p))), 0, 100).astype("int64")
    p["cost"] = p["cost"].round(1)
    for col in ("area_m2", "households_served", "population_served", "adds_centre",
                "adds_facility", "adds_it_community", "adds_rural_facility", "closes_gap"):
        p[col] = p[col].round().astype("int64")
    assert p["project_id"].is_unique
    assert p["region_id"].isin(set(regions["region_id"])).all()
    return p[PROJECT_COLUMNS].sort_values("project_id", kind="stable").reset_index(drop=True)


def per_unit(regions: pd.DataFrame, numerator: str, denominator: str) -> pd.Series:
    """Column ratio by region_id (0 where the denominator is 0)."""
    den = regions[denominator].where(regions[denominator] > 0)
    return (regions[numerator] / den).fillna(0.0).set_axis(regions["region_id"])


def household_size(regions: pd.DataFrame) -> pd.Series:
    """Persons per household by region_id."""
    return per_unit(regions, "population", "households")


def centre_rows(streets: pd.DataFrame, regions: pd.DataFrame, price: float,
                rng: np.random.Generator) -> list[dict]:
    """One street-centre candidate per street office in ``streets``."""
    zone = regions.set_index("region_id")["zone"]
    hh_per_street = per_unit(regions, "urban_households", "street_offices")
    size = household_size(regions)
    areas = rng.integers(CENTRE_AREA_M2[0], CENTRE_AREA_M2[1] + 1, len(streets))
    noise = cost_noise(rng, len(streets))
    rows = []
    for (_, s), area, k in zip(streets.iterrows(), areas, noise):
        rid = s["region_id"]
        cost = (area * CONSTRUCTION_WAN_PER_M2[zone[rid]] + CENTRE_EQUIPMENT_WAN) * price * k
        hh = hh_per_street[rid]
        rows.append({"project_id": f"C-{s['division_code']}", "name": f"{s['name']}社区服务中心",
                     "region_id": rid, "type": "centre", "cost": cost, "area_m2": area,
                     "households_served": hh, "population_served": hh * size[rid],
                     "adds_centre": 1, "adds_facility": 1})
    return rows


def station_rows(counts: pd.Series, regions: pd.DataFrame, units: pd.DataFrame,
                 price: float, rng: np.random.Generator) -> list[dict]:
    """``counts[region_id]`` community-station candidates per county.

    Each station is sited in a street (or town) of the county, cycled in
    seeded order, and serves one community's households.
    """
    zone = regions.set_index("region_id")["zone"]
    names = regions.set_index("region_id")["name"]
    hh_per_comm = per_unit(regions, "urban_households", "urban_communities")
    size = household_size(regions)
    sites = units[units["kind"].isin(["street", "town"])].groupby("region_id")["name"].apply(list)
    rows = []
    for rid, n in counts[counts > 0].items():
        places = list(sites.get(rid, [names[rid]]))
        rng.shuffle(places)
        areas = rng.integers(STATION_AREA_M2[0], STATION_AREA_M2[1] + 1, n)
        noise = cost_noise(rng, n)
        for j in range(n):
            place = places[j % len(places)]
            seq = j // len(places) + 1
            cost = (areas[j] * CONSTRUCTION_WAN_PER_M2[zone[rid]] + STATION_EQUIPMENT_WAN) * price * noise[j]
            hh = hh_per_comm[rid]
            rows.append({"project_id": f"S-{rid}-{j + 1:03d}",
                         "name": f"{place}第{seq}社区服务站", "region_id": rid,
                         "type": "station", "cost": cost, "area_m2": areas[j],
                         "households_served": hh, "population_served": hh * size[rid],
                         "adds_facility": 1})
    return rows


def network_cost(communities: int, zone: str, price: float, noise: float) -> float:
    """Cost of an information network connecting ``communities`` communities."""
    factor = CONSTRUCTION_WAN_PER_M2[zone] / CONSTRUCTION_WAN_PER_M2["central"]
    return (NETWORK_BASE_WAN + NETWORK_WAN_PER_COMMUNITY * communities) * factor * price * noise


# ---------------------------------------------------------------------------
# Projects: the four scenarios
# ---------------------------------------------------------------------------
def streets_lacking(units: pd.DataFrame, lacking: pd.Series,
                    rng: np.random.Generator) -> pd.DataFrame:
    """Pick ``lacking[region_id]`` street offices per county (seeded)."""
    streets = units[units["kind"] == "street"]
    picks = []
    for rid, group in streets.groupby("region_id", sort=True):
        n = int(lacking.get(rid, 0))
        if n > 0:
            picks.append(group.iloc[np.sort(rng.choice(len(group), n, replace=False))])
    return pd.concat(picks, ignore_index=True)


def national_networks(regions: pd.DataFrame, price: float,
                      rng: np.random.Generator) -> list[dict]:
    """City-level information networks; region_id = the city's most urban county.

    A network connects up to NETWORK_MAX_COMMUNITIES of the city's communities
    that lack IT means (adds_it_community); the contribution belongs to the
    whole city, so use province/zone/national scope for the IT indicator.
    """
    r = regions.assign(no_it=regions["urban_communities"] - regions["it_communities_2005"])
    cities = (r.sort_values(["urban_population", "region_id"], ascending=[False, True])
              .groupby(["province", "city"], sort=True)
              .agg(region_id=("region_id", "first"), zone=("zone", "first"),
                   no_it=("no_it", "sum"), urban_households=("urban_households", "sum"),
                   urban_communities=("urban_communities", "sum"),
                   population=("population", "sum"), households=("households", "sum"))
              .reset_index())
    cities = cities[cities["no_it"] > 0].reset_index(drop=True)
    chosen = rng.choice(len(cities), NATIONAL_NETWORK_CANDIDATES, replace=False,
                        p=cities["no_it"] / cities["no_it"].sum())
    rows = []
    for i in np.sort(chosen):
        c = cities.iloc[i]
        n = int(min(c["no_it"], NETWORK_MAX_COMMUNITIES))
        hh = n * c["urban_households"] / c["urban_communities"]
        rows.append({"project_id": f"N-{c['region_id']}", "name": f"{c['city']}城市社区服务信息网络",
                     "region_id": c["region_id"], "type": "network",
                     "cost": network_cost(n, c["zone"], price, cost_noise(rng, 1)[0]),
                     "households_served": hh,
                     "population_served": hh * c["population"] / c["households"],
                     "adds_it_community": n})
    return rows


def build_eleventh_plan(inp: Inputs) -> pd.DataFrame:
    """National 11th plan: centres, stations, city networks."""
    name = "eleventh_plan_national"
    regions, units = inp.regions, inp.units
    rng, price = rng_for(name), PRICE_INDEX[name]
    idx = regions.set_index("region_id")
    lacking = idx["street_offices"] - idx["centres_2005"]
    rows = centre_rows(streets_lacking(units, lacking, rng), regions, price, rng)
    need = regions["urban_communities"] * zone_factor(regions["zone"], ZONE_STATION_NEED_FACTOR)
    counts = pd.Series(apportion(NATIONAL_STATION_CANDIDATES, need), index=regions["region_id"])
    rows += station_rows(counts, regions, units, price, rng)
    rows += national_networks(regions, price, rng)
    return finish_projects(rows, regions, idx["need_score"], rng)


def provincial_need(regions: pd.DataFrame, mask: np.ndarray, lag: np.ndarray) -> pd.Series:
    """0-100 need score inside one province: lag (0-1) and low urbanisation."""
    urban_share = (regions["urban_population"] / regions["population"]).to_numpy()
    score = np.zeros(len(regions))
    score[mask] = 100 * (0.6 * pct_rank(lag[mask]) + 0.4 * (1 - pct_rank(urban_share[mask])))
    return pd.Series(np.round(score, 1), index=regions["region_id"])


def build_shandong(inp: Inputs) -> pd.DataFrame:
    """Shandong 12th plan: centres for streets lacking one, standard stations, county networks."""
    name = "shandong_12th_plan"
    regions, units = inp.regions, inp.units
    rng, price = rng_for(name), PRICE_INDEX[name]
    sd = (regions["province"] == "山东省").to_numpy()
    idx = regions.set_index("region_id")
    lacking = (idx["street_offices"] - idx["centres_2010"])[sd]
    rows = centre_rows(streets_lacking(units, lacking, rng), regions, price, rng)
    counts = idx["communities_below_300_2010"][sd]
    rows += station_rows(counts, regions, units, price, rng)
    for rid, c in idx[sd].iterrows():
        n = int(c["communities_2010"] - c["it_communities_2010"])
        if n <= 0:
            continue
        hh = c["urban_households"] / c["urban_communities"] * n
        rows.append({"project_id": f"N-{rid}", "name": f"{c['name']}城市社区服务信息网络",
                     "region_id": rid, "type": "network",
                     "cost": network_cost(n, c["zone"], price, cost_noise(rng, 1)[0]),
                     "households_served": hh,
                     "population_served": hh * c["population"] / c["households"],
                     "adds_it_community": n})
    comm = regions["communities_2010"].to_numpy()
    lag = np.divide(regions["communities_below_300_2010"], comm, out=np.zeros(len(comm)),
                    where=comm > 0)
    return finish_projects(rows, regions, provincial_need(regions, sd, lag), rng)


def build_zhejiang(inp: Inputs) -> pd.DataFrame:
    """Zhejiang 2008: room upgrades for communities < 350 m2 and centres for 130 streets."""
    name = "zhejiang_2008"
    regions, units, rooms = inp.regions, inp.units, inp.zj_rooms
    rng, price = rng_for(name), PRICE_INDEX[name]
    zj = (regions["province"] == "浙江省").to_numpy()
    idx = regions.set_index("region_id")
    rows = centre_rows(streets_lacking(units, idx["streets_without_centre"][zj], rng),
                       regions, price, rng)
    hh_per_comm = per_unit(regions, "urban_households", "urban_communities")
    size = household_size(regions)
    sites = units[units["kind"].isin(["street", "town"])].groupby("region_id")["name"].apply(list)
    noise = cost_noise(rng, len(rooms))
    for rid, group in rooms.groupby("region_id", sort=True):
        places = list(sites.get(rid, [idx.at[rid, "name"]]))
        rng.shuffle(places)
        for j, (room, k) in enumerate(zip(group["room_m2"], noise[group.index])):
            gap = ZJ_ROOM_TARGET_M2 - room
            cost = (gap * CONSTRUCTION_WAN_PER_M2["east"] + ROOM_UPGRADE_EQUIPMENT_WAN) * price * k
            hh = hh_per_comm[rid]
            rows.append({"project_id": f"U-{rid}-{j + 1:03d}",
                         "name": f"{places[j % len(places)]}社区服务用房扩建（现{room}平方米）",
                         "region_id": rid, "type": "station", "cost": cost, "area_m2": gap,
                         "households_served": hh, "population_served": hh * size[rid],
                         "closes_gap": gap})
    lag = regions["less_developed"].to_numpy(dtype=float)
    return finish_projects(rows, regions, provincial_need(regions, zj, lag), rng)


def build_rural(inp: Inputs) -> pd.DataFrame:
    """Rural 14th plan: batches of up to RURAL_BATCH_VILLAGES uncovered villages per county."""
    name = "rural_14th_plan"
    regions, units = inp.regions, inp.units
    rng, price = rng_for(name), PRICE_INDEX[name]
    sites = units[units["kind"].isin(["town", "township"])].groupby("region_id")["name"].apply(list)
    rows = []
    for _, c in regions.iterrows():
        uncovered = int(c["villages"] - c["villages_with_facility_2020"])
        if uncovered <= 0:
            continue
        rid = c["region_id"]
        places = list(sites.get(rid, [c["name"]]))
        rng.shuffle(places)
        pop_per_village = c["rural_population"] / c["villages"]
        hh_size = c["population"] / c["households"]
        n_batches = -(-uncovered // RURAL_BATCH_VILLAGES)
        sizes = apportion(uncovered, np.ones(n_batches))
        for j, n in enumerate(sizes):
            area = rng.integers(RURAL_AREA_M2_PER_VILLAGE[0], RURAL_AREA_M2_PER_VILLAGE[1] + 1, n)
            cost = float((area * RURAL_CONSTRUCTION_WAN_PER_M2[c["zone"]]
                          + RURAL_EQUIPMENT_WAN_PER_VILLAGE).sum()) * price * cost_noise(rng, 1)[0]
            rows.append({"project_id": f"R-{rid}-{j + 1:02d}",
                         "name": f"{places[j % len(places)]}等{n}个村综合服务设施",
                         "region_id": rid, "type": "rural", "cost": cost,
                         "area_m2": int(area.sum()),
                         "households_served": n * pop_per_village / hh_size,
                         "population_served": n * pop_per_village,
                         "adds_facility": n, "adds_rural_facility": n})
    vill = regions["villages"].to_numpy()
    coverage = np.divide(regions["villages_with_facility_2020"], vill, out=np.ones(len(vill)),
                         where=vill > 0)
    zone_score = zone_factor(regions["zone"], ZONE_NEED_SCORE)
    need = pd.Series(np.round(50 * (1 - pct_rank(coverage)) + 50 * zone_score, 1),
                     index=regions["region_id"])
    return finish_projects(rows, regions, need, rng)


SCENARIOS: dict[str, Callable[[Inputs], pd.DataFrame]] = {
    "eleventh_plan_national": build_eleventh_plan,
    "shandong_12th_plan": build_shandong,
    "zhejiang_2008": build_zhejiang,
    "rural_14th_plan": build_rural,
}


# ---------------------------------------------------------------------------
# Checks and main
# ---------------------------------------------------------------------------
def check_national_cost_mix(projects: pd.DataFrame) -> float:
    """Cost of 500 centres + 2,400 stations + 100 networks at average unit cost (万元)."""
    mean = projects.groupby("type")["cost"].mean()
    return 500 * mean["centre"] + 2_400 * mean["station"] + 100 * mean["network"]


def build_all(shared: Path, out: Path) -> dict[str, pd.DataFrame]:
    """Build and write every table; return them by file stem."""
    counties = read_counties(shared)
    units = read_units(shared, counties["county_code"])
    regions, rooms = build_regions(counties, units)
    assert len(regions) == len(counties)
    write_csv_gz(regions, out / "regions.csv.gz")
    tables = {"regions": regions}
    inp = Inputs(regions, units, rooms)
    for name, build in SCENARIOS.items():
        projects = build(inp)
        write_csv_gz(projects, out / f"{name}_projects.csv.gz")
        tables[name] = projects
    return tables


def summarize(tables: dict[str, pd.DataFrame], out: Path) -> None:
    """Print calibrated totals, candidate counts and file sizes."""
    r = tables["regions"]
    numeric = r.select_dtypes("number").drop(columns=["share_65plus_pct", "need_score"])
    print("regions:", len(r), "rows")
    print(numeric.sum().to_string())
    for name in SCENARIOS:
        p = tables[name]
        print(f"\n{name}: {len(p)} candidates, total cost {p['cost'].sum():,.0f}万")
        print(p.groupby("type")["cost"].agg(["count", "mean", "sum"]).round(1).to_string())
    print(f"\n11th-plan mix at mean unit costs: "
          f"{check_national_cost_mix(tables['eleventh_plan_national']):,.0f}万 (target ≈218,000万)")
    sizes = {f.name: f.stat().st_size for f in sorted(out.glob("*.csv.gz"))}
    print("\n" + "\n".join(f"{k}: {v:,} B" for k, v in sizes.items()),
          f"\ntotal: {sum(sizes.values()):,} B")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared", nargs="?", type=Path, default=DEFAULT_SHARED_DATA,
                        help="directory with counties_2020.csv and townships_2023.csv "
                             "(default: ../shared/data relative to the repo root)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output directory (default: scenarios/data)")
    parser.add_argument("--quiet", action="store_true", help="do not print the summary")
    args = parser.parse_args(argv)
    tables = build_all(args.shared, args.out)
    if not args.quiet:
        summarize(tables, args.out)


if __name__ == "__main__":
    main()

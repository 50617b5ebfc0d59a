"""Fairness between regions, measured: money per resident by province, its Gini coefficient and its Theil index split
into the part between zones and the part within them (the decomposition Chinese public-finance studies use), and each
indicator's gap between zones before and after the plan.

All inequality measures are population-weighted over provinces: each province counts with its residents (the regions
table's ``population`` column, summed per province; a scenario whose regions table has none gets no equity table).

- Gini: G = Σ_i Σ_j p_i p_j |x_i − x_j| / (2 μ), with p the population shares, x money per resident and μ = Σ p_i x_i.
- Theil: T = Σ_i s_i ln(s_i / p_i), with s the money shares; T = T_between + T_within, where
  T_between = Σ_z s_z ln(s_z / p_z) over zones and T_within = Σ_z s_z T_z, T_z being the Theil index of zone z's
  provinces among themselves. The two parts add up to T exactly; the table (equity.csv, and every report that prints it)
  keeps each part to INDEX_DECIMALS places and T as the sum of the printed parts, so they add up as printed too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np
import pandas as pd

from allocator.results import Result
from allocator.rules import POPULATION, Rules

#: The table's columns: a measure, on which basis (a source, "all", or an indicator), for which group, its value.
COLUMNS = ["measure", "basis", "group", "value", "unit"]
ALL = "all"
YUAN_PER_WAN = 10_000.0
#: Places the Theil index and its parts are kept to (and printed with: 0.0826).
INDEX_DECIMALS = 4


class TheilParts(NamedTuple):
    total: float
    between: float
    within: float


def gini(per_resident: np.ndarray, population: np.ndarray) -> float:
    """The population-weighted Gini coefficient of money per resident (0: equal; NaN without money or residents)."""
    x, p = np.asarray(per_resident, dtype=float), np.asarray(population, dtype=float)
    shares = p / p.sum() if p.sum() > 0 else p
    mean = float(shares @ x)
    if not p.sum() > 0 or not mean > 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    x, shares = x[order], shares[order]
    # Σ_i Σ_j p_i p_j |x_i − x_j| = 2 Σ_i p_i x_i (P_{<i} − P_{>i}) for x sorted ascending.
    below = np.cumsum(shares) - shares
    above = 1.0 - np.cumsum(shares)
    return float((shares * x * (below - above)).sum() / mean)


def theil(money: np.ndarray, population: np.ndarray, zone: np.ndarray) -> TheilParts:
    """The population-weighted Theil index of `money` over groups and its between/within split by `zone`."""
    money, population = np.asarray(money, dtype=float), np.asarray(population, dtype=float)
    if not money.sum() > 0 or not population.sum() > 0:
        return TheilParts(float("nan"), float("nan"), float("nan"))
    s, p = money / money.sum(), population / population.sum()
    total = _theil_terms(s, p)
    zones = pd.unique(np.asarray(zone, dtype=object))
    between = within = 0.0
    for z in zones:
        inside = np.asarray(zone, dtype=object) == z
        s_z, p_z = float(s[inside].sum()), float(p[inside].sum())
        if s_z > 0:
            between += s_z * np.log(s_z / p_z)
            within += s_z * _theil_terms(s[inside] / s_z, p[inside] / p_z)
    return TheilParts(total, float(between), float(within))


def _theil_terms(s: np.ndarray, p: np.ndarray) -> float:
    """Σ s ln(s / p), with 0 ln 0 = 0."""
    held = s > 0
    return float((s[held] * np.log(s[held] / p[held])).sum())


def equity_table(result: Result) -> pd.DataFrame | None:
    """Every equity measure of a plan in one long table (COLUMNS), or None when the regions table counts no residents."""
    regions = result.data.regions
    if POPULATION not in regions:
        return None
    provinces = _provinces(result)
    rows: list[dict[str, object]] = []
    bases = {ALL: result.money.sum(axis=1), **{key: result.money[:, i] for i, key in enumerate(result.source_keys)}}
    project_province = regions["province"].to_numpy(dtype=object)[result.data.projects["region"].to_numpy()]
    rows += [{"measure": "residents", "basis": "", "group": name, "value": float(value), "unit": "人"}
             for name, value in provinces["population"].items()]
    for basis, money in bases.items():
        by_province = pd.Series(money).groupby(project_province).sum().reindex(provinces.index, fill_value=0.0)
        per_resident = YUAN_PER_WAN * by_province.to_numpy() / provinces["population"].to_numpy()
        rows += [{"measure": "money_per_resident", "basis": basis, "group": name, "value": value, "unit": "元/人"}
                 for name, value in zip(provinces.index, per_resident)]
        parts = theil(by_province.to_numpy(), provinces["population"].to_numpy(), provinces["zone"].to_numpy())
        between, within = round(parts.between, INDEX_DECIMALS) + 0.0, round(parts.within, INDEX_DECIMALS) + 0.0
        rows += [{"measure": "gini", "basis": basis, "group": "", "value": gini(per_resident, provinces["population"].to_numpy()), "unit": ""},
                 {"measure": "theil", "basis": basis, "group": "", "value": round(between + within, INDEX_DECIMALS), "unit": ""},
                 {"measure": "theil_between_zones", "basis": basis, "group": "", "value": between, "unit": ""},
                 {"measure": "theil_within_zones", "basis": basis, "group": "", "value": within, "unit": ""}]
    rows += _zone_gaps(result)
    return pd.DataFrame(rows, columns=COLUMNS)


def _provinces(result: Result) -> pd.DataFrame:
    """Per province with residents: its population and zone (a province's regions share one zone), in code order."""
    regions = result.data.regions
    grouped = regions.groupby("province", sort=False).agg(population=(POPULATION, "sum"), zone=("zone", "first"),
                                                           code=("region_id", "min"))
    return grouped[grouped["population"] > 0].sort_values("code", kind="stable")


def _zone_gaps(result: Result) -> list[dict[str, object]]:
    """Each indicator's largest gap between zones (highest zone value less the lowest) before and after the plan."""
    rules = Rules(result.scenario, result.data)
    rows: list[dict[str, object]] = []
    for indicator in result.scenario.indicators.values():
        groups = rules.indicator_groups_for(replace(indicator, scope="zone"))
        before = groups.achieved(np.zeros(len(result.selected)))
        after = groups.achieved(result.completed_by(groups.deadline))
        for measure, values in (("zone_gap_before", before), ("zone_gap_after", after)):
            measured = values[~np.isnan(values)]
            gap = float(measured.max() - measured.min()) if len(measured) > 1 else float("nan")
            rows.append({"measure": measure, "basis": indicator.name, "group": "", "value": gap, "unit": "指标值"})
    return rows


def equity_text(table: pd.DataFrame | None) -> str:
    """One line for the terminal summary: the spread of all money per resident across provinces."""
    if table is None:
        return f"equity: not measured (the regions table has no {POPULATION} column)"
    summary = table[(table["basis"] == ALL) & (table["group"] == "")].set_index("measure")["value"]
    return (f"equity of money per resident across provinces (all sources): Gini {summary['gini']:.3f}, "
            f"Theil {summary['theil']:.{INDEX_DECIMALS}f} (between zones {summary['theil_between_zones']:.{INDEX_DECIMALS}f}, "
            f"within zones {summary['theil_within_zones']:.{INDEX_DECIMALS}f})")


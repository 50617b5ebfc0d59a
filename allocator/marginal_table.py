"""The marginal-value table (marginal.csv) as data: its columns, the plain words of its methods, and the order a
reader wants its rows in. Light on purpose: the reports read a run's table without the solver modules."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: A change of the objective below this is no change.
BINDING_TOLERANCE = 1e-7
#: Two objectives this close (relative) are the same optimum.
ROUND_OFF = 1e-9
COLUMNS = ["label", "group", "unit", "limit", "used", "shortfall", "used_up", "binding", "marginal_value", "per", "step", "gain", "method",
           "fix", "rule", "key", "lp_dual", "technical_method"]

#: The planner's words for each method (the ``method`` column); ``technical_method`` keeps the exact one.
RE_SOLVED = "放宽一步后重新求解"
CLOSED = "改为硬目标后重新求解"
CANNOT_CLOSE = "改为硬目标后无解：现有预算和规则下无法在所有组达标"
LP_DUAL = "线性规划对偶值（精确）"
SELECTION_DUAL = "按当前入选项目的对偶值（未重新求解）"
SLACK = "有余量：当前方案未用满此限额（未重新求解）"
NOT_PRICED = "未计算（时间不足或未重新求解）"
#: The technical ``rule`` of a soft target's row starts with this.
SOFT_TARGET = "soft target"


def is_current(table: pd.DataFrame | None) -> bool:
    """Does `table` have this version's columns? (A run written by an older allocator has a narrower marginal.csv.)"""
    return table is not None and set(COLUMNS) <= set(table.columns)


def is_soft(table: pd.DataFrame) -> pd.Series:
    """Which rows are soft targets (their step closes a shortfall rather than relaxing a rule)."""
    return table["rule"].astype(str).str.startswith(SOFT_TARGET)


def improvement(table: pd.DataFrame, sense: str) -> pd.Series:
    """The gain of each row's step in the scenario's better direction (more benefit, or less money); 0 when unknown."""
    better = 1.0 if sense == "max_benefit" else -1.0
    return (better * pd.to_numeric(table["gain"], errors="coerce")).fillna(0.0)


def ranked(table: pd.DataFrame, sense: str) -> pd.DataFrame:
    """The table in the order a reader wants it: binding rules by the gain of their step, then unmet soft targets, then
    rules with room whose step still pays, then the rest, each in the model's order on equal gains."""
    gain = improvement(table, sense)
    binding = table["binding"].astype(bool).to_numpy()
    tier = np.select([binding, is_soft(table).to_numpy(), (gain > BINDING_TOLERANCE).to_numpy()], [0, 1, 2], default=3)
    order = pd.DataFrame({"tier": tier, "gain": np.where(tier == 3, 0.0, -gain.to_numpy()), "position": np.arange(len(table))},
                         index=table.index)
    return table.loc[order.sort_values(["tier", "gain", "position"], kind="stable").index]


def as_printed(table: pd.DataFrame, by_source: pd.DataFrame, by_province: pd.DataFrame, by_region: pd.DataFrame,
               decimals: int) -> pd.DataFrame:
    """`table` with the money the plan uses as the run's tables print it: a budget's is by_source.csv's ``used``, a capacity's
    its province's (or region's) sum in by_province.csv (by_region.csv), and any other rounded to `decimals` of 万元, so
    no solver noise reaches a cell and the tables agree on the same figure."""
    printed = {f"sources.{row.source}.budget\0": row.used for row in by_source.itertuples()}
    for key in by_source["source"]:
        printed.update({f"sources.{key}.capacity\0{group}": used for group, used in zip(by_province["province"], by_province[key])})
        printed.update({f"sources.{key}.capacity\0{group}": used for group, used in zip(by_region["region_id"], by_region[key])})
    table = table.copy()
    money = table["unit"] == "万元"
    found = (table["key"].astype(str) + "\0" + table["group"].astype(str)).map(printed)
    used = pd.to_numeric(table["used"], errors="coerce").round(decimals) + 0.0
    table["used"] = table["used"].where(~money, found.where(found.notna(), used))
    return table


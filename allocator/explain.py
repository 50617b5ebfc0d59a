"""``allocate explain`` on a feasible plan: the rules that shape it, in the planner's words, ranked by what relaxing
each by its step would gain, each with the change that relaxes it.

The ranking rule: the objective gained by the rule's own step (one project, 1亿 or 10% of a money limit, one
percentage point, 1% of a target; allocator.relaxations), largest first; equal gains in the table's order. Rules the
plan uses up although no single step of them gains anything are re-solved once more, all relaxed together: when that
gains, they bind jointly (e.g. a count per type and the count of all projects, both at their maximum).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from allocator.backends import Deadline, Solution
from allocator.marginal import MAX_RE_SOLVES, gap_noise
from allocator.marginal_table import BINDING_TOLERANCE, CANNOT_CLOSE, LP_DUAL, NOT_PRICED, RE_SOLVED, ROUND_OFF, improvement, is_soft
from allocator.relaxations import relaxations
from allocator.results import Result

#: At most this many lines per section (all are in the marginal.csv of `allocate run --marginal full`; explain writes no file).
SHOWN = 15
#: Where every rule is listed: explain writes no file.
ALL_ROWS = "allocate run --marginal full 写出的 marginal.csv 列出全部规则"


def explanation(result: Result, solve_model: Callable[..., Solution]) -> str:
    """The rules that shape `result`'s plan, ranked, with the ``--set`` (or table cell) that relaxes each."""
    table = result.marginal
    if table is None or not len(table):
        return "没有计算边际值（--marginal none）：无法说明哪些规则塑造了方案。"
    table = table.assign(improvement=improvement(table, result.scenario.sense))
    lines = [f"塑造方案的规则（按放宽一步可使目标改善的数值排序；目标单位：{_unit(result)}）："]
    binding = table[table["binding"]].sort_values("improvement", ascending=False, kind="stable")
    lines += _rule_lines(binding) if len(binding) else ["  （没有哪一条规则单独放宽一步就能改善方案）"]
    lines += _joint_lines(result, table, solve_model)
    lumpy = table[~table["used_up"] & (table["improvement"] > BINDING_TOLERANCE) & ~is_soft(table)]
    if len(lumpy):
        lines += ["", "未用满、但放宽一步仍能改善方案的规则（余额不足以再资助一个项目）："]
        lines += _rule_lines(lumpy.sort_values("improvement", ascending=False, kind="stable"))
    soft = table[is_soft(table)]
    if len(soft):
        lines += ["", "未达成的软目标（罚分权重不是价格；下面是达标的代价）："] + [_soft_line(row) for row in soft.itertuples()]
    lines += ["", *_rest_lines(table)]
    return "\n".join(lines)


def _rest_lines(table: pd.DataFrame) -> list[str]:
    """How many rules the sections above leave out, and why (all are in the marginal.csv `allocate run --marginal full` writes)."""
    rest = table[~table["binding"] & ~is_soft(table) & ~(table["improvement"] > BINDING_TOLERANCE)]
    counts = {
        "未用满，放宽不改变方案": int((~rest["used_up"]).sum()),
        "已用满，单独放宽一步不改善方案": int((rest["used_up"] & rest["method"].isin([RE_SOLVED, LP_DUAL])).sum()),
        f"已用满，超出重新求解的上限（{MAX_RE_SOLVES} 次）或时间，只有按当前入选项目的对偶值":
            int((rest["used_up"] & ~rest["method"].isin([RE_SOLVED, LP_DUAL])).sum()),
    }
    return [f"其余规则（{ALL_ROWS}）：" + "；".join(f"{n:,} 条{what}" for what, n in counts.items() if n)] if len(rest) else []


def _rule_lines(rows: pd.DataFrame) -> list[str]:
    lines = []
    for rank, row in enumerate(rows.head(SHOWN).itertuples(), start=1):
        used = "已用满" if row.used_up else "未用满"
        lines.append(f"  {rank}. {row.label}：{used}（{_number(row.used)} / {_number(row.limit)} {row.unit}）；"
                     f"放宽 {_number(row.step)} {row.per} → 目标 {_signed(row.gain)}（{row.method}）")
        lines.append(f"     {row.fix}")
    if len(rows) > SHOWN:
        lines.append(f"  … 另有 {len(rows) - SHOWN} 条（{ALL_ROWS}）")
    return lines


def _soft_line(row: Any) -> str:
    """One unmet soft target: what it reaches, its shortfall, and what meeting it everywhere would cost."""
    reached = "" if _missing(row.used) else f"达到 {_number(row.used)}，"
    where = f"{row.group}；" if row.group else ""
    head = f"  - {row.label}：{where}{reached}目标 {_number(row.limit)}（合计差 {_number(row.shortfall)}）"
    if row.method == CANNOT_CLOSE:
        return f"{head}；在现有预算和其他规则下无法在所有组达标（{row.fix} 会使方案无解）"
    if _missing(row.gain):
        return f"{head}；{'达标的代价未计算（时间不足或未重新求解）' if row.method == NOT_PRICED else row.method}"
    return f"{head}；全部达标将使目标 {_signed(row.gain)}（{row.fix}）"


def _joint_lines(result: Result, table: pd.DataFrame, solve_model: Callable[..., Solution]) -> list[str]:
    """Rules used up whose single steps were re-solved and gained nothing: relaxed together once; a line when that gains."""
    joint = table[table["used_up"] & ~table["binding"] & ~is_soft(table) & (table["method"] == RE_SOLVED)]
    if len(joint) < 2 or result.model is None or result.solution.values is None or result.solution.objective is None:
        return []
    model = result.model.linear
    found = relaxations(result.model, result.solution.values, money_tolerance=0.5 * result.precision.unit_wan)
    assert len(found) == len(table), "the marginal table has one row per relaxation, in their order"
    for index in joint.index:
        model = found[index].apply(model)
    answer = solve_model(model, result.scenario.solver, deadline=Deadline(result.scenario.solver.time_limit), start=result.solution.values)
    if not answer.status.has_solution or answer.objective is None:
        return []
    gain = result.model.linear.objective_sign * (answer.objective - result.solution.objective)
    better = gain if result.scenario.sense == "max_benefit" else -gain
    noise = gap_noise(result, answer)
    if better <= max(noise, ROUND_OFF * max(1.0, abs(answer.objective))):
        return []
    return ["", f"共同约束：{_rule_names(joint)} 都已用满，单独放宽任何一条都不改善方案；",
            f"  各放宽一步（同时）→ 目标 {_signed(gain)}（一起放宽后重新求解）"]


def _rule_names(rows: pd.DataFrame) -> str:
    """The rules of `rows`, a rule with several rows (per province, region or group) named once with their count."""
    names = []
    for _, group in rows.groupby("key", sort=False):
        label = str(group["label"].iloc[0])
        names.append(label if len(group) == 1 else f"{label.split('（')[0]}（{len(group):,} 组）")
    return "、".join(names)


def _unit(result: Result) -> str:
    return "万元（所需资金）" if result.scenario.sense == "min_cost" else (result.objective_unit or "目标函数值")


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: object) -> str:
    """A figure as a planner reads it: whole numbers without decimals, others to two decimals, with separators."""
    number = float(value)  # type: ignore[arg-type]
    if _missing(number):
        return "—"
    return f"{number:,.0f}" if float(np.round(number, 6)).is_integer() else f"{number:,.2f}" if abs(number) >= 1 else f"{number:.4g}"


def _signed(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return "—" if _missing(number) else ("+" if number > 0 else "") + _number(number)

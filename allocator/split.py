"""The split between sources, chosen by a stated rule once the selection is optimal (``model.split = "even"``).

The selection problem leaves many equally good ways to split money between sources: any vertex of the money
polytope with the selection fixed. The first solve returns one of them, by accident of the solver. This second
stage fixes the selection, holds the objective at its optimum (within OBJECTIVE_TOLERANCE) and solves an LP
that keeps each source's share of cost as even as possible across the rule classes (provinces) of one type and
zone: for each (type, zone, source) group G with a common share m_G and each class k in it,

    minimise  sum_k d_k   subject to   | sum_y F_{k,s,y} - m_G C_k | <= d_k,

where C_k is the class's funded cost (万元). d_k is the class's money away from the common share, so the rule
minimises the cost-weighted absolute deviation of the shares. Every rule of the first model still holds; only
the money columns move. What stays uneven, and the rows of the first model that bind on the classes that
deviate, go to ``solution.details["split"]`` (manifest.json, solver.details).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from allocator.backends import Deadline, Solution
from allocator.model import BuiltModel
from allocator.model.arrays import ColumnKind, LinearModel, RowKind

#: The second stage may lose this much of the optimum (relative to max(1, |objective|)).
OBJECTIVE_TOLERANCE = 1e-7
#: A class whose share is this far from its group's common share deviates.
SHARE_TOLERANCE = 1e-6
#: Rows that always hold with equality, so their binding says nothing about what forced a split.
ALWAYS_TIGHT = (RowKind.FULL_FUNDING, RowKind.STANDARD, RowKind.ONE_START)
#: The text of the rule, as the manifest states it.
RULE = ("with the selection fixed and the objective held at its optimum, each source's share of cost is kept as even as "
        "possible across the classes (provinces) of one type and zone: minimise the sum over classes of |money - common "
        "share x funded cost| (万元)")


@dataclass(frozen=True)
class Terms:
    """The (class, source) pairs the second stage evens out: each pair's group and the class's funded cost."""

    classes: np.ndarray
    sources: np.ndarray
    group: np.ndarray  # per pair: its (type, zone, source) group
    cost: np.ndarray  # per pair: the class's funded cost, 万元
    labels: pd.DataFrame  # per group: type, zone, source


def funded_cost(built: BuiltModel, values: np.ndarray) -> np.ndarray:
    """Per class: sum of cost x selection of its members, 万元."""
    classes = built.funding.classes
    members = classes.of_project >= 0
    selected = np.clip(values[built.funding.start], 0.0, 1.0).sum(axis=1)
    cost = built.rules.data.projects["cost"].to_numpy()
    return np.bincount(classes.of_project[members], weights=(cost * selected)[members], minlength=classes.count)


def even_terms(built: BuiltModel, values: np.ndarray) -> Terms:
    """The pairs of funded classes and eligible sources, grouped by (type, zone, source); groups of one class are left out."""
    classes = built.funding.classes
    projects = built.rules.data.projects
    first = classes.first_member
    cost = funded_cost(built, values)
    k_idx, s_idx = np.nonzero(classes.eligible & (cost > SHARE_TOLERANCE)[:, None])
    keys = pd.DataFrame({"type": projects["type"].astype(str).to_numpy()[first[k_idx]],
                         "zone": projects["zone"].to_numpy(dtype=object)[first[k_idx]],
                         "source": np.array(list(built.rules.scenario.sources), dtype=object)[s_idx]})
    group = keys.groupby(list(keys.columns), sort=True).ngroup().to_numpy()
    shared = np.bincount(group)[group] > 1
    group = pd.factorize(group[shared], sort=True)[0]
    labels = keys[shared].drop_duplicates().sort_values(list(keys.columns)).reset_index(drop=True)
    return Terms(k_idx[shared], s_idx[shared], group, cost[k_idx[shared]], labels)


def even_model(built: BuiltModel, values: np.ndarray, terms: Terms) -> LinearModel:
    """The first model with the selection fixed at `values`, the objective held, and the deviation rows and columns appended."""
    linear = built.linear
    n, pairs, groups = linear.num_cols, len(terms.classes), len(terms.labels)
    lower, upper = linear.col_lower.copy(), linear.col_upper.copy()
    for block in linear.col_blocks:
        if block.kind in (ColumnKind.SELECT, ColumnKind.FUNDED):
            fixed = np.clip(values[block.start:block.stop], lower[block.start:block.stop], upper[block.start:block.stop])
            fixed = np.where(linear.integer[block.start:block.stop], np.round(fixed), fixed)
            lower[block.start:block.stop] = upper[block.start:block.stop] = fixed
    common, deviation = n + np.arange(groups), n + groups + np.arange(pairs)
    money = built.funding.money[terms.classes, terms.sources]  # pairs x periods
    periods = money.shape[1]
    pair_rows = np.repeat(np.arange(pairs), periods)
    rows = np.concatenate([pair_rows, np.arange(pairs), np.arange(pairs)])
    cols = np.concatenate([money.ravel(), common[terms.group], deviation])
    below = sp.csr_matrix((np.concatenate([np.ones(pairs * periods), -terms.cost, -np.ones(pairs)]), (rows, cols)), shape=(pairs, n + groups + pairs))
    above = sp.csr_matrix((np.concatenate([np.ones(pairs * periods), -terms.cost, np.ones(pairs)]), (rows, cols)), shape=(pairs, n + groups + pairs))
    optimum = float(linear.c @ values)
    held = sp.csr_matrix(np.concatenate([linear.c, np.zeros(groups + pairs)])[None, :])
    A = sp.vstack([sp.hstack([linear.A, sp.csr_matrix((linear.num_rows, groups + pairs))]), held, below, above], format="csr")
    inf = np.full(pairs, np.inf)
    return replace(
        linear, A=A, c=np.concatenate([np.zeros(n + groups), np.ones(pairs)]), offset=0.0, objective_sign=1.0,
        row_lower=np.concatenate([linear.row_lower, [-np.inf], -inf, np.zeros(pairs)]),
        row_upper=np.concatenate([linear.row_upper, [optimum + OBJECTIVE_TOLERANCE * max(1.0, abs(optimum))], np.zeros(pairs), inf]),
        col_lower=np.concatenate([lower, np.zeros(groups + pairs)]), col_upper=np.concatenate([upper, np.ones(groups), inf]),
        integer=np.zeros(n + groups + pairs, dtype=bool),
    )


def even_split(built: BuiltModel, solution: Solution, solve: Callable[..., Solution], deadline: Deadline) -> Solution:
    """`solution` with its money re-split by :data:`RULE` (same selection, same objective); `solve(model, deadline=)`
    solves an LP. Keeps the first split, with a note in ``cut_short``, when the second stage finds none."""
    assert solution.values is not None
    linear = built.linear
    terms = even_terms(built, solution.values)
    if not len(terms.classes):
        return replace(solution, details={**solution.details, "split": spread(built, solution.values, terms, np.zeros(0), [])})
    second = solve(even_model(built, solution.values, terms), deadline=deadline)
    if not second.status.has_solution or second.values is None:
        deadline.note(f"split: the second stage (even shares across provinces) ended {second.status.value}; the first "
                      "solve's split was kept")
        return solution
    values, common = second.values[: linear.num_cols], second.values[linear.num_cols: linear.num_cols + len(terms.labels)]
    details = {**solution.details, "split": spread(built, values, terms, common, binding_rows(built, values, terms))}
    return replace(solution, values=values, details=details)


def binding_rows(built: BuiltModel, values: np.ndarray, terms: Terms) -> list[list[str]]:
    """Per pair: the names of the first model's rows that touch its class's money (any source, any period) and sit at a
    bound, except the rows that always hold with equality."""
    linear = built.linear
    activity = linear.A @ values
    scale = 1e-6 * np.maximum(1.0, np.abs(activity))
    tight = (np.abs(activity - linear.row_lower) <= scale) | (np.abs(activity - linear.row_upper) <= scale)
    for block in linear.rows(*ALWAYS_TIGHT):
        tight[block.start:block.stop] = False
    columns = linear.A.tocsc()
    money = built.funding.money
    return [[linear.row_name(int(r)) for r in np.unique(columns[:, money[k][money[k] >= 0]].indices) if tight[r]]
            for k in terms.classes]


def spread(built: BuiltModel, values: np.ndarray, terms: Terms, common: np.ndarray, binding: list[list[str]]) -> dict[str, object]:
    """How uneven the split still is, per (type, zone, source): the common share m_G, the least and largest class share,
    and each class away from m_G (its province, share and binding rows)."""
    money = np.zeros(len(terms.classes))
    for y in range(built.funding.money.shape[2]):
        money += values[built.funding.money[terms.classes, terms.sources, y]]
    share = money / terms.cost
    province = built.rules.data.projects["province"].to_numpy(dtype=object)[built.funding.classes.first_member[terms.classes]]
    groups = []
    for g, label in terms.labels.iterrows():
        member = np.flatnonzero(terms.group == g)
        deviating = [{"province": str(province[i]), "share": round(float(share[i]), 6), "binding": binding[i]}
                     for i in member if abs(share[i] - common[g]) > SHARE_TOLERANCE]
        groups.append({**{k: str(v) for k, v in label.items()}, "classes": int(len(member)), "common_share": round(float(common[g]), 6) + 0.0,
                       "min_share": round(float(share[member].min()), 6), "max_share": round(float(share[member].max()), 6),
                       "deviating": deviating})
    deviation = float(np.abs(money - common[terms.group] * terms.cost).sum()) if len(common) else 0.0
    return {"rule": RULE, "deviation_wan": round(deviation, 4), "groups": groups}

"""The split between sources, chosen by a stated rule once the selection is optimal (``model.split = "even"``).

The selection problem leaves many equally good ways to split money between sources: any point of the money
polytope with the selection fixed. The first solve returns one of them, by accident of the solver (and of its path:
``--from``'s keep rows, a sweep's warm start). This second stage fixes the selection, holds the objective at its
optimum (within OBJECTIVE_TOLERANCE) and solves one LP whose objective has three layers, each far lighter than the one
before it:

1. *Even within a zone.* For each (type, zone, source) group G with a common share m_G and each class k in it,
   d_k >= | sum_y F_{k,s,y} - m_G C_k |, where C_k is the class's funded cost (万元): weight 1 on sum_k d_k.
2. *Even across zones and types.* For each group G, e_G >= | m_G - n_s | C_G, where n_s is one share per source and
   C_G the group's funded cost: weight ACROSS_WEIGHT on sum_G e_G. A group of one class (a zone with one province)
   is pinned by this layer: its class's share is drawn to the source's common share.
3. *Tie rule.* ``TIE_WEIGHT x sum_{k,s,y} (position of s + 1) x (1 + b_{k,y}) x F_{k,s,y}``, where
   b_{k,y} = frac(PHI (k + 1) + SQRT2 y) is a fixed quasi-random number of the class and year: within a class the
   source listed first in the scenario is preferred, and the weights of different classes differ, so no two
   splits cost the same and the optimum is one point.

Since the optimum is unique, the same selection under the same rules gets the same split whatever the first solve
returned (a plain run, ``--from``, a sweep point); and since it is a vertex that stays optimal under a small change of
a budget, a small change of the inputs moves the split by about as much. Every rule of the first model still holds;
only the money columns move. What stays uneven, and the rows of the first model that bind on the classes that
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
#: Layer 2's weight per 万元 a (type, zone) group's money lies away from its source's common share.
ACROSS_WEIGHT = 1e-2
#: Layer 3's weight per 万元 (times the source's position + 1 and the class's factor in [1, 2)).
TIE_WEIGHT = 1e-4
#: The quasi-random class and year factors of the tie rule.
PHI, SQRT2 = (1 + 5 ** 0.5) / 2, 2 ** 0.5
#: The text of the rule, as the manifest states it.
RULE = ("with the selection fixed and the objective held at its optimum, one LP minimises (1) the sum over classes "
        "(provinces) of |money - common share of its (type, zone, source) group x funded cost| (万元), plus "
        f"(2) {ACROSS_WEIGHT:g} x the sum over (type, zone, source) groups of |group share - the source's common share| x "
        f"the group's funded cost (万元), plus (3) a tie rule, {TIE_WEIGHT:g} x the sum of money x (position of the source "
        "in the scenario + 1) x (1 + frac(golden ratio x (class + 1) + sqrt 2 x year)): the sources listed first are "
        "preferred and no two splits cost the same, so the split is one point whatever the solver's path")


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
    """The pairs of funded classes and eligible sources, grouped by (type, zone, source); a group of one class too."""
    classes = built.funding.classes
    projects = built.rules.data.projects
    first = classes.first_member
    cost = funded_cost(built, values)
    k_idx, s_idx = np.nonzero(classes.eligible & (cost > SHARE_TOLERANCE)[:, None])
    keys = pd.DataFrame({"type": projects["type"].astype(str).to_numpy()[first[k_idx]],
                         "zone": projects["zone"].to_numpy(dtype=object)[first[k_idx]],
                         "source": np.array(list(built.rules.scenario.sources), dtype=object)[s_idx]})
    group = keys.groupby(list(keys.columns), sort=True).ngroup().to_numpy()
    labels = keys.drop_duplicates().sort_values(list(keys.columns)).reset_index(drop=True)
    return Terms(k_idx, s_idx, group, cost[k_idx], labels)


def tie_weights(built: BuiltModel) -> np.ndarray:
    """Per column of the first model: layer 3's weight of a money column F_{k,s,y}, 0 elsewhere."""
    money = built.funding.money
    k, s, y = np.nonzero(money >= 0)
    weights = np.zeros(built.linear.num_cols)
    weights[money[k, s, y]] = TIE_WEIGHT * (s + 1) * (1.0 + np.mod(PHI * (k + 1) + SQRT2 * y, 1.0))
    return weights


def even_model(built: BuiltModel, values: np.ndarray, terms: Terms) -> LinearModel:
    """The first model with the selection fixed at `values`, the objective held, and the columns and rows of the three
    layers appended: columns m_G, d_k, n_s, e_G in that order after the first model's."""
    linear = built.linear
    n, pairs, groups = linear.num_cols, len(terms.classes), len(terms.labels)
    sources = len(built.rules.scenario.sources)
    width = n + groups + pairs + sources + groups
    lower, upper = linear.col_lower.copy(), linear.col_upper.copy()
    for block in linear.col_blocks:
        if block.kind in (ColumnKind.SELECT, ColumnKind.FUNDED):
            fixed = np.clip(values[block.start:block.stop], lower[block.start:block.stop], upper[block.start:block.stop])
            fixed = np.where(linear.integer[block.start:block.stop], np.round(fixed), fixed)
            lower[block.start:block.stop] = upper[block.start:block.stop] = fixed
    common, deviation = n + np.arange(groups), n + groups + np.arange(pairs)
    share, across = n + groups + pairs + np.arange(sources), n + groups + pairs + sources + np.arange(groups)
    money = built.funding.money[terms.classes, terms.sources]  # pairs x periods
    periods = money.shape[1]
    pair_rows = np.repeat(np.arange(pairs), periods)
    rows = np.concatenate([pair_rows, np.arange(pairs), np.arange(pairs)])
    cols = np.concatenate([money.ravel(), common[terms.group], deviation])
    below = sp.csr_matrix((np.concatenate([np.ones(pairs * periods), -terms.cost, -np.ones(pairs)]), (rows, cols)), shape=(pairs, width))
    above = sp.csr_matrix((np.concatenate([np.ones(pairs * periods), -terms.cost, np.ones(pairs)]), (rows, cols)), shape=(pairs, width))
    # layer 2, in 万元: m_G C_G - n_s C_G -/+ e_G
    group_cost = np.bincount(terms.group, weights=terms.cost, minlength=groups)
    group_source = np.zeros(groups, dtype=np.int64)
    group_source[terms.group] = terms.sources
    g = np.arange(groups)
    rows2, cols2 = np.tile(g, 3), np.concatenate([common, share[group_source], across])
    below2 = sp.csr_matrix((np.concatenate([group_cost, -group_cost, -np.ones(groups)]), (rows2, cols2)), shape=(groups, width))
    above2 = sp.csr_matrix((np.concatenate([group_cost, -group_cost, np.ones(groups)]), (rows2, cols2)), shape=(groups, width))
    optimum = float(linear.c @ values)
    held = sp.csr_matrix(np.concatenate([linear.c, np.zeros(width - n)])[None, :])
    A = sp.vstack([sp.hstack([linear.A, sp.csr_matrix((linear.num_rows, width - n))]), held, below, above, below2, above2], format="csr")
    inf = np.full(pairs, np.inf)
    inf2 = np.full(groups, np.inf)
    c = np.concatenate([tie_weights(built), np.zeros(groups), np.ones(pairs), np.zeros(sources), np.full(groups, ACROSS_WEIGHT)])
    return replace(
        linear, A=A, c=c, offset=0.0, objective_sign=1.0,
        row_lower=np.concatenate([linear.row_lower, [-np.inf], -inf, np.zeros(pairs), -inf2, np.zeros(groups)]),
        row_upper=np.concatenate([linear.row_upper, [optimum + OBJECTIVE_TOLERANCE * max(1.0, abs(optimum))], np.zeros(pairs), inf,
                                  np.zeros(groups), inf2]),
        col_lower=np.concatenate([lower, np.zeros(width - n)]),
        col_upper=np.concatenate([upper, np.ones(groups), inf, np.ones(sources), inf2]),
        integer=np.zeros(width, dtype=bool),
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
        deadline.note(f"split: the second stage (even shares across provinces, then a tie rule) ended {second.status.value}; the first "
                      "solve's split was kept")
        return solution
    n, groups, pairs = linear.num_cols, len(terms.labels), len(terms.classes)
    # only the money columns move: the others keep the first solve's values, so its objective is reported to the digit
    money = built.funding.money[built.funding.money >= 0]
    values, common = solution.values.copy(), second.values[n: n + groups]
    values[money] = second.values[money]
    shares = second.values[n + groups + pairs: n + groups + pairs + len(built.rules.scenario.sources)]
    details = {**solution.details, "split": {**spread(built, values, terms, common, binding_rows(built, values, terms)),
                                             "source_shares": {key: round(float(v), 6) + 0.0
                                                               for key, v in zip(built.rules.scenario.sources, shares)}}}
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

"""Capped benefit ([objective.by_type.<type>] cap): each resident is counted once per type and region.

Per region r with candidates of a capped type t, a variable b_{r,t} in [0, cap_r] and a row
``b_{r,t} - sum_p benefit_p x_p <= 0`` over the type's projects in r; the objective maximises b instead of
the projects' own benefit, so a region's benefit from t is min(cap_r, sum of its funded projects' benefit).
With several start years x_p is the sum of the project's starts (it starts at most once); the parser refuses a cap
with a discount rate, so every start counts the same.
"""

from __future__ import annotations

import numpy as np

from allocator.model.arrays import ColumnKind, ModelBuilder, RowKind
from allocator.model.funding import Funding
from allocator.rules import Rules


def capped_projects(rules: Rules) -> np.ndarray:
    """Per project: is its benefit counted through its region's capped benefit?"""
    mask = np.zeros(len(rules.data.projects), dtype=bool)
    for cap in rules.benefit_caps:
        mask[cap.projects] = True
    return mask


def add_capped_benefit(builder: ModelBuilder, rules: Rules, funding: Funding, discount: float) -> None:
    """The b_{r,t} columns (objective -discount each) and their BENEFIT_CAP rows, one block per capped type."""
    for cap in rules.benefit_caps:
        count = len(cap.cap)
        columns = builder.add_variables(ColumnKind.BENEFIT, count, key=cap.type, upper=cap.cap, labels=cap.regions)
        builder.add_objective(columns, -discount)
        starts = funding.start.shape[1]
        rows = np.concatenate([np.arange(count), np.repeat(cap.group, starts)])
        cols = np.concatenate([columns, funding.start[cap.projects].ravel()])
        vals = np.concatenate([np.ones(count), np.repeat(-rules.benefit[cap.projects], starts)])
        builder.add_rows(RowKind.BENEFIT_CAP, count, rows, cols, vals, key=cap.type, upper=0.0, labels=cap.regions)

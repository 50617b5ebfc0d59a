"""What project statuses and a reference plan add: one row per project that must be funded (must_fund,
continuing, kept from the reference) or may not be (exclude), and the churn penalty in the objective.

A status is a bound on the project's selection, written as a row of its own (not a column bound) so
the infeasibility diagnosis can let it give and name the projects.
"""

from __future__ import annotations

import numpy as np

from allocator.model.arrays import ModelBuilder, RowKind
from allocator.model.funding import Funding
from allocator.rules import Rules

#: Status -> (lower, upper) bound on a project's selection summed over its start periods.
STATUS_BOUNDS = {"must_fund": (1.0, 1.0), "continuing": (1.0, 1.0), "exclude": (0.0, 0.0)}


def add_status_rows(builder: ModelBuilder, rules: Rules, funding: Funding) -> None:
    """One block per status, then one for the projects kept from the reference plan."""
    for status, (lower, upper) in STATUS_BOUNDS.items():
        _selection_rows(builder, funding, rules.status_mask(status), RowKind.STATUS, status, lower, upper, rules)
    _selection_rows(builder, funding, rules.kept & ~rules.status_mask("exclude"), RowKind.KEEP, "", 1.0, 1.0, rules)


def _selection_rows(builder: ModelBuilder, funding: Funding, mask: np.ndarray, kind: RowKind, key: str, lower: float,
                    upper: float, rules: Rules) -> None:
    """lower <= sum_y x_{p,y} <= upper for each project in `mask`, labelled by project_id."""
    if not mask.any():
        return
    projects, cols = funding.selection_terms(mask)
    row_of = np.full(len(mask), -1, dtype=np.int64)
    row_of[mask] = np.arange(int(mask.sum()))
    ids = rules.data.projects["project_id"].to_numpy(dtype=object)[mask]
    builder.add_rows(kind, int(mask.sum()), row_of[projects], cols, np.ones(len(cols)), key=key, lower=lower, upper=upper, labels=ids)


def add_churn_penalty(builder: ModelBuilder, rules: Rules, funding: Funding) -> None:
    """Objective: pay ``churn_penalty`` per project added to or dropped from the reference plan.

    churn = sum over reference projects of (1 - z_p) + sum over the others of z_p; the minimised objective
    gains ``penalty x churn`` whatever the sense, so the reported objective is lowered (benefit) or raised (cost).
    """
    penalty = rules.scenario.stability.churn_penalty
    reference = rules.data.reference
    if reference is None or penalty <= 0:
        return
    projects, cols = funding.selection_terms()
    builder.add_objective(cols, np.where(reference.funded[projects], -penalty, penalty))
    builder.offset += penalty * float(reference.funded.sum())

"""What ``[objective] raise_lowest`` adds: a floor column t and, per group of the indicator, t <= the group's value.

The rows are t - sum_p (c_p / D_g) x_p <= B_g / D_g (as the indicator's own rows, counting projects completed by its
deadline). The floor costs nothing in the objective: :mod:`allocator.floor` first maximises it alone, then fixes it.
"""

from __future__ import annotations

import numpy as np

from allocator.model.arrays import ColumnKind, ModelBuilder, RowKind
from allocator.model.funding import Funding
from allocator.rules import Rules


def add_floor(builder: ModelBuilder, rules: Rules, funding: Funding) -> None:
    name = rules.scenario.raise_lowest
    if name is None:
        return
    groups = rules.indicator_groups_for(rules.scenario.indicators[name])
    active = np.flatnonzero(groups.denominator > 0)
    row_of_group = np.full(len(groups.labels), -1)
    row_of_group[active] = np.arange(len(active))
    member = (row_of_group[groups.group_of_project] >= 0) & (groups.contribution != 0)
    projects, cols = funding.selection_terms(member, completed_by=groups.deadline)
    group = groups.group_of_project[projects]
    floor = builder.add_variables(ColumnKind.FLOOR, 1, key=name, lower=-np.inf)
    rows = np.concatenate([row_of_group[group], np.arange(len(active))])
    columns = np.concatenate([cols, np.repeat(floor, len(active))])
    values = np.concatenate([-groups.contribution[projects] / groups.denominator[group], np.ones(len(active))])
    builder.add_rows(RowKind.FLOOR, len(active), rows, columns, values, key=name,
                     upper=groups.baseline[active] / groups.denominator[active], labels=groups.labels[active])

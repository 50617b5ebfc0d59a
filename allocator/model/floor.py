"""What ``[objective] raise_lowest`` adds: a floor column t and, per group of the indicator, t <= the group's value.

The rows are t - sum_p (c_p / D_g) x_p <= B_g / D_g (as the indicator's own rows, counting projects completed by its
deadline). The floor costs nothing in the objective: :mod:`allocator.floor` first maximises it alone, then fixes it.
"""

from __future__ import annotations

import numpy as np

from allocator.model.arrays import ColumnKind, ModelBuilder, RowKind
from allocator.model.funding import Funding
from allocator.model.targets import group_terms
from allocator.rules import Rules


def add_floor(builder: ModelBuilder, rules: Rules, funding: Funding) -> None:
    name = rules.scenario.raise_lowest
    if name is None:
        return
    terms = group_terms(rules.indicator_groups_for(rules.scenario.indicators[name]), funding)
    count = len(terms.labels)
    floor = builder.add_variables(ColumnKind.FLOOR, 1, key=name, lower=-np.inf)
    rows = np.concatenate([terms.rows, np.arange(count)])
    columns = np.concatenate([terms.cols, np.repeat(floor, count)])
    values = np.concatenate([-terms.share, np.ones(count)])
    builder.add_rows(RowKind.FLOOR, count, rows, columns, values, key=name, upper=terms.level, labels=terms.labels)

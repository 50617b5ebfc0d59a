"""What regional balance adds: the share of a source (or of all money) going to some zones or provinces."""

from __future__ import annotations

import numpy as np

from allocator.model.arrays import INF, ModelBuilder, RowKind
from allocator.model.funding import Funding
from allocator.rules import Rules


def add_shares(builder: ModelBuilder, rules: Rules, funding: Funding) -> None:
    """min * total <= money to the members <= max * total, written as sum (1[member] - bound) * money."""
    for rule in rules.scenario.shares.values():
        inside, cols, coefs = funding.money_terms(rules.share_members(rule).astype(np.int64), rules.share_sources(rule))
        for bound, kind, lower, upper in ((rule.min, RowKind.SHARE_MIN, 0.0, INF), (rule.max, RowKind.SHARE_MAX, -INF, 0.0)):
            if bound is None or (kind is RowKind.SHARE_MIN and bound == 0) or (kind is RowKind.SHARE_MAX and bound == 1):
                continue
            builder.add_rows(kind, 1, np.zeros(len(cols)), cols, coefs * (inside - bound), key=rule.name, lower=lower, upper=upper)

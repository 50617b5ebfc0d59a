"""What regional balance adds: the share of a source (or of all money) going to some zones or provinces, and the money
per resident of each province or zone."""

from __future__ import annotations

import numpy as np

from allocator.model.arrays import INF, ModelBuilder, RowKind
from allocator.model.funding import Funding
from allocator.rules import Rules

#: 元 in a 万元.
YUAN_PER_WAN = 10_000.0


def add_shares(builder: ModelBuilder, rules: Rules, funding: Funding) -> None:
    """min * total <= money to the members <= max * total, written as sum (1[member] - bound) * money."""
    for rule in rules.scenario.shares.values():
        inside, cols, coefs = funding.money_terms(rules.share_members(rule).astype(np.int64), rules.share_sources(rule))
        for bound, kind, lower, upper in ((rule.min, RowKind.SHARE_MIN, 0.0, INF), (rule.max, RowKind.SHARE_MAX, -INF, 0.0)):
            if bound is None or (kind is RowKind.SHARE_MIN and bound == 0) or (kind is RowKind.SHARE_MAX and bound == 1):
                continue
            builder.add_rows(kind, 1, np.zeros(len(cols)), cols, coefs * (inside - bound), key=rule.name, lower=lower, upper=upper)


def add_per_resident(builder: ModelBuilder, rules: Rules, funding: Funding) -> None:
    """min x residents_g / 10,000 <= money of the rule's source(s) in group g (万元) <= max x residents_g / 10,000, for
    every province or zone with residents."""
    for rule in rules.scenario.per_resident.values():
        group, labels, residents = rules.per_resident_groups(rule)
        counted = np.flatnonzero(residents > 0)
        row_of_group = np.full(len(labels), -1)
        row_of_group[counted] = np.arange(len(counted))
        found, cols, coefs = funding.money_terms(row_of_group[group], rules.share_sources(rule))
        keep = found >= 0
        for bound, kind in ((rule.min, RowKind.PER_RESIDENT_MIN), (rule.max, RowKind.PER_RESIDENT_MAX)):
            if bound is None or (kind is RowKind.PER_RESIDENT_MIN and bound == 0):
                continue
            limit = bound * residents[counted] / YUAN_PER_WAN
            lower, upper = (limit, INF) if kind is RowKind.PER_RESIDENT_MIN else (-INF, limit)
            builder.add_rows(kind, len(counted), found[keep], cols[keep], coefs[keep], key=rule.name, lower=lower, upper=upper,
                             labels=labels[counted])

"""What regional balance adds: the share of a source (or of all money) going to some zones or provinces."""

from __future__ import annotations

import numpy as np

from allocator.data import Data
from allocator.model.arrays import ModelBuilder
from allocator.model.funding import Funding
from allocator.model.scopes import member_mask, project_groups
from allocator.scenario import ALL_SOURCES, Scenario


def add_shares(builder: ModelBuilder, scenario: Scenario, data: Data, funding: Funding) -> None:
    """min * total <= money to the members <= max * total, written as sum (1[member] - bound) * money."""
    keys = list(scenario.sources)
    for rule in scenario.shares.values():
        sources = list(range(len(keys))) if rule.source == ALL_SOURCES else [keys.index(rule.source)]
        group_of_project, labels = project_groups(data, rule.level)
        groups, cols, coefs = funding.money_terms(group_of_project, sources)
        inside = member_mask(labels, rule.members)[groups].astype(float)
        for bound, name, limits in ((rule.min, "min", {"lower": 0.0}), (rule.max, "max", {"upper": 0.0})):
            if bound is None or (name == "min" and bound == 0) or (name == "max" and bound == 1):
                continue
            builder.add_rows(f"share_{name}:{rule.name}", 1, np.zeros(len(cols)), cols, coefs * (inside - bound), **limits)

"""Classes of projects that share every money rule, so money can be modelled once per class.

Full funding, matching ratios and share-of-cost caps are homogeneous in (money, cost x selection): a
project's feasible money set is ``cost_p * Q`` for one polytope ``Q`` of its class, so the sum over a
class is ``(sum of cost_p x_p) * Q`` and any class solution splits back to projects in proportion to
cost, meeting every per-project rule (docs/formulation.md proves it). Rules that are not homogeneous
(an absolute per-project cap below the cost) get a class of their own; projects with a declared
funding plan need no money variables at all. A subsidy standard is homogeneous once it is read as a
share of cost (an amount over the cost), so projects of a class also share the standard's share of
every source: a fixed share keeps (type, zone, province) classes whole, a fixed amount splits them by cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocator.rules import Rules
from allocator.scenario import Scenario


@dataclass(frozen=True)
class RuleClasses:
    """``of_project[p]`` is p's class (-1 for a declared plan); per-class arrays are indexed by class."""

    of_project: np.ndarray
    first_member: np.ndarray
    eligible: np.ndarray  # classes x sources, bool
    by_region: bool

    @property
    def count(self) -> int:
        return len(self.first_member)


def needs_region_classes(scenario: Scenario) -> bool:
    """Money rules that differ region by region force classes per region."""
    return any(
        (s.capacity is not None and s.capacity.by == "region") or (s.matching is not None and s.matching.ratio_column)
        for s in scenario.sources.values()
    )


def rule_classes(rules: Rules) -> RuleClasses:
    """Group projects by (type, zone, province[, region]) and the share each standard fixes, splitting off projects
    whose cap binds."""
    projects = rules.data.projects
    n = len(projects)
    declared = rules.declared
    binding_cap = ((rules.absolute_caps < projects["cost"].to_numpy()[:, None]) & rules.eligible).any(axis=1)
    by_region = needs_region_classes(rules.scenario)
    keys = pd.DataFrame({
        "type": projects["type"].cat.codes.to_numpy(),
        "zone": projects["zone"].to_numpy(),
        "province": projects["province"].to_numpy(),
        "region": projects["region"].to_numpy() if by_region else 0,
        "own": np.where(binding_cap, np.arange(n), -1),
        **_standard_keys(rules),
    })
    of_project = keys[~declared].groupby(list(keys.columns), sort=True).ngroup().to_numpy()
    classes = np.full(n, -1, dtype=np.int64)
    classes[~declared] = of_project
    count = int(of_project.max()) + 1 if of_project.size else 0
    first_member = np.full(count, -1, dtype=np.int64)
    members = np.flatnonzero(~declared)
    first_member[of_project[::-1]] = members[::-1]
    return RuleClasses(of_project=classes, first_member=first_member, eligible=rules.eligible[first_member], by_region=by_region)


def _standard_keys(rules: Rules) -> dict[str, np.ndarray]:
    """Per source with a standard: each project's fixed share as a class key (-1 where none applies), rounded to 12
    decimals so that shares differing only by float noise share a class."""
    shares = rules.standard_share
    return {f"standard{s}": np.where(np.isnan(shares[:, s]), -1.0, np.round(shares[:, s], 12))
            for s, source in enumerate(rules.sources) if source.standard is not None}

"""The objective: maximise weighted benefit of funded projects (discounted by completion year when
phased), or minimise the money spent.

A type with a benefit cap counts, per region, at most the cap (allocator/model/benefit.py).
Soft-target penalties were already added, as costs, by the targets that own the shortfall variables.
"""

from __future__ import annotations

import numpy as np

from allocator.model.arrays import ModelBuilder
from allocator.model.benefit import add_capped_benefit, capped_projects
from allocator.model.funding import Funding
from allocator.rules import Rules
from allocator.scenario import Phasing


def _discount(phasing: Phasing, starts: int) -> np.ndarray:
    """Per start period, the weight of benefit completed from that start: 1/(1+r)^(completion - first year)."""
    completion = np.arange(starts) + phasing.duration - 1
    return (1.0 + phasing.discount_rate) ** -completion.astype(float)


def add_objective(builder: ModelBuilder, rules: Rules, funding: Funding) -> float:
    """Add the objective terms; returns the sign that turns the minimised value into the reported one."""
    scenario = rules.scenario
    phasing = scenario.phasing
    if scenario.sense == "max_benefit":
        discount = _discount(phasing, phasing.starts)
        own = np.where(capped_projects(rules), 0.0, rules.benefit)
        builder.add_objective(funding.start.ravel(), -np.outer(own, discount).ravel())
        add_capped_benefit(builder, rules, funding, float(discount[0]))
        return -1.0
    builder.add_objective(funding.money[funding.money >= 0], 1.0)
    declared_cost = rules.requests.sum(axis=1) * rules.declared
    builder.add_objective(funding.start.ravel(), np.repeat(declared_cost, phasing.starts))
    return 1.0


def benefit_by_type(rules: Rules, starts: np.ndarray) -> dict[str, float]:
    """Per project type, the (discounted) benefit it adds to the objective on an allocation: a capped type counts
    min(cap, its funded benefit) per region. `starts` is projects x start periods."""
    discounted = starts @ _discount(rules.scenario.phasing, starts.shape[1])
    gained = rules.benefit * discounted
    types = rules.data.projects["type"].astype(str).to_numpy()
    totals = {name: float(gained[types == name].sum()) for name in rules.scenario.types}
    for cap in rules.benefit_caps:
        per_region = np.bincount(cap.group, weights=gained[cap.projects], minlength=len(cap.cap))
        totals[cap.type] += float(np.minimum(per_region, cap.cap).sum() - per_region.sum())
    return totals


def objective_value(rules: Rules, starts: np.ndarray, money: np.ndarray) -> float:
    """The model's objective, in the scenario's own sense, evaluated on any allocation.

    `starts` is projects x start periods (one column for an unphased plan), `money` projects x sources
    (万元). The terms are those of :func:`add_objective` and the soft targets' penalties: a shortfall is
    ``max(0, target - achieved)`` per group with a denominator, counting projects completed by the deadline.
    """
    scenario = rules.scenario
    phasing = scenario.phasing
    penalty = 0.0
    for groups in rules.indicator_groups:
        indicator = groups.indicator
        if indicator.hard:
            continue
        achieved = groups.achieved(phasing.completed(starts, groups.deadline))[groups.denominator > 0]
        penalty += indicator.penalty * float(np.maximum(indicator.target - achieved, 0.0).sum())
    if scenario.sense == "max_benefit":
        return sum(benefit_by_type(rules, starts).values()) - penalty
    return float(money.sum()) + penalty

"""The objective: maximise weighted benefit of funded projects (discounted by completion year when
phased), or minimise the money spent.

Soft-target penalties were already added, as costs, by the targets that own the shortfall variables.
"""

from __future__ import annotations

import numpy as np

from allocator.model.arrays import ModelBuilder
from allocator.model.funding import Funding
from allocator.rules import Rules


def benefit_per_project(rules: Rules) -> np.ndarray:
    """sum over benefit columns of weight x column value, per project."""
    projects = rules.data.projects
    benefit = np.zeros(len(projects))
    for column, weight in rules.scenario.benefit.items():
        benefit += weight * projects[column].to_numpy(dtype=float)
    return benefit


def add_objective(builder: ModelBuilder, rules: Rules, funding: Funding) -> float:
    """Add the objective terms; returns the sign that turns the minimised value into the reported one."""
    scenario = rules.scenario
    phasing = scenario.phasing
    if scenario.sense == "max_benefit":
        completion = np.arange(phasing.starts) + phasing.duration - 1
        discount = (1.0 + phasing.discount_rate) ** -completion.astype(float)
        builder.add_objective(funding.start.ravel(), -np.outer(benefit_per_project(rules), discount).ravel())
        return -1.0
    builder.add_objective(funding.money[funding.money >= 0], 1.0)
    declared_cost = funding.requests.sum(axis=1) * funding.declared
    builder.add_objective(funding.start.ravel(), np.repeat(declared_cost, phasing.starts))
    return 1.0


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
        completion = np.arange(starts.shape[1]) + phasing.duration - 1
        discounted = starts @ (1.0 + phasing.discount_rate) ** -completion.astype(float)
        return float(benefit_per_project(rules) @ discounted) - penalty
    return float(money.sum()) + penalty

"""The objective: maximise weighted benefit of funded projects (discounted by completion year when
phased), or minimise the money spent.

Soft-target penalties were already added, as costs, by the targets that own the shortfall variables.
"""

from __future__ import annotations

import numpy as np

from allocator.data import Data
from allocator.model.arrays import ModelBuilder
from allocator.model.funding import Funding
from allocator.scenario import Scenario


def benefit_per_project(scenario: Scenario, data: Data) -> np.ndarray:
    """sum over benefit columns of weight x column value, per project."""
    benefit = np.zeros(len(data.projects))
    for column, weight in scenario.benefit.items():
        benefit += weight * data.projects[column].to_numpy(dtype=float)
    return benefit


def add_objective(builder: ModelBuilder, scenario: Scenario, data: Data, funding: Funding) -> float:
    """Add the objective terms; returns the sign that turns the minimised value into the reported one."""
    phasing = scenario.phasing
    if scenario.sense == "max_benefit":
        completion = np.arange(phasing.starts) + phasing.duration - 1
        discount = (1.0 + phasing.discount_rate) ** -completion.astype(float)
        builder.add_objective(funding.start.ravel(), -np.outer(benefit_per_project(scenario, data), discount).ravel())
        return -1.0
    builder.add_objective(funding.money[funding.money >= 0], 1.0)
    declared_cost = funding.requests.sum(axis=1) * funding.declared
    builder.add_objective(funding.start.ravel(), np.repeat(declared_cost, phasing.starts))
    return 1.0

"""The objective: maximise weighted benefit of funded projects, or minimise the money spent.

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
    if scenario.sense == "max_benefit":
        builder.add_objective(funding.select, -benefit_per_project(scenario, data))
        return -1.0
    money_cols = funding.money[funding.money >= 0]
    builder.add_objective(money_cols, 1.0)
    builder.add_objective(funding.select, funding.requests.sum(axis=1) * funding.declared)
    return 1.0

"""Build the allocation model from a scenario and its data, as arrays (see docs/formulation.md)."""

from __future__ import annotations

from dataclasses import dataclass

from allocator.data import Data
from allocator.model.arrays import LinearModel, ModelBuilder
from allocator.model.balance import add_shares
from allocator.model.funding import Funding, add_funding
from allocator.model.objective import add_objective
from allocator.model.targets import IndicatorGroups, add_counts, add_indicators, add_min_per_region
from allocator.scenario import Scenario


@dataclass(frozen=True)
class BuiltModel:
    """The linear model and the handles that map its columns back to projects, classes and groups."""

    linear: LinearModel
    funding: Funding
    indicators: list[IndicatorGroups]


def build(scenario: Scenario, data: Data) -> BuiltModel:
    """One pass over the rules; nothing here reads files or knows about solvers."""
    builder = ModelBuilder()
    funding = add_funding(builder, scenario, data)
    add_counts(builder, scenario, data, funding)
    add_min_per_region(builder, scenario, data, funding)
    indicators = add_indicators(builder, scenario, data, funding)
    add_shares(builder, scenario, data, funding)
    sign = add_objective(builder, scenario, data, funding)
    return BuiltModel(linear=builder.build(objective_sign=sign), funding=funding, indicators=indicators)


__all__ = ["BuiltModel", "build"]

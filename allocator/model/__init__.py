"""Build the allocation model from a scenario and its data, as arrays (see docs/formulation.md)."""

from __future__ import annotations

from dataclasses import dataclass

from allocator.data import Data
from allocator.model.arrays import LinearModel, ModelBuilder
from allocator.model.balance import add_per_resident, add_shares
from allocator.model.floor import add_floor
from allocator.model.funding import Funding, add_funding
from allocator.model.objective import add_objective
from allocator.model.status import add_churn_penalty, add_status_rows
from allocator.model.targets import add_counts, add_indicators, add_min_per_region, add_zone_gaps
from allocator.rules import Rules
from allocator.scenario import Scenario


@dataclass(frozen=True)
class BuiltModel:
    """The linear model, the handles that map its columns back to projects and classes, and the rules it was built from."""

    linear: LinearModel
    funding: Funding
    rules: Rules


def formulate(scenario: Scenario, data: Data) -> BuiltModel:
    """The scenario's rules as one linear model, in one pass; nothing here reads files or knows about solvers
    (:func:`allocator.solve.build` is the public step that also reads and checks the data)."""
    rules = Rules(scenario, data)
    builder = ModelBuilder()
    funding = add_funding(builder, rules)
    add_counts(builder, rules, funding)
    add_min_per_region(builder, rules, funding)
    add_indicators(builder, rules, funding)
    add_zone_gaps(builder, rules, funding)
    add_shares(builder, rules, funding)
    add_per_resident(builder, rules, funding)
    add_floor(builder, rules, funding)
    add_status_rows(builder, rules, funding)
    sign = add_objective(builder, rules, funding)
    add_churn_penalty(builder, rules, funding)
    return BuiltModel(linear=builder.build(objective_sign=sign), funding=funding, rules=rules)


__all__ = ["BuiltModel", "formulate"]

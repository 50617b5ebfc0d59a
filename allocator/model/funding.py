"""What the funding rules add: selection, money per class and source, full funding, matching, caps,
budgets and per-province (or per-region) capacities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocator.data import Data
from allocator.model.arrays import ModelBuilder
from allocator.model.classes import RuleClasses, absolute_caps, eligibility, rule_classes
from allocator.model.scopes import project_groups, region_groups
from allocator.scenario import Scenario


@dataclass(frozen=True)
class Funding:
    """Handles into the model: where each project's selection and each class's money live."""

    select: np.ndarray  # per project: column of x_p
    money: np.ndarray  # classes x sources: column of F_{k,s}, -1 where s may not fund class k
    classes: RuleClasses
    requests: np.ndarray  # projects x sources, 万元; zero rows for projects without a declared plan
    declared: np.ndarray  # per project: funded by its declared plan
    fundable: np.ndarray  # per project: some source may fund it
    caps: np.ndarray  # projects x sources: absolute cap (万元, inf where none)

    def money_terms(self, group_of_project: np.ndarray, sources: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Triplets (group, column, coefficient) of the money of `sources` in each group of projects.

        Valid for any grouping that rule classes do not straddle (zone, province; region when the
        classes are per region).
        """
        class_group = group_of_project[self.classes.first_member]
        groups, cols, coefs = [], [], []
        for s in sources:
            has = self.money[:, s] >= 0
            groups.append(class_group[has])
            cols.append(self.money[has, s])
            coefs.append(np.ones(int(has.sum())))
            planned = self.declared & (self.requests[:, s] > 0)
            groups.append(group_of_project[planned])
            cols.append(self.select[planned])
            coefs.append(self.requests[planned, s])
        return np.concatenate(groups), np.concatenate(cols), np.concatenate(coefs)


def add_funding(builder: ModelBuilder, scenario: Scenario, data: Data) -> Funding:
    projects = data.projects
    source_keys = list(scenario.sources)
    eligible = eligibility(scenario, data)
    caps = absolute_caps(scenario, data)
    classes = rule_classes(scenario, data, eligible, caps)
    requests = _requests(scenario, data)
    declared = projects["declared"].to_numpy() if "declared" in projects else np.zeros(len(projects), dtype=bool)
    fundable = declared | eligible.any(axis=1)

    select = builder.add_variables(
        "select", len(projects), upper=fundable.astype(float), integer=scenario.selection == "binary",
        labels=projects["project_id"].to_numpy(dtype=object),
    )
    k_idx, s_idx = np.nonzero(classes.eligible)
    money = np.full(classes.eligible.shape, -1, dtype=np.int64)
    money[k_idx, s_idx] = builder.add_variables(
        "money", len(k_idx), labels=np.array([f"class{k}:{source_keys[s]}" for k, s in zip(k_idx, s_idx)], dtype=object),
    )
    funding = Funding(select=select, money=money, classes=classes, requests=requests, declared=declared, fundable=fundable, caps=caps)
    cost = projects["cost"].to_numpy()
    class_cost_rows, class_cost_cols, class_cost = _class_cost_terms(funding, cost)

    _full_funding(builder, funding, class_cost_rows, class_cost_cols, class_cost)
    _matching(builder, scenario, data, funding)
    _share_caps(builder, scenario, data, funding, class_cost_rows, class_cost_cols, class_cost)
    _absolute_caps(builder, funding, cost)
    _budgets(builder, scenario, funding)
    _capacities(builder, scenario, data, funding)
    return funding


def _requests(scenario: Scenario, data: Data) -> np.ndarray:
    columns = data.request_columns()
    requests = np.zeros((len(data.projects), len(scenario.sources)))
    for s, key in enumerate(scenario.sources):
        if key in columns:
            requests[:, s] = data.projects[columns[key]].to_numpy(dtype=float)
    return requests


def _class_cost_terms(funding: Funding, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triplets of ``sum over class members of cost_p x_p``: (class, column of x_p, cost_p)."""
    members = np.flatnonzero(funding.classes.of_project >= 0)
    return funding.classes.of_project[members], funding.select[members], cost[members]


def _full_funding(builder: ModelBuilder, funding: Funding, rows: np.ndarray, cols: np.ndarray, cost: np.ndarray) -> None:
    """sum_s F_{k,s} = sum_{p in k} cost_p x_p for every class k."""
    k_idx, s_idx = np.nonzero(funding.money >= 0)
    builder.add_rows(
        "full_funding", funding.classes.count,
        np.concatenate([k_idx, rows]), np.concatenate([funding.money[k_idx, s_idx], cols]),
        np.concatenate([np.ones(len(k_idx)), -cost]), lower=0.0, upper=0.0,
    )


def matching_ratio(scenario: Scenario, data: Data, source_key: str, region_of: np.ndarray) -> np.ndarray:
    """The matching ratio of `source_key` for projects (or classes) in the regions `region_of`."""
    matching = scenario.sources[source_key].matching
    assert matching is not None
    if matching.ratio is not None:
        return np.full(len(region_of), matching.ratio)
    if matching.ratio_by_zone is not None:
        zone = data.regions["zone"].to_numpy(dtype=object)[region_of]
        return np.array([matching.ratio_by_zone[z] for z in zone], dtype=float)
    return data.regions[matching.ratio_column].to_numpy(dtype=float)[region_of]


def _matching(builder: ModelBuilder, scenario: Scenario, data: Data, funding: Funding) -> None:
    """F_{k,m} >= ratio_k * sum_{s in of} F_{k,s}: the matching source keeps pace with the others."""
    keys = list(scenario.sources)
    class_region = data.projects["region"].to_numpy()[funding.classes.first_member]
    for m, source in enumerate(scenario.sources.values()):
        if source.matching is None:
            continue
        ratio = matching_ratio(scenario, data, source.key, class_region)
        of = [keys.index(other) for other in source.matching.of]
        rows, cols, vals = [], [], []
        for s, sign in [(m, 1.0)] + [(o, -1.0) for o in of]:
            has = (funding.money[:, s] >= 0) & (ratio > 0)
            rows.append(np.flatnonzero(has))
            cols.append(funding.money[has, s])
            vals.append(np.full(int(has.sum()), 1.0) if sign > 0 else -ratio[has])
        builder.add_rows(f"matching:{source.key}", funding.classes.count, np.concatenate(rows), np.concatenate(cols),
                         np.concatenate(vals), lower=0.0)


def _share_caps(builder: ModelBuilder, scenario: Scenario, data: Data, funding: Funding,
                cost_rows: np.ndarray, cost_cols: np.ndarray, cost: np.ndarray) -> None:
    """F_{k,s} <= alpha * sum_{p in k} cost_p x_p: a source pays at most a share of its projects' cost."""
    class_type = data.projects["type"].astype(str).to_numpy()[funding.classes.first_member]
    for s, source in enumerate(scenario.sources.values()):
        alpha = np.array([source.max_share_of_cost.get(t, 1.0) for t in class_type]) if len(class_type) else np.zeros(0)
        capped = (funding.money[:, s] >= 0) & (alpha < 1.0)
        if not capped.any():
            continue
        member = capped[cost_rows]
        rows = np.concatenate([np.flatnonzero(capped), cost_rows[member]])
        cols = np.concatenate([funding.money[capped, s], cost_cols[member]])
        vals = np.concatenate([np.ones(int(capped.sum())), -alpha[cost_rows[member]] * cost[member]])
        builder.add_rows(f"share_cap:{source.key}", funding.classes.count, rows, cols, vals, upper=0.0)


def _absolute_caps(builder: ModelBuilder, funding: Funding, cost: np.ndarray) -> None:
    """F_{k,s} <= cap * x_p for the one-project classes whose cap is below their cost."""
    first = funding.classes.first_member
    binding = (funding.caps[first] < cost[first, None]) & (funding.money >= 0)
    k_idx, s_idx = np.nonzero(binding)
    if not len(k_idx):
        return
    count = len(k_idx)
    builder.add_rows(
        "absolute_cap", count, np.concatenate([np.arange(count)] * 2),
        np.concatenate([funding.money[k_idx, s_idx], funding.select[first[k_idx]]]),
        np.concatenate([np.ones(count), -funding.caps[first[k_idx], s_idx]]), upper=0.0,
    )


def _budgets(builder: ModelBuilder, scenario: Scenario, funding: Funding) -> None:
    """min_spend_s <= money of source s <= budget_s."""
    everyone = np.zeros(len(funding.select), dtype=np.int64)
    for s, source in enumerate(scenario.sources.values()):
        _, cols, coefs = funding.money_terms(everyone, [s])
        builder.add_rows(f"budget:{source.key}", 1, np.zeros(len(cols)), cols, coefs,
                         lower=source.min_spend if source.min_spend > 0 else -np.inf, upper=source.budget)


def _capacities(builder: ModelBuilder, scenario: Scenario, data: Data, funding: Funding) -> None:
    """Money of a source in each province (or region) <= the capacity column summed over its regions."""
    for s, source in enumerate(scenario.sources.values()):
        if source.capacity is None:
            continue
        of_region, labels = region_groups(data, source.capacity.by)
        limit = np.bincount(of_region, weights=data.regions[source.capacity.column].to_numpy(dtype=float), minlength=len(labels))
        group_of_project, _ = project_groups(data, source.capacity.by)
        rows, cols, coefs = funding.money_terms(group_of_project, [s])
        builder.add_rows(f"capacity:{source.key}", len(labels), rows, cols, coefs, upper=limit, labels=labels)

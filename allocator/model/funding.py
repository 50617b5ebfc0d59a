"""What the funding rules add: selection (a start year per project), money per class, source and year,
full funding, matching, caps, subsidy standards, budgets and per-province (or per-region) capacities.

Without ``[phasing]`` there is one period and one start per project: the single-year model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from allocator.model.arrays import INF, ColumnKind, ModelBuilder, RowKind
from allocator.model.classes import RuleClasses, rule_classes
from allocator.rules import Rules
from allocator.scenario import Phasing

Triplets = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Funding:
    """Handles into the model: where each project's start and each class's money live."""

    start: np.ndarray  # projects x starts: column of x_{p,y} (project p starts in period y)
    money: np.ndarray  # classes x sources x periods: column of F_{k,s,y}, -1 where s may not fund class k
    classes: RuleClasses
    rules: Rules  # the declared plans (Rules.declared, Rules.requests) are read from here
    phasing: Phasing

    def selection_terms(self, mask: np.ndarray | None = None, completed_by: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(project, column) of every start of the projects in `mask`, or only of starts completed by period `completed_by`."""
        projects = np.arange(len(self.start)) if mask is None else np.flatnonzero(mask)
        starts = np.arange(self.phasing.starts if completed_by is None else self.phasing.starts_done_by(completed_by))
        return np.repeat(projects, len(starts)), self.start[np.ix_(projects, starts)].ravel()

    def spend_terms(self, period: int, projects: np.ndarray) -> Triplets:
        """(project, column, share of cost) of what `projects` spend in `period` under the cost profile."""
        rows, cols, shares = [], [], []
        for offset, share in enumerate(self.phasing.cost_profile):
            started = period - offset
            if 0 <= started < self.phasing.starts and share > 0:
                rows.append(projects)
                cols.append(self.start[projects, started])
                shares.append(np.full(len(projects), share))
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(shares)

    def money_terms(self, group_of_project: np.ndarray, sources: list[int], periods: list[int] | None = None) -> Triplets:
        """(group, column, coefficient) of the money of `sources` in each group of projects, summed over `periods` (default all).

        Valid for any grouping that rule classes do not straddle (zone, province; region when the
        classes are per region).
        """
        periods = list(range(self.phasing.periods)) if periods is None else periods
        class_group = group_of_project[self.classes.first_member]
        planned = np.flatnonzero(self.rules.declared)
        groups, cols, coefs = [], [], []
        for s in sources:
            for y in periods:
                has = self.money[:, s, y] >= 0
                groups.append(class_group[has])
                cols.append(self.money[has, s, y])
                coefs.append(np.ones(int(has.sum())))
                projects, columns, shares = self.spend_terms(y, planned)
                groups.append(group_of_project[projects])
                cols.append(columns)
                coefs.append(self.rules.requests[projects, s] * shares)
        return np.concatenate(groups), np.concatenate(cols), np.concatenate(coefs)


def add_funding(builder: ModelBuilder, rules: Rules) -> Funding:
    scenario, projects = rules.scenario, rules.data.projects
    phasing = scenario.phasing
    source_keys = list(scenario.sources)
    classes = rule_classes(rules)

    n, starts = len(projects), phasing.starts
    ids = projects["project_id"].to_numpy(dtype=object)
    start = builder.add_variables(
        ColumnKind.SELECT, n * starts, upper=np.repeat(rules.fundable.astype(float), starts), integer=scenario.selection == "binary",
        labels=ids if starts == 1 else np.array([f"{i}@{phasing.label(y)}" for i in ids for y in range(starts)], dtype=object),
    ).reshape(n, starts)
    k_idx, s_idx = np.nonzero(classes.eligible)
    money = np.full((*classes.eligible.shape, phasing.periods), -1, dtype=np.int64)
    for y in range(phasing.periods):
        year = "" if phasing.periods == 1 else f":{phasing.label(y)}"
        money[k_idx, s_idx, y] = builder.add_variables(
            ColumnKind.MONEY, len(k_idx),
            labels=np.array([f"class{k}:{source_keys[s]}{year}" for k, s in zip(k_idx, s_idx)], dtype=object),
        )
    funding = Funding(start=start, money=money, classes=classes, rules=rules, phasing=phasing)
    cost = projects["cost"].to_numpy()
    _one_start(builder, funding, scenario.selection == "binary")
    _full_funding(builder, funding, cost)
    _matching(builder, rules, funding)
    _share_caps(builder, rules, funding)
    _standards(builder, rules, funding)
    _absolute_caps(builder, rules, funding)
    _budgets(builder, rules, funding)
    _capacities(builder, rules, funding)
    return funding


def _one_start(builder: ModelBuilder, funding: Funding, binary: bool) -> None:
    """sum_y x_{p,y} = z_p <= 1: a project starts at most once (only needed with several start years).

    The explicit "funded" variable z_p gives branch-and-bound one decision per project: without it, a
    project dropped from one year reappears in another, and the search wanders through equivalent
    year assignments.
    """
    n, starts = funding.start.shape
    if starts > 1:
        funded = builder.add_variables(ColumnKind.FUNDED, n, upper=1.0, integer=binary)
        builder.add_rows(RowKind.ONE_START, n, np.concatenate([np.repeat(np.arange(n), starts), np.arange(n)]),
                         np.concatenate([funding.start.ravel(), funded]), np.concatenate([np.ones(n * starts), -np.ones(n)]),
                         lower=0.0, upper=0.0)


def _class_spend(funding: Funding, cost: np.ndarray, period: int, weight: np.ndarray | None = None) -> Triplets:
    """(class, column, coefficient) of sum over class members of cost_p x spend share in `period` (x `weight` per class)."""
    members = np.flatnonzero(funding.classes.of_project >= 0)
    projects, cols, shares = funding.spend_terms(period, members)
    classes = funding.classes.of_project[projects]
    coefs = cost[projects] * shares * (1.0 if weight is None else weight[classes])
    return classes, cols, coefs


def _per_class_and_period(builder: ModelBuilder, kind: RowKind, funding: Funding, rows_of: Callable[[int], Triplets], *,
                          key: str = "", lower: float = -INF, upper: float = INF) -> None:
    """One row per class and period, rows numbered period-major; `rows_of(period)` gives that period's triplets."""
    count = funding.classes.count
    parts = [rows_of(y) for y in range(funding.phasing.periods)]
    rows = np.concatenate([y * count + p[0] for y, p in enumerate(parts)])
    builder.add_rows(kind, count * funding.phasing.periods, rows, np.concatenate([p[1] for p in parts]),
                     np.concatenate([p[2] for p in parts]), key=key, lower=lower, upper=upper)


def _full_funding(builder: ModelBuilder, funding: Funding, cost: np.ndarray) -> None:
    """sum_s F_{k,s,y} = sum_{p in k} cost_p x (share of p's cost spent in y), for every class k and period y."""
    k_idx, s_idx = np.nonzero(funding.classes.eligible)

    def rows_of(y: int) -> Triplets:
        classes, cols, coefs = _class_spend(funding, cost, y)
        return (np.concatenate([k_idx, classes]), np.concatenate([funding.money[k_idx, s_idx, y], cols]),
                np.concatenate([np.ones(len(k_idx)), -coefs]))

    _per_class_and_period(builder, RowKind.FULL_FUNDING, funding, rows_of, lower=0.0, upper=0.0)


def _matching(builder: ModelBuilder, rules: Rules, funding: Funding) -> None:
    """F_{k,m,y} >= ratio_k * sum_{s in of} F_{k,s,y}: the matching source keeps pace with the others."""
    keys = list(rules.scenario.sources)
    for rule in rules.matching:
        ratio = rule.ratio[funding.classes.first_member]
        terms = [(rule.source, np.ones_like(ratio))] + [(other, -ratio) for other in rule.of]

        def rows_of(y: int, terms: list[tuple[int, np.ndarray]] = terms, ratio: np.ndarray = ratio) -> Triplets:
            rows, cols, coefs = [], [], []
            for s, coef in terms:
                has = (funding.money[:, s, y] >= 0) & (ratio > 0)
                rows.append(np.flatnonzero(has))
                cols.append(funding.money[has, s, y])
                coefs.append(coef[has])
            return np.concatenate(rows), np.concatenate(cols), np.concatenate(coefs)

        _per_class_and_period(builder, RowKind.MATCHING, funding, rows_of, key=keys[rule.source], lower=0.0)


def _share_caps(builder: ModelBuilder, rules: Rules, funding: Funding) -> None:
    """F_{k,s,y} <= alpha * (class spend in y): a source pays at most a share of its projects' cost."""
    cost = rules.data.projects["cost"].to_numpy()
    for s, source in enumerate(rules.sources):
        alpha = rules.max_share_of_cost[funding.classes.first_member, s]
        capped = (funding.money[:, s, 0] >= 0) & (alpha < 1.0)
        if not capped.any():
            continue

        def rows_of(y: int, s: int = s, alpha: np.ndarray = alpha, capped: np.ndarray = capped) -> Triplets:
            classes, cols, coefs = _class_spend(funding, cost, y, weight=alpha)
            member = capped[classes]
            return (np.concatenate([np.flatnonzero(capped), classes[member]]),
                    np.concatenate([funding.money[capped, s, y], cols[member]]),
                    np.concatenate([np.ones(int(capped.sum())), -coefs[member]]))

        _per_class_and_period(builder, RowKind.SHARE_CAP, funding, rows_of, key=source.key, upper=0.0)


def _standards(builder: ModelBuilder, rules: Rules, funding: Funding) -> None:
    """F_{k,s,y} = sigma_k * (class spend in y): a subsidy standard fixes the source's money. sigma_k is the standard's
    share, or its amount over the cost (classes keep projects of one sigma together), so the row is the sum over the
    class's members of min(amount, cost) x selection: linear, and exact project by project."""
    cost = rules.data.projects["cost"].to_numpy()
    for s, source in enumerate(rules.sources):
        sigma = rules.standard_share[funding.classes.first_member, s]
        fixed = (funding.money[:, s, 0] >= 0) & ~np.isnan(sigma)
        if not fixed.any():
            continue
        sigma = np.nan_to_num(sigma)

        def rows_of(y: int, s: int = s, sigma: np.ndarray = sigma, fixed: np.ndarray = fixed) -> Triplets:
            classes, cols, coefs = _class_spend(funding, cost, y, weight=sigma)
            member = fixed[classes]
            return (np.concatenate([np.flatnonzero(fixed), classes[member]]),
                    np.concatenate([funding.money[fixed, s, y], cols[member]]),
                    np.concatenate([np.ones(int(fixed.sum())), -coefs[member]]))

        _per_class_and_period(builder, RowKind.STANDARD, funding, rows_of, key=source.key, lower=0.0, upper=0.0)


def _absolute_caps(builder: ModelBuilder, rules: Rules, funding: Funding) -> None:
    """sum_y F_{k,s,y} <= cap x (starts of k's members) for every class k and source s whose cap can bind: exact for one
    project, and for a class whose members' cap over cost lie in one piece between Q's breakpoints (model/classes.py)."""
    classes = funding.classes
    k_idx, s_idx = np.nonzero(classes.capped)
    if not len(k_idx):
        return
    count, periods, starts = len(k_idx), funding.phasing.periods, funding.phasing.starts
    members, bounds = classes.members()
    pair_members = [members[bounds[k]: bounds[k + 1]] for k in k_idx]
    projects = np.concatenate(pair_members)
    pair = np.repeat(np.arange(count), [len(m) for m in pair_members])
    builder.add_rows(
        RowKind.ABSOLUTE_CAP, count,
        np.concatenate([np.repeat(np.arange(count), periods), np.repeat(pair, starts)]),
        np.concatenate([funding.money[k_idx, s_idx].ravel(), funding.start[projects].ravel()]),
        np.concatenate([np.ones(count * periods), -np.repeat(rules.absolute_caps[projects, s_idx[pair]], starts)]), upper=0.0,
    )


def _budgets(builder: ModelBuilder, rules: Rules, funding: Funding) -> None:
    """Money of each source within its budget: per year, or cumulatively when unspent money carries over;
    and at least its minimum spend over the whole plan."""
    everyone = np.zeros(len(funding.start), dtype=np.int64)
    phasing = funding.phasing
    labels = np.array(phasing.years, dtype=object) if phasing.years else None
    for s, source in enumerate(rules.sources):
        parts = [funding.money_terms(everyone, [s], list(range(y + 1)) if phasing.carry_over else [y]) for y in range(phasing.periods)]
        builder.add_rows(RowKind.BUDGET, phasing.periods, np.concatenate([np.full(len(p[1]), y) for y, p in enumerate(parts)]),
                         np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]), key=source.key,
                         upper=rules.budget_limits(source), labels=labels)
        if source.min_spend > 0:
            _, cols, coefs = funding.money_terms(everyone, [s])
            builder.add_rows(RowKind.MIN_SPEND, 1, np.zeros(len(cols)), cols, coefs, key=source.key, lower=source.min_spend)


def _capacities(builder: ModelBuilder, rules: Rules, funding: Funding) -> None:
    """Money of a source in each province (or region), over the whole plan, <= the capacity column summed over its regions."""
    for s, source in enumerate(rules.sources):
        if source.capacity is None:
            continue
        capacity = rules.capacity(source)
        rows, cols, coefs = funding.money_terms(capacity.group_of_project, [s])
        builder.add_rows(RowKind.CAPACITY, len(capacity.labels), rows, cols, coefs, key=source.key, upper=capacity.limit,
                         labels=capacity.labels)

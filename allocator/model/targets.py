"""What targets add: counts of funded projects, a minimum per region, coverage indicators and their gaps between zones."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from allocator.model.arrays import ColumnKind, ModelBuilder, RowKind
from allocator.model.funding import Funding
from allocator.rules import IndicatorGroups, Rules


def add_counts(builder: ModelBuilder, rules: Rules, funding: Funding) -> None:
    """min <= number of funded projects (of a type, in a zone) <= max."""
    for count in rules.scenario.counts.values():
        _, cols = funding.selection_terms(rules.count_mask(count))
        builder.add_rows(RowKind.COUNT, 1, np.zeros(len(cols)), cols, np.ones(len(cols)), key=count.name,
                         lower=-np.inf if count.min is None else count.min, upper=np.inf if count.max is None else count.max)


def add_min_per_region(builder: ModelBuilder, rules: Rules, funding: Funding) -> None:
    """Each region with candidates funds at least min(n, its number of candidates)."""
    if rules.scenario.min_projects_per_region <= 0:
        return
    region = rules.data.projects["region"].to_numpy()
    needed = rules.region_minimum
    with_candidates = np.flatnonzero(needed > 0)
    row_of_region = np.full(len(needed), -1)
    row_of_region[with_candidates] = np.arange(len(with_candidates))
    projects, cols = funding.selection_terms()
    builder.add_rows(RowKind.MIN_PER_REGION, len(with_candidates), row_of_region[region[projects]], cols,
                     np.ones(len(cols)), lower=needed[with_candidates],
                     labels=rules.data.regions["region_id"].to_numpy(dtype=object)[with_candidates])


def add_indicators(builder: ModelBuilder, rules: Rules, funding: Funding) -> None:
    for groups in rules.indicator_groups:
        _add_indicator(builder, groups, funding)


@dataclass(frozen=True)
class GroupTerms:
    """An indicator's value in each group with a positive denominator, as model terms:
    value_g = level_g + sum of share x over the group's terms (x: the starts completed by the indicator's deadline)."""

    labels: np.ndarray  # per counted group, its label
    level: np.ndarray  # per counted group, B_g / D_g
    rows: np.ndarray  # per term, its group's position among the counted groups
    cols: np.ndarray  # per term, its start column
    share: np.ndarray  # per term, c_p / D_g


def group_terms(groups: IndicatorGroups, funding: Funding) -> GroupTerms:
    """The terms of `groups`' values (the indicator's rows, a raised floor's and the zone gaps' are all made of them)."""
    active = np.flatnonzero(groups.denominator > 0)
    row_of_group = np.full(len(groups.labels), -1)
    row_of_group[active] = np.arange(len(active))
    member = (row_of_group[groups.group_of_project] >= 0) & (groups.contribution != 0)
    projects, cols = funding.selection_terms(member, completed_by=groups.deadline)
    group = groups.group_of_project[projects]
    return GroupTerms(labels=groups.labels[active], level=groups.baseline[active] / groups.denominator[active],
                      rows=row_of_group[group], cols=cols, share=groups.contribution[projects] / groups.denominator[group])


def _add_indicator(builder: ModelBuilder, groups: IndicatorGroups, funding: Funding) -> None:
    """sum_p (c_p / D_g) x_p [+ u_g] >= target - B_g / D_g, one row per group with a positive denominator;
    x_p counts the starts completed by the indicator's deadline."""
    indicator = groups.indicator
    terms = group_terms(groups, funding)
    count = len(terms.labels)
    rows, cols, vals = terms.rows, terms.cols, terms.share
    if not indicator.hard:
        shortfall = builder.add_variables(ColumnKind.SHORTFALL, count, key=indicator.name, labels=terms.labels)
        builder.add_objective(shortfall, indicator.penalty)
        rows = np.concatenate([rows, np.arange(count)])
        cols = np.concatenate([cols, shortfall])
        vals = np.concatenate([vals, np.ones(count)])
    builder.add_rows(RowKind.INDICATOR, count, rows, cols, vals, key=indicator.name, lower=indicator.target - terms.level, labels=terms.labels)


def add_zone_gaps(builder: ModelBuilder, rules: Rules, funding: Funding) -> None:
    """value_a - value_b <= max_zone_gap for every ordered pair of zones with a denominator, the values after the plan:
    sum_{p in a} (c_p / D_a) x_p - sum_{p in b} (c_p / D_b) x_p <= gap - B_a / D_a + B_b / D_b."""
    for indicator in rules.scenario.indicators.values():
        if indicator.max_zone_gap is None:
            continue
        terms = group_terms(rules.indicator_groups_for(replace(indicator, scope="zone")), funding)
        zones = range(len(terms.labels))
        pairs = [(a, b) for a in zones for b in zones if a != b]
        if not pairs:
            continue
        rows, columns, values = [], [], []
        for row, (a, b) in enumerate(pairs):
            for sign, z in ((1.0, a), (-1.0, b)):
                inside = terms.rows == z
                rows.append(np.full(int(inside.sum()), row))
                columns.append(terms.cols[inside])
                values.append(sign * terms.share[inside])
        upper = np.array([indicator.max_zone_gap - terms.level[a] + terms.level[b] for a, b in pairs])
        labels = np.array([f"{terms.labels[a]}-{terms.labels[b]}" for a, b in pairs], dtype=object)
        builder.add_rows(RowKind.ZONE_GAP, len(pairs), np.concatenate(rows), np.concatenate(columns), np.concatenate(values),
                         key=indicator.name, upper=upper, labels=labels)

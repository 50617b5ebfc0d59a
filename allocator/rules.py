"""What each rule of a scenario means on its data, defined once.

The model builder, the verifier (allocator/checks.py), the formula baseline, the diagnosis and the
simulation all read the rules from here, so the model and the checks of a plan cannot drift apart.
Arrays are per project (in the order of ``data.projects``), per source (in the scenario's order) and
per group of a scope; money is in 万元.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from allocator.errors import InputError
from allocator.scenario import ALL_SOURCES, CountTarget, Indicator, PerResidentRule, Phasing, Scenario, ShareRule, Source

if TYPE_CHECKING:  # allocator.data checks the tables with these rules (allocator.checks)
    from allocator.data import Data

#: A target is met where ``achieved >= target - MET_TOLERANCE x max(1, |target|)``. The solver holds a row to
#: about 1e-7, so a hard target it met may read a little short; 1e-6 leaves room for that and is far below any
#: change of coverage a planner would notice.
MET_TOLERANCE = 1e-6
#: The regions column that counts residents (money per resident: [balance.per_resident], allocator/equity.py).
POPULATION = "population"


def target_met(achieved: np.ndarray, target: float) -> np.ndarray:
    """Per group: is the target met? False where it is missed, and where it is not measured (NaN)."""
    return achieved >= target - MET_TOLERANCE * max(1.0, abs(target))


def target_missed(achieved: np.ndarray, target: float) -> np.ndarray:
    """Per group: is the target measured and missed?"""
    return achieved < target - MET_TOLERANCE * max(1.0, abs(target))


def region_groups(data: Data, scope: str) -> tuple[np.ndarray, np.ndarray]:
    """For each region, its group under `scope` (national, zone, province, region); and the groups' labels (sorted)."""
    regions = data.regions
    if scope == "national":
        return np.zeros(len(regions), dtype=np.int64), np.array(["national"], dtype=object)
    if scope == "region":
        return np.arange(len(regions), dtype=np.int64), regions["region_id"].to_numpy(dtype=object)
    codes, labels = pd.factorize(regions[scope], sort=True)
    return codes.astype(np.int64), np.asarray(labels, dtype=object)


def project_groups(data: Data, scope: str) -> tuple[np.ndarray, np.ndarray]:
    """For each project, its group under `scope`, and the groups' labels."""
    of_region, labels = region_groups(data, scope)
    return of_region[data.projects["region"].to_numpy()], labels


def deadline_period(indicator: Indicator, phasing: Phasing) -> int:
    """The period by whose end the indicator is measured: its deadline, or the plan's last year."""
    return phasing.years.index(indicator.deadline) if indicator.deadline is not None else phasing.periods - 1


@dataclass(frozen=True)
class IndicatorGroups:
    """One indicator per group of its scope: ``achieved_g = (baseline_g + sum of contribution_p x counted_p) / denominator_g``,
    counting the projects completed by the end of period `deadline`."""

    indicator: Indicator
    labels: np.ndarray
    baseline: np.ndarray  # per group, in the contribution's units
    denominator: np.ndarray  # per group, already multiplied by the scale
    contribution: np.ndarray  # per project (zero for types that do not count)
    group_of_project: np.ndarray
    deadline: int

    def achieved(self, counted: np.ndarray) -> np.ndarray:
        """Per group, the indicator's value when project p counts `counted[p]` (0..1); NaN where there is no denominator."""
        added = np.bincount(self.group_of_project, weights=self.contribution * counted, minlength=len(self.labels))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.denominator > 0, (self.baseline + added) / self.denominator, np.nan)

    def unmeasured(self) -> np.ndarray:
        """Per group: no denominator, yet a baseline or a project that counts (dropped from the model, so worth a word)."""
        counting = np.bincount(self.group_of_project, weights=self.contribution != 0, minlength=len(self.labels)) > 0
        return (self.denominator <= 0) & ((self.baseline != 0) | counting)


class MatchingRule(NamedTuple):
    """Source `source` puts at least ``ratio[p]`` times the money of the sources `of` into project p."""

    source: int
    of: list[int]
    ratio: np.ndarray  # per project


class CapacityLimits(NamedTuple):
    """A source's money over the whole plan, per province (or region): at most `limit` in each group."""

    group_of_project: np.ndarray
    labels: np.ndarray
    limit: np.ndarray  # per group, 万元


class BenefitCap(NamedTuple):
    """One type's capped benefit: a region's benefit from the type is min(cap, sum of its funded projects' benefit)."""

    type: str
    projects: np.ndarray  # indices of the type's projects in regions where the cap can bind
    group: np.ndarray  # per such project, its group (0..len(cap)-1)
    regions: np.ndarray  # per group, the region_id
    cap: np.ndarray  # per group, weight x the regions' cap column, in the objective's unit


@dataclass(frozen=True, eq=False)
class Rules:
    """The rules of `scenario` on `data`; each array is computed on first use and kept."""

    scenario: Scenario
    data: Data

    @property
    def sources(self) -> list[Source]:
        return list(self.scenario.sources.values())

    @cached_property
    def benefit(self) -> np.ndarray:
        """Per project, its benefit when funded whole: its type's [objective.by_type] weight x column, else the sum
        over [objective.benefit] of weight x column. With whole projects (binary selection) a capped type's project
        counts at most its region's cap: exact, since one funded project over the cap already fills it, and it
        leaves a region with one candidate nothing for :attr:`benefit_caps` to do."""
        projects, scenario = self.data.projects, self.scenario
        types = projects["type"].astype(str).to_numpy()
        benefit = np.zeros(len(projects))
        for column, weight in scenario.benefit.items():
            benefit += weight * projects[column].to_numpy(dtype=float)
        for name, own in scenario.benefit_by_type.items():
            mask = types == name
            benefit[mask] = own.weight * projects[own.column].to_numpy(dtype=float)[mask]
            if own.cap is not None and scenario.selection == "binary":
                cap = own.weight * self.data.regions[own.cap].to_numpy(dtype=float)[projects["region"].to_numpy()]
                benefit[mask] = np.minimum(benefit, cap)[mask]
        return benefit

    @cached_property
    def benefit_caps(self) -> list[BenefitCap]:
        """The types whose benefit is capped per region, each with its groups: the regions whose candidates of the
        type could together pass the cap (elsewhere the cap cannot bind and each project counts its own benefit)."""
        projects, regions = self.data.projects, self.data.regions
        types = projects["type"].astype(str).to_numpy()
        caps = []
        for name, own in self.scenario.benefit_by_type.items():
            members = np.flatnonzero(types == name)
            if own.cap is None or members.size == 0:
                continue
            rows, group = np.unique(projects["region"].to_numpy()[members], return_inverse=True)
            cap = own.weight * regions[own.cap].to_numpy(dtype=float)[rows]
            binds = np.bincount(group, weights=self.benefit[members], minlength=len(rows)) > cap
            if not binds.any():
                continue
            kept = binds[group]
            caps.append(BenefitCap(name, members[kept], np.cumsum(binds)[group[kept]] - 1,
                                   regions["region_id"].to_numpy()[rows[binds]], cap[binds]))
        return caps

    @cached_property
    def eligible(self) -> np.ndarray:
        """projects x sources: may source s fund project p (its type and zone)?"""
        projects = self.data.projects
        types = projects["type"].astype(str).to_numpy()
        zones = projects["zone"].to_numpy(dtype=object)
        columns = []
        for source in self.sources:
            ok = np.isin(types, list(source.types))
            if source.zones is not None:
                ok &= np.isin(zones, list(source.zones))
            columns.append(ok)
        return np.column_stack(columns)

    @cached_property
    def max_share_of_cost(self) -> np.ndarray:
        """projects x sources: the largest share of a project's cost a source may pay (α; 1 where uncapped)."""
        types = self.data.projects["type"]
        by_type = np.array([[source.max_share_of_cost.get(t, 1.0) for source in self.sources] for t in types.cat.categories], dtype=float)
        return by_type[types.cat.codes.to_numpy()]

    @cached_property
    def absolute_caps(self) -> np.ndarray:
        """projects x sources: the absolute cap on a source's money in a project (万元; inf where none)."""
        projects = self.data.projects
        codes, pairs = pd.factorize(pd.MultiIndex.from_arrays([projects["type"].astype(str), projects["zone"]]))
        caps = np.full((len(projects), len(self.sources)), np.inf)
        for s, source in enumerate(self.sources):
            if source.cap_per_project:
                per_pair = [source.cap_for(type_key, zone) for type_key, zone in pairs]
                caps[:, s] = np.array([np.inf if cap is None else cap for cap in per_pair])[codes]
        return caps

    @cached_property
    def standard_share(self) -> np.ndarray:
        """projects x sources: the share of its cost a source's subsidy standard (补助标准) fixes for a project: the
        standard's share, or its amount over the cost, at most 1 (the ceiling at cost); NaN where no standard applies
        (none given, or the source may not fund the project). The source then pays exactly this share x cost."""
        projects = self.data.projects
        cost = projects["cost"].to_numpy()
        codes, places = pd.factorize(pd.MultiIndex.from_arrays([projects["type"].astype(str), projects["province"], projects["zone"]]))
        shares = np.full((len(projects), len(self.sources)), np.nan)
        for s, source in enumerate(self.sources):
            if source.standard is None:
                continue
            looked = [source.standard.for_project(*place) for place in places]
            share = np.array([np.nan if value is None else value for value, _ in looked], dtype=float)[codes]
            amount = np.array([np.nan if value is None else value for _, value in looked], dtype=float)[codes]
            with np.errstate(divide="ignore", invalid="ignore"):
                fixed = np.minimum(np.where(np.isnan(share), amount / cost, share), 1.0)
            shares[:, s] = np.where(self.eligible[:, s], fixed, np.nan)
        return shares

    @property
    def declared(self) -> np.ndarray:
        """Per project: funded, if at all, by the plan its ``request_<source>`` columns (or, continuing, its
        ``committed_<source>`` columns) declare."""
        return self.data.declared

    @cached_property
    def requests(self) -> np.ndarray:
        """projects x sources: what a declared plan asks of each source (万元; 0 for a source it does not name)."""
        columns, committed = self.data.request_columns(), self.data.committed_columns()
        continuing = self.status_mask("continuing")
        requests = np.zeros((len(self.data.projects), len(self.sources)))
        for s, key in enumerate(self.scenario.sources):
            if key in columns:
                requests[:, s] = self.data.projects[columns[key]].to_numpy(dtype=float)
            if key in committed:
                requests[continuing, s] = self.data.projects[committed[key]].to_numpy(dtype=float)[continuing]
        return requests

    def status_mask(self, status: str) -> np.ndarray:
        """Per project: is its status `status` (must_fund, exclude, continuing)? A continuing project is funded by
        its committed money, which :attr:`requests` holds as its declared plan."""
        status_of = self.data.status if len(self.data.status) else np.full(len(self.data.projects), "", dtype=object)
        return status_of == status

    @cached_property
    def kept(self) -> np.ndarray:
        """Per project: funded in the reference plan, which ``[stability] keep`` says stays funded (unless excluded)."""
        reference = self.data.reference
        if reference is None or not self.scenario.stability.keep:
            return np.zeros(len(self.data.projects), dtype=bool)
        return reference.funded & ~self.status_mask("exclude")

    @cached_property
    def fundable(self) -> np.ndarray:
        """Per project: by its declared plan, or by some source that may fund it."""
        return self.declared | self.eligible.any(axis=1)

    @cached_property
    def money_limit(self) -> np.ndarray:
        """projects x sources: the most a source may put into a project by the per-project rules (eligibility, share of
        cost, absolute cap), or what its declared plan asks."""
        cost = self.data.projects["cost"].to_numpy()
        capped = np.minimum(cost[:, None] * self.max_share_of_cost, self.absolute_caps)
        return np.where(self.declared[:, None], self.requests, np.where(self.eligible, capped, 0.0))

    def _matching_ratio(self, source: Source) -> np.ndarray:
        """Per project: the matching ratio of `source` in its region."""
        matching = source.matching
        assert matching is not None
        region = self.data.projects["region"].to_numpy()
        if matching.ratio is not None:
            return np.full(len(region), matching.ratio)
        if matching.ratio_by_zone is not None:
            zone = self.data.regions["zone"].to_numpy(dtype=object)[region]
            return np.array([matching.ratio_by_zone[z] for z in zone], dtype=float)
        return self.data.regions[matching.ratio_column].to_numpy(dtype=float)[region]

    @cached_property
    def matching(self) -> list[MatchingRule]:
        """The matching rules, in the order of their sources."""
        keys = list(self.scenario.sources)
        return [MatchingRule(s, [keys.index(other) for other in source.matching.of], self._matching_ratio(source))
                for s, source in enumerate(self.sources) if source.matching is not None]

    def budget_limits(self, source: Source) -> np.ndarray:
        """Per period, the most `source` may have spent: by the end of it when unspent money carries over, else in it."""
        return np.cumsum(source.by_year) if self.scenario.phasing.carry_over else np.array(source.by_year)

    def capacity(self, source: Source) -> CapacityLimits:
        """The capacity of `source` (which has one): its column summed over each province's (or region's) regions."""
        assert source.capacity is not None
        of_region, labels = region_groups(self.data, source.capacity.by)
        limit = np.bincount(of_region, weights=self.data.regions[source.capacity.column].to_numpy(dtype=float), minlength=len(labels))
        return CapacityLimits(project_groups(self.data, source.capacity.by)[0], labels, limit)

    def count_mask(self, count: CountTarget) -> np.ndarray:
        """Per project: does it count toward `count` (its type and zone)?"""
        projects = self.data.projects
        mask = np.ones(len(projects), dtype=bool)
        if count.type is not None:
            mask &= (projects["type"] == count.type).to_numpy()
        if count.zone is not None:
            mask &= (projects["zone"] == count.zone).to_numpy()
        return mask

    @cached_property
    def region_minimum(self) -> np.ndarray:
        """Per region: how many of its projects must be funded, min(min_projects_per_region, its candidates)."""
        candidates = np.bincount(self.data.projects["region"].to_numpy(), minlength=len(self.data.regions))
        return np.minimum(self.scenario.min_projects_per_region, candidates)

    @cached_property
    def indicator_groups(self) -> list[IndicatorGroups]:
        """Each indicator's baseline, denominator and per-project contribution, per group of its scope."""
        return [self.indicator_groups_for(indicator) for indicator in self.scenario.indicators.values()]

    def indicator_groups_for(self, indicator: Indicator) -> IndicatorGroups:
        """One indicator's groups at its scope (``replace(indicator, scope="zone")`` measures it per zone instead)."""
        of_region, labels = region_groups(self.data, indicator.scope)
        regions, projects = self.data.regions, self.data.projects
        baseline = np.bincount(of_region, weights=regions[indicator.baseline].to_numpy(dtype=float), minlength=len(labels)) \
            if indicator.baseline else np.zeros(len(labels))
        denominator = np.bincount(of_region, weights=regions[indicator.denominator].to_numpy(dtype=float), minlength=len(labels)) * indicator.scale
        contribution = projects[indicator.contribution].to_numpy(dtype=float).copy()
        if indicator.types is not None:
            contribution[~projects["type"].isin(list(indicator.types)).to_numpy()] = 0.0
        group_of_project, _ = project_groups(self.data, indicator.scope)
        return IndicatorGroups(indicator, labels, baseline, denominator, contribution, group_of_project,
                               deadline_period(indicator, self.scenario.phasing))

    def share_sources(self, rule: ShareRule | PerResidentRule) -> list[int]:
        """The sources whose money a share rule divides: one, or all."""
        return list(range(len(self.sources))) if rule.source == ALL_SOURCES else [list(self.scenario.sources).index(rule.source)]

    def share_members(self, rule: ShareRule) -> np.ndarray:
        """Per project: is it in one of the rule's zones or provinces?"""
        group, labels = project_groups(self.data, rule.level)
        return np.isin(labels, list(rule.members))[group]

    def per_resident_groups(self, rule: PerResidentRule) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per project its province or zone (as the rule says), the groups' labels, and each group's residents."""
        regions = self.data.regions
        if POPULATION not in regions:
            raise InputError(f"[balance.per_resident.{rule.name}] counts residents, but the regions table has no '{POPULATION}' column",
                             where=f"balance.per_resident.{rule.name}")
        of_region, labels = region_groups(self.data, rule.level)
        residents = np.bincount(of_region, weights=regions[POPULATION].to_numpy(dtype=float), minlength=len(labels))
        return of_region[self.data.projects["region"].to_numpy()], labels, residents

    def per_resident_money(self, rule: PerResidentRule, money: np.ndarray) -> np.ndarray:
        """Per group of the rule, the money of its source(s) (万元), for `money` projects x sources."""
        group, labels, _ = self.per_resident_groups(rule)
        return np.bincount(group, weights=money[:, self.share_sources(rule)].sum(axis=1), minlength=len(labels))

    def share_parts(self, rule: ShareRule, money: np.ndarray) -> tuple[float, float]:
        """(money to the rule's members, all money) of the rule's source(s), 万元, for `money` projects x sources."""
        amount = money[:, self.share_sources(rule)].sum(axis=1)
        return float(amount[self.share_members(rule)].sum()), float(amount.sum())

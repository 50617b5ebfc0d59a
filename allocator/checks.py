"""Check a per-project allocation against every rule of the scenario, project by project.

This works on the recovered allocation, not on the model's class variables, so it also checks that
the split back to projects is exact; and it reads the rules from allocator/rules.py, not from the model.
A solved result that fails here is a bug and is never written.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from allocator.errors import InputError, VerificationError
from allocator.rules import MET_TOLERANCE, Rules, target_missed
from allocator.scenario import Scenario

if TYPE_CHECKING:  # allocator.data calls denominator_warnings when it loads the tables
    from allocator.data import Data

#: Money tolerance: one yuan plus a millionth of the amount compared.
ABSOLUTE_TOLERANCE_WAN = 1e-4
RELATIVE_TOLERANCE = 1e-6


def _tol(amount: np.ndarray | float) -> np.ndarray | float:
    return ABSOLUTE_TOLERANCE_WAN + RELATIVE_TOLERANCE * np.abs(amount)


def rule_violations(scenario: Scenario, data: Data, selected: np.ndarray, money: np.ndarray, *,
                    starts: np.ndarray | None = None, money_by_period: np.ndarray | None = None) -> list[str]:
    """Every broken rule, as a sentence naming the project, group or source; empty when all hold.

    `starts` (projects x start periods) and `money_by_period` (projects x sources x periods) add the
    year-by-year budgets and the indicators' deadlines of a phased plan.
    """
    rules = Rules(scenario, data)
    ids = data.projects["project_id"].to_numpy(dtype=object)
    problems = []
    for what, mask in [*_project_checks(rules, selected, money), *_status_checks(rules, selected)]:
        bad = np.flatnonzero(mask)
        if bad.size:
            problems.append(f"{what}: project {ids[bad[0]]}" + (f" and {bad.size - 1} more" if bad.size > 1 else ""))
    starts = selected[:, None] if starts is None else starts
    money_by_period = money[:, :, None] if money_by_period is None else money_by_period
    return problems + _budget_violations(rules, money_by_period) + _target_violations(rules, starts, money)


def project_checks(scenario: Scenario, data: Data, selected: np.ndarray, money: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The per-project rules, each as (what it says, which projects break it)."""
    return _project_checks(Rules(scenario, data), selected, money)


def _project_checks(rules: Rules, selected: np.ndarray, money: np.ndarray) -> list[tuple[str, np.ndarray]]:
    cost = rules.data.projects["cost"].to_numpy()
    funded_cost = cost * selected
    caps = rules.absolute_caps.copy()
    finite = np.isfinite(caps)
    caps[finite] *= np.broadcast_to(selected[:, None], caps.shape)[finite]
    checks = [
        ("sources do not add up to the funded cost", np.abs(money.sum(axis=1) - funded_cost) > _tol(funded_cost)),
        ("negative money", (money < -ABSOLUTE_TOLERANCE_WAN).any(axis=1)),
        ("money from a source that may not fund it", ((money > ABSOLUTE_TOLERANCE_WAN) & ~rules.eligible).any(axis=1)),
        ("absolute cap per project exceeded", (money > caps + _tol(caps)).any(axis=1)),
    ]
    matching = {rule.source: rule for rule in rules.matching}
    for s, source in enumerate(rules.sources):
        alpha = rules.max_share_of_cost[:, s]
        checks.append((f"source '{source.key}' above its share of cost", money[:, s] > alpha * funded_cost + _tol(funded_cost)))
        standard = rules.standard_share[:, s]
        if not np.isnan(standard).all():
            fixed = np.nan_to_num(standard) * funded_cost
            checks.append((f"source '{source.key}' differs from its subsidy standard",
                           ~np.isnan(standard) & (np.abs(money[:, s] - fixed) > _tol(fixed))))
        if s in matching:
            needed = matching[s].ratio * money[:, matching[s].of].sum(axis=1)
            checks.append((f"matching by '{source.key}' not met", money[:, s] < needed - _tol(needed)))
    declared = rules.declared
    if declared.any():
        planned = rules.requests * selected[:, None]
        checks.append(("money differs from the declared plan", declared & (np.abs(money - planned) > _tol(planned)).any(axis=1)))
    return checks


def _status_checks(rules: Rules, selected: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The statuses and the projects kept from a reference plan (decisions about projects, not money rules)."""
    funded, unfunded = selected >= 1.0 - 1e-6, selected <= 1e-6
    return [("status must_fund but not funded", rules.status_mask("must_fund") & ~funded),
            ("status continuing but not funded", rules.status_mask("continuing") & ~funded),
            ("status exclude but funded", rules.status_mask("exclude") & ~unfunded),
            ("funded in the reference plan, which [stability] keeps, but not funded", rules.kept & ~funded)]


def _budget_violations(rules: Rules, money_by_period: np.ndarray) -> list[str]:
    problems = []
    phasing = rules.scenario.phasing
    money = money_by_period.sum(axis=2)
    for s, source in enumerate(rules.sources):
        used = money[:, s].sum()
        if used > source.budget + _tol(source.budget):
            problems.append(f"source '{source.key}' spends {used:,.4f}万元, above its budget {source.budget:,.4f}万元")
        per_year = money_by_period[:, s, :].sum(axis=0)
        spent, limit = (np.cumsum(per_year) if phasing.carry_over else per_year), rules.budget_limits(source)
        over = np.flatnonzero(spent > limit + _tol(limit))
        if over.size:
            problems.append(f"source '{source.key}' spends {spent[over[0]]:,.4f}万元 by {phasing.label(over[0])}, above the "
                            f"{limit[over[0]]:,.4f}万元 available by then")
        if used < source.min_spend - _tol(source.min_spend):
            problems.append(f"source '{source.key}' spends {used:,.4f}万元, below its minimum {source.min_spend:,.4f}万元")
        if source.capacity:
            group, labels, limit = rules.capacity(source)
            spent = np.bincount(group, weights=money[:, s], minlength=len(labels))
            over = np.flatnonzero(spent > limit + _tol(limit))
            if over.size:
                problems.append(f"source '{source.key}' spends {spent[over[0]]:,.4f}万元 in {labels[over[0]]}, above its capacity {limit[over[0]]:,.4f}万元")
    return problems


def _target_violations(rules: Rules, starts: np.ndarray, money: np.ndarray) -> list[str]:
    scenario, data = rules.scenario, rules.data
    projects = data.projects
    problems = []
    selected = starts.sum(axis=1)
    if (selected > 1 + 1e-9).any():
        problems.append(f"project {projects['project_id'].iloc[int(np.argmax(selected))]} starts more than once")
    for count in scenario.counts.values():
        funded = selected[rules.count_mask(count)].sum()
        if (count.min is not None and funded < count.min - 1e-6) or (count.max is not None and funded > count.max + 1e-6):
            problems.append(f"count '{count.name}' is {funded:g}, outside [{count.min}, {count.max}]")
    if scenario.min_projects_per_region > 0:
        funded = np.bincount(projects["region"].to_numpy(), weights=selected, minlength=len(data.regions))
        needed = rules.region_minimum
        short = np.flatnonzero(funded < needed - 1e-6)
        if short.size:
            problems.append(f"region {data.regions['region_id'].iloc[short[0]]} funds {funded[short[0]]:g} projects, fewer than {needed[short[0]]}")
    for rule in scenario.shares.values():
        inside, total = rules.share_parts(rule, money)
        if rule.min is not None and inside < rule.min * total - _tol(total):
            problems.append(f"share '{rule.name}' is {inside / total:.6f}, below {rule.min}")
        if rule.max is not None and inside > rule.max * total + _tol(total):
            problems.append(f"share '{rule.name}' is {inside / total:.6f}, above {rule.max}")
    for per_resident in scenario.per_resident.values():
        _, labels, residents = rules.per_resident_groups(per_resident)
        spent = rules.per_resident_money(per_resident, money)
        for bound, below in ((per_resident.min, True), (per_resident.max, False)):
            if bound is None:
                continue
            limit = bound * residents / 10_000.0
            bad = np.flatnonzero((residents > 0) & ((spent < limit - _tol(limit)) if below else (spent > limit + _tol(limit))))
            if bad.size:
                problems.append(f"money per resident '{per_resident.name}' in {labels[bad[0]]} is {spent[bad[0]] * 10_000 / residents[bad[0]]:.4f}元, "
                                f"{'below' if below else 'above'} {bound:g}元")
    for indicator in scenario.indicators.values():
        if indicator.max_zone_gap is None:
            continue
        zones = rules.indicator_groups_for(replace(indicator, scope="zone"))
        values = zones.achieved(scenario.phasing.completed(starts, zones.deadline))
        measured = values[~np.isnan(values)]
        if len(measured) > 1 and measured.max() - measured.min() > indicator.max_zone_gap + MET_TOLERANCE * max(1.0, indicator.max_zone_gap):
            problems.append(f"indicator '{indicator.name}' differs by {measured.max() - measured.min():.6g} between zones, "
                            f"more than {indicator.max_zone_gap:g}")
    for groups in rules.indicator_groups:
        indicator = groups.indicator
        if not indicator.hard:
            continue
        achieved = groups.achieved(scenario.phasing.completed(starts, groups.deadline))
        bad = np.flatnonzero(target_missed(achieved, indicator.target))
        if bad.size:
            problems.append(f"hard target '{indicator.name}' missed ({achieved[bad[0]]:.6g} < {indicator.target:g})")
    return problems


def verify(scenario: Scenario, data: Data, selected: np.ndarray, money: np.ndarray, *,
           starts: np.ndarray | None = None, money_by_period: np.ndarray | None = None) -> None:
    """Raise :class:`VerificationError` listing what a solved allocation breaks."""
    problems = rule_violations(scenario, data, selected, money, starts=starts, money_by_period=money_by_period)
    if problems:
        raise VerificationError("the solved allocation breaks the scenario's rules (a bug; nothing was written): " + "; ".join(problems[:5]))


def check_declared_plans(scenario: Scenario, data: Data) -> None:
    """A declared funding plan must itself obey the per-project rules; name the first row that does not."""
    declared = data.declared
    if not declared.any():
        return
    rules = Rules(scenario, data)
    money = rules.requests.copy()
    money[~declared] = 0.0
    for what, mask in _project_checks(rules, declared.astype(float), money):
        bad = np.flatnonzero(mask & declared)
        if bad.size:
            raise InputError(f"the declared funding plan breaks a rule ({what}); {bad.size} such rows",
                             source=str(data.files["projects"].path), where=f"row {data.file_row[bad[0]] + 2}")


def standard_warnings(scenario: Scenario, data: Data) -> list[str]:
    """Projects a source's subsidy standard (补助标准) rules out: the money it fixes is above what the source may pay
    them (its share of cost or its cap per project), so they cannot be funded. Refuses a standard that rules out every
    candidate of a type; returns a warning for each that rules out some."""
    rules = Rules(scenario, data)
    projects = data.projects
    cost, types = projects["cost"].to_numpy(), projects["type"].astype(str).to_numpy()
    found = []
    for s, source in enumerate(rules.sources):
        fixed = rules.standard_share[:, s] * cost
        allowed = np.minimum(rules.max_share_of_cost[:, s] * cost, rules.absolute_caps[:, s])
        ruled_out = ~np.isnan(fixed) & (fixed > allowed + _tol(allowed))
        for type_key in dict.fromkeys(types[ruled_out]):
            of_type = (types == type_key) & ~np.isnan(fixed)
            out = np.flatnonzero(ruled_out & of_type)
            first = int(out[0])
            what = (f"fixes {fixed[first]:,.2f}万元 for {type_key} {projects['project_id'].iloc[first]}, "
                    f"above the {allowed[first]:,.2f}万元 the source may pay it (its max_share_of_cost or cap_per_project); "
                    f"{out.size} of the {int(of_type.sum())} {type_key} candidates it applies to cannot be funded")
            if out.size == of_type.sum():
                raise InputError(f"{what}: lower the standard's amount or share, or raise the source's limit",
                                 where=f"sources.{source.key}.standard")
            found.append(f"sources.{source.key}.standard {what}, the others can")
    return found


def denominator_warnings(scenario: Scenario, data: Data) -> list[str]:
    """Coverage groups with no denominator but a baseline or projects that count: the target cannot be measured
    there. Refuses a hard target over such a group; returns a warning for each soft one."""
    found = []
    for groups in Rules(scenario, data).indicator_groups:
        indicator = groups.indicator
        empty = groups.labels[groups.unmeasured()]
        if not empty.size:
            continue
        listed = f"{', '.join(map(str, empty[:5]))}{' …' if empty.size > 5 else ''}"
        where = "the national group" if indicator.scope == "national" else f"{indicator.scope} {listed}"
        what = (f"'{indicator.name}' has no denominator in {where}: column {indicator.denominator} sums to 0 there, yet it has "
                f"{'a baseline or ' if indicator.baseline else ''}projects that count")
        if indicator.hard:
            raise InputError(f"the hard target {what}; fill the column, or make the target soft (hard = false), or give it a scope "
                             "without such groups", source=str(data.files["regions"].path), where=f"column {indicator.denominator}")
        found.append(f"target {what}; it is not measured there (see the note in indicators.csv)")
    return found

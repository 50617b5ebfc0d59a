"""Why a scenario cannot be met, in its own terms.

First, rules that are impossible on their own are found without a solver (a minimum count above the
number of candidates, a hard target out of reach even if every candidate were funded, ...). Then
elastic programming: every budget, capacity, count, share, regional minimum and hard target may give,
at a price relative to its size; the least total relative change names the rules that collide. Every
rule is then tried alone, which gives the "either ... or ..." alternatives (smallest relative change
first), each with the ``--set`` override that applies it (rounded in the loosening direction, so it
is enough).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp

from allocator.backends import Solution, SolveStatus
from allocator.data import Data
from allocator.model import BuiltModel
from allocator.model.arrays import Block, ColumnKind, LinearModel, RowKind
from allocator.results import make_result
from allocator.rules import target_missed
from allocator.scenario import Scenario
from allocator.units import format_wan

SLACK_TOLERANCE = 1e-6
#: Projects named in a status or keep rule's sentence.
STATUS_PROJECTS_SHOWN = 8
#: The kinds of rows a planner could change: each may give in the elastic model.
RELAXABLE = (RowKind.BUDGET, RowKind.MIN_SPEND, RowKind.CAPACITY, RowKind.COUNT, RowKind.SHARE_MIN, RowKind.SHARE_MAX,
             RowKind.PER_RESIDENT_MIN, RowKind.PER_RESIDENT_MAX, RowKind.ZONE_GAP, RowKind.INDICATOR, RowKind.MIN_PER_REGION, RowKind.STATUS,
             RowKind.KEEP)

RuleKind = Literal["budget", "min_spend", "capacity", "count_min", "count_max", "share_min", "share_max", "per_resident_min",
                   "per_resident_max", "zone_gap", "target", "min_per_region", "status", "keep"]


@dataclass(frozen=True)
class Rule:
    """One rule that may give: some rows of the model, on one side, and how to say it."""

    kind: RuleKind
    name: str  # the scenario's name for it (source, count, share, indicator)
    rows: np.ndarray
    side: Literal["lower", "upper"]  # the bound that gives
    scale: float  # a typical size, so slack is priced as a relative change
    labels: np.ndarray | None = None  # per row, the group (province, region, zone) where there are several


@dataclass(frozen=True)
class Relaxation:
    rule: Rule
    sentence: str
    override: str | None  # "key=value" for --set, where one key applies it

    def bullet(self) -> str:
        return f"  - {self.sentence}" + (f"   (--set {self.override})" if self.override else "")


@dataclass
class Diagnosis:
    scenario_name: str
    impossible: list[str] = field(default_factory=list)
    together: list[Relaxation] = field(default_factory=list)
    alternatives: list[Relaxation] = field(default_factory=list)
    note: str = ""

    def text(self) -> str:
        lines = [f"Why scenario '{self.scenario_name}' has no feasible allocation:"]
        if self.impossible:
            lines.append("Impossible on their own:")
            lines += [f"  - {sentence}" for sentence in self.impossible]
        colliding = list(dict.fromkeys(describe(r.rule) for r in [*self.together, *self.alternatives]))
        if colliding:
            lines.append(f"These rules cannot all hold together: {', '.join(colliding)}.")
        if self.alternatives:
            lines.append("Any one of these changes is enough:")
            lines += [relaxation.bullet() for relaxation in self.alternatives]
        if len(self.together) > 1 or (self.together and not self.alternatives):
            lines.append("Or change several at once (the smallest total relative change):")
            lines += [relaxation.bullet() for relaxation in self.together]
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)

    @property
    def overrides(self) -> list[str]:
        return [r.override for r in self.alternatives if r.override]


def describe(rule: Rule) -> str:
    return {
        "budget": f"the budget of '{rule.name}'", "min_spend": f"the minimum spend of '{rule.name}'",
        "capacity": f"the capacity of '{rule.name}'", "count_min": f"the minimum of count '{rule.name}'",
        "count_max": f"the maximum of count '{rule.name}'", "share_min": f"the floor of share '{rule.name}'",
        "share_max": f"the ceiling of share '{rule.name}'", "target": f"the hard target '{rule.name}'",
        "per_resident_min": f"the floor of money per resident '{rule.name}'", "per_resident_max": f"the ceiling of money per resident '{rule.name}'",
        "zone_gap": f"the largest gap between zones of '{rule.name}'",
        "min_per_region": "the minimum number of projects per region",
        "status": f"the status '{rule.name}' of projects {_projects(rule)}", "keep": f"keeping the reference plan's projects {_projects(rule)}",
    }[rule.kind]


def _projects(rule: Rule) -> str:
    """The projects of a status or keep rule, a few of them when there are many."""
    labels = [str(label) for label in (rule.labels if rule.labels is not None else [])]
    return ", ".join(labels[:STATUS_PROJECTS_SHOWN]) + (f" and {len(labels) - STATUS_PROJECTS_SHOWN} more" if len(labels) > STATUS_PROJECTS_SHOWN else "")


def relaxable_rules(scenario: Scenario, model: LinearModel) -> list[Rule]:
    """The rules of a built model that a planner could change, with their rows."""
    rules = []
    for block in model.rows(*RELAXABLE):
        rows, name = block.indices, block.key
        match block.kind:
            case RowKind.BUDGET:
                rules.append(Rule("budget", name, rows, "upper", max(scenario.sources[name].budget, 1.0), block.labels))
            case RowKind.MIN_SPEND:
                rules.append(Rule("min_spend", name, rows, "lower", scenario.sources[name].min_spend))
            case RowKind.CAPACITY:
                scale = max(float(np.nanmax(model.row_upper[rows])) if len(rows) else 1.0, 1.0)
                rules.append(Rule("capacity", name, rows, "upper", scale, block.labels))
            case RowKind.COUNT:
                count = scenario.counts[name]
                if count.min is not None:
                    rules.append(Rule("count_min", name, rows, "lower", max(count.min, 1)))
                if count.max is not None:
                    rules.append(Rule("count_max", name, rows, "upper", max(count.max, 1)))
            case RowKind.SHARE_MIN | RowKind.SHARE_MAX:
                rule = scenario.shares[name]
                money = sum(s.budget for s in scenario.sources.values()) if rule.source == "all" else scenario.sources[rule.source].budget
                lower = block.kind is RowKind.SHARE_MIN
                rules.append(Rule("share_min" if lower else "share_max", name, rows, "lower" if lower else "upper", max(money, 1.0)))
            case RowKind.PER_RESIDENT_MIN | RowKind.PER_RESIDENT_MAX:
                lower = block.kind is RowKind.PER_RESIDENT_MIN
                scale = max(float(np.nanmax(np.abs(model.row_lower[rows] if lower else model.row_upper[rows]))) if len(rows) else 1.0, 1.0)
                rules.append(Rule("per_resident_min" if lower else "per_resident_max", name, rows, "lower" if lower else "upper", scale,
                                  block.labels))
            case RowKind.ZONE_GAP:
                gap = scenario.indicators[name].max_zone_gap
                rules.append(Rule("zone_gap", name, rows, "upper", max(gap or 0.0, 0.01), block.labels))
            case RowKind.INDICATOR if scenario.indicators[name].hard:
                rules.append(Rule("target", name, rows, "lower", max(abs(scenario.indicators[name].target), 1e-6), block.labels))
            case RowKind.MIN_PER_REGION:
                rules.append(Rule("min_per_region", name, rows, "lower", max(scenario.min_projects_per_region, 1), block.labels))
            case RowKind.STATUS:
                rules.append(Rule("status", name, rows, "upper" if name == "exclude" else "lower", 1.0, block.labels))
            case RowKind.KEEP:
                rules.append(Rule("keep", name, rows, "lower", 1.0, block.labels))
    return rules


def elastic(model: LinearModel, rules: list[Rule]) -> tuple[LinearModel, list[np.ndarray]]:
    """The model with a priced slack column on each row of `rules` and no other objective.

    Returns the model and, per rule, the columns of its slacks.
    """
    rows = np.concatenate([r.rows for r in rules])
    signs = np.concatenate([np.full(len(r.rows), 1.0 if r.side == "lower" else -1.0) for r in rules])
    weights = np.concatenate([np.full(len(r.rows), 1.0 / r.scale) for r in rules])
    count = len(rows)
    slack = sp.csr_matrix((signs, (rows, np.arange(count))), shape=(model.num_rows, count))
    starts = np.cumsum([0] + [len(r.rows) for r in rules])
    columns = [model.num_cols + np.arange(starts[i], starts[i + 1]) for i in range(len(rules))]
    relaxed = LinearModel(
        c=np.concatenate([np.zeros(model.num_cols), weights]),
        A=sp.hstack([model.A, slack], format="csr"),
        row_lower=model.row_lower, row_upper=model.row_upper,
        col_lower=np.concatenate([model.col_lower, np.zeros(count)]),
        col_upper=np.concatenate([model.col_upper, np.full(count, np.inf)]),
        integer=np.concatenate([model.integer, np.zeros(count, dtype=bool)]),
        col_blocks=[*model.col_blocks, Block(ColumnKind.SLACK, "", model.num_cols, model.num_cols + count)],
        row_blocks=model.row_blocks,
    )
    return relaxed, columns


def impossible_alone(built: BuiltModel) -> list[str]:
    """Rules that no allocation could meet even with every other rule dropped."""
    rules = built.rules
    found = []
    for count in rules.scenario.counts.values():
        if count.min is None:
            continue
        mask = rules.fundable & rules.count_mask(count)
        if mask.sum() < count.min:
            found.append(f"count '{count.name}' needs at least {count.min} projects but only {int(mask.sum())} "
                         f"candidates{' of type ' + count.type if count.type else ''}{' in ' + count.zone if count.zone else ''} can be funded "
                         f"(--set targets.counts.{count.name}.min={int(mask.sum())})")
    for groups in rules.indicator_groups:
        indicator = groups.indicator
        if not indicator.hard:
            continue
        best = groups.achieved(rules.fundable.astype(float))
        short = np.flatnonzero(target_missed(best, indicator.target))
        if short.size:
            worst = short[np.argmin(best[short])]
            found.append(f"hard target '{indicator.name}' ({indicator.target:g}) is out of reach in {short.size} group(s) even if every "
                         f"candidate were funded; e.g. {groups.labels[worst]} reaches at most {best[worst]:.4g}")
    for s, source in enumerate(rules.sources):
        if source.min_spend <= 0:
            continue
        most = float(rules.money_limit[:, s].sum())
        if most < source.min_spend:
            found.append(f"source '{source.key}' must spend {format_wan(source.min_spend)} but its eligible candidates can take at most {format_wan(most)}")
    return found


def diagnose(scenario: Scenario, data: Data, built: BuiltModel, solve_model: Callable[..., Solution]) -> Diagnosis:
    """Explain an infeasible scenario; `solve_model(model, options)` is the backend to use."""
    diagnosis = Diagnosis(scenario.name, impossible=impossible_alone(built))
    rules = relaxable_rules(scenario, built.linear)
    if not rules:
        diagnosis.note = "No budget, count, share or hard target can give: the conflict is in the funding rules themselves " \
                         "(eligibility, matching, caps or declared plans)."
        return diagnosis
    model, columns = elastic(built.linear, rules)
    solution = solve_model(model, scenario.solver)
    if not solution.status.has_solution:
        diagnosis.note = (f"Even with every budget, count, share and target allowed to give, the solver found no allocation "
                          f"({solution.status.value}): the funding rules themselves (eligibility, matching, caps, declared "
                          "plans) or the solver's time limit are the obstacle.")
        return diagnosis
    solved = solution.values
    assert solved is not None, solution.status  # a solve with a solution has values
    slack = [solved[c] for c in columns]
    given = [i for i, values in enumerate(slack) if _gave(rules[i], values)]
    diagnosis.together = [_relaxation(scenario, data, built, solved, rules[i], slack[i]) for i in given]
    alternatives = []
    for rule in rules:  # each rule alone: the "either ... or ..." list
        alone, alone_columns = elastic(built.linear, [rule])
        answer = solve_model(alone, scenario.solver)
        if not answer.status.has_solution or answer.values is None:
            continue
        rule_slack = answer.values[alone_columns[0]]
        if _gave(rule, rule_slack):
            alternatives.append((float(rule_slack.max()) / rule.scale, _relaxation(scenario, data, built, answer.values, rule, rule_slack)))
    diagnosis.alternatives = [relaxation for _, relaxation in sorted(alternatives, key=lambda pair: pair[0])]
    return diagnosis


def _gave(rule: Rule, slack: np.ndarray) -> bool:
    """Did `rule` have to give (some slack above the tolerance, relative to its size)?"""
    return slack.max(initial=0.0) > SLACK_TOLERANCE * rule.scale


def _relaxation(scenario: Scenario, data: Data, built: BuiltModel, values: np.ndarray, rule: Rule, slack: np.ndarray) -> Relaxation:
    """Say how far `rule` gives in the relaxed solution `values`, and the override that applies it."""
    amount = float(slack.max(initial=0.0))
    if rule.kind == "budget":
        source = scenario.sources[rule.name]
        new = _round_up(source.budget + amount, 2)
        if len(rule.rows) > 1:  # a phased plan: the money is short by a given year
            return Relaxation(rule, f"add {format_wan(_round_up(amount, 2))} to '{rule.name}'{_worst_groups(rule, slack, money=True)}", None)
        return Relaxation(rule, f"add {format_wan(new - source.budget)} to '{rule.name}' (budget {format_wan(source.budget)} -> {format_wan(new)})",
                          f"sources.{rule.name}.budget={new:.2f}万")
    if rule.kind == "min_spend":
        source = scenario.sources[rule.name]
        new = max(_round_down(source.min_spend - amount, 2), 0.0)
        return Relaxation(rule, f"lower the minimum spend of '{rule.name}' from {format_wan(source.min_spend)} to {format_wan(new)}",
                          f"sources.{rule.name}.min_spend={new:.2f}万")
    if rule.kind in ("count_min", "count_max"):
        count = scenario.counts[rule.name]
        if rule.kind == "count_min":
            assert count.min is not None  # a count_min rule comes from a minimum
            new = max(math.floor(count.min - amount + 1e-6), 0)
            return Relaxation(rule, f"lower the minimum of count '{rule.name}' from {count.min} to {new}", f"targets.counts.{rule.name}.min={new}")
        assert count.max is not None  # a count_max rule comes from a maximum
        new = math.ceil(count.max + amount - 1e-6)
        return Relaxation(rule, f"raise the maximum of count '{rule.name}' from {count.max} to {new}", f"targets.counts.{rule.name}.max={new}")
    if rule.kind in ("share_min", "share_max"):
        share = scenario.shares[rule.name]
        result = make_result(scenario, data, built, _solution_view(values), {})
        inside, total = built.rules.share_parts(share, result.money)
        achieved = inside / total if total > 0 else 0.0
        if rule.kind == "share_min":
            assert share.min is not None  # a share_min rule comes from a floor
            new = _round_down(min(achieved, share.min), 4)
            return Relaxation(rule, f"lower the floor of share '{rule.name}' from {share.min:.2%} to {new:.2%}", f"balance.shares.{rule.name}.min={new}")
        assert share.max is not None  # a share_max rule comes from a ceiling
        new = _round_up(max(achieved, share.max), 4)
        return Relaxation(rule, f"raise the ceiling of share '{rule.name}' from {share.max:.2%} to {new:.2%}", f"balance.shares.{rule.name}.max={new}")
    if rule.kind in ("per_resident_min", "per_resident_max"):
        return _per_resident_relaxation(scenario, built, rule, slack)
    if rule.kind == "zone_gap":
        gap = scenario.indicators[rule.name].max_zone_gap
        assert gap is not None  # a zone_gap rule comes from max_zone_gap
        new = _round_up(gap + amount, 6)
        return Relaxation(rule, f"allow a gap between zones of '{rule.name}' of {new:g} instead of {gap:g}{_worst_groups(rule, slack)}",
                          f"targets.indicators.{rule.name}.max_zone_gap={new}")
    if rule.kind == "target":
        indicator = scenario.indicators[rule.name]
        new = _round_down(indicator.target - amount, 6)
        where = _worst_groups(rule, slack)
        return Relaxation(rule, f"lower hard target '{rule.name}' from {indicator.target:g} to {new:g}{where}",
                          f"targets.indicators.{rule.name}.target={new}")
    if rule.kind == "min_per_region":
        new = max(math.floor(scenario.min_projects_per_region - amount + 1e-6), 0)
        return Relaxation(rule, f"lower the minimum number of projects per region from {scenario.min_projects_per_region} to {new}"
                          f"{_worst_groups(rule, slack)}", f"balance.min_projects_per_region={new}")
    if rule.kind in ("status", "keep"):
        return _status_relaxation(rule, slack)
    short = _worst_groups(rule, slack, money=True)
    return Relaxation(rule, f"raise the capacity of '{rule.name}' (a regions-table column, so change the data){short}", None)


def _per_resident_relaxation(scenario: Scenario, built: BuiltModel, rule: Rule, slack: np.ndarray) -> Relaxation:
    """How far a floor (ceiling) on money per resident must come down (go up): the most any province or zone is short,
    in 元 per resident (a row's slack in 万元 x 10,000 / its residents)."""
    per_resident = scenario.per_resident[rule.name]
    _, labels, residents = built.rules.per_resident_groups(per_resident)
    counted = residents[residents > 0]
    yuan = float(np.max(slack * 10_000.0 / counted, initial=0.0))
    where = _worst_groups(rule, slack, money=True)
    if rule.kind == "per_resident_min":
        assert per_resident.min is not None  # a per_resident_min rule comes from a floor
        new = max(_round_down(per_resident.min - yuan, 2), 0.0)
        return Relaxation(rule, f"lower the floor of money per resident '{rule.name}' from {per_resident.min:g}元 to {new:g}元{where}",
                          f"balance.per_resident.{rule.name}.min={new}")
    assert per_resident.max is not None  # a per_resident_max rule comes from a ceiling
    new = _round_up(per_resident.max + yuan, 2)
    return Relaxation(rule, f"raise the ceiling of money per resident '{rule.name}' from {per_resident.max:g}元 to {new:g}元{where}",
                      f"balance.per_resident.{rule.name}.max={new}")


def _status_relaxation(rule: Rule, slack: np.ndarray) -> Relaxation:
    """Name the projects whose status (or keeping) has to give."""
    labels = rule.labels if rule.labels is not None else np.arange(len(slack))
    given = [str(labels[i]) for i in np.argsort(-slack, kind="stable") if slack[i] > SLACK_TOLERANCE][:STATUS_PROJECTS_SHOWN]
    if rule.kind == "keep":
        return Relaxation(rule, f"let the reference plan's project(s) {', '.join(given)} be dropped", "stability.keep=false")
    change = "fund" if rule.name == "exclude" else "do not fund"
    return Relaxation(rule, f"{change} project(s) {', '.join(given)} despite their status '{rule.name}' (the projects table's status column)", None)


def _worst_groups(rule: Rule, slack: np.ndarray, money: bool = False) -> str:
    if rule.labels is None or len(slack) <= 1:
        return ""
    order = [i for i in np.argsort(-slack) if slack[i] > SLACK_TOLERANCE * rule.scale][:5]
    amounts = ", ".join(f"{rule.labels[i]} by {format_wan(slack[i]) if money else f'{slack[i]:.4g}'}" for i in order)
    return f" (short in {amounts})" if amounts else ""


def _solution_view(values: np.ndarray) -> Solution:
    """Just enough of a Solution for :func:`make_result` to split money back to projects."""
    return Solution(status=SolveStatus.FEASIBLE, solver="elastic", solver_version="", values=values, objective=0.0)


def _round_up(value: float, digits: int) -> float:
    factor = 10**digits
    return math.ceil(value * factor - 1e-9) / factor


def _round_down(value: float, digits: int) -> float:
    factor = 10**digits
    return math.floor(value * factor + 1e-9) / factor

"""Classes of projects that share every money rule, so money can be modelled once per class.

Full funding, matching ratios and share-of-cost caps are homogeneous in (money, cost x selection): a
project's feasible money set is ``cost_p * Q`` for one polytope ``Q`` of its class, so the sum over a
class is ``(sum of cost_p x_p) * Q`` and any class solution splits back to projects in proportion to
cost, meeting every per-project rule (docs/formulation.md proves it). An absolute per-project cap ``a``
on one source s is not homogeneous, but it stays exact summed over a class (``F_s <= a x number of
funded members``) when no vertex of ``Q`` has an s-share strictly between the members' ``a / cost``:
classes are split at those shares (a handful of pieces, not one class per project), and
:func:`split_capped` splits such a class's money back to its projects. A cap that cannot bind (``a`` at
least the largest s-share of ``Q`` times the cost) is dropped. Projects whose caps bind on several
sources, or in a multi-year plan, keep a class of their own. Projects with a declared funding plan need
no money variables at all. A subsidy standard is homogeneous once it is read as a share of cost (an
amount over the cost), so projects of a class also share the standard's share of every source: a fixed
share keeps (type, zone, province) classes whole, a fixed amount splits them by cost.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.optimize import linprog

from allocator.rules import Rules
from allocator.scenario import Scenario

#: Shares of cost closer than this are one share (vertex enumeration, breakpoints).
SHARE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RuleClasses:
    """``of_project[p]`` is p's class (-1 for a declared plan); per-class arrays are indexed by class."""

    of_project: np.ndarray
    first_member: np.ndarray
    eligible: np.ndarray  # classes x sources, bool
    by_region: bool
    capped: np.ndarray  # classes x sources, bool: the absolute cap per project can bind (one row per pair)

    @property
    def count(self) -> int:
        return len(self.first_member)

    def members(self, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(projects, bounds): the class members (those in `mask`) ordered by class; class k's are
        ``projects[bounds[k]: bounds[k + 1]]``."""
        projects = np.flatnonzero((self.of_project >= 0) & (True if mask is None else mask))
        projects = projects[np.argsort(self.of_project[projects], kind="stable")]
        return projects, np.searchsorted(self.of_project[projects], np.arange(self.count + 1))


@dataclass(frozen=True)
class SharePolytope:
    """Q: the shares of its cost each source may pay in one project, ``a_eq f = b_eq``, ``a_ub f <= b_ub``, ``f >= 0``."""

    a_eq: np.ndarray
    b_eq: np.ndarray
    a_ub: np.ndarray
    b_ub: np.ndarray


def needs_region_classes(scenario: Scenario) -> bool:
    """Money rules that differ region by region force classes per region."""
    return any(
        (s.capacity is not None and s.capacity.by == "region") or (s.matching is not None and s.matching.ratio_column)
        for s in scenario.sources.values()
    )


def share_polytope(rules: Rules, project: int) -> SharePolytope:
    """Q of `project`: the shares sum to 1; a source that may not fund it pays 0, one with a standard its share; share
    caps; matching ``f_m >= ratio x sum of f_o``. Absolute caps are not in Q."""
    count = len(rules.sources)
    unit = np.eye(count)
    eq, eq_rhs, ub, ub_rhs = [np.ones(count)], [1.0], [], []
    for s in range(count):
        standard = rules.standard_share[project, s]
        if not rules.eligible[project, s] or not np.isnan(standard):
            eq.append(unit[s])
            eq_rhs.append(0.0 if not rules.eligible[project, s] else float(standard))
        elif rules.max_share_of_cost[project, s] < 1.0:
            ub.append(unit[s])
            ub_rhs.append(float(rules.max_share_of_cost[project, s]))
    for rule in rules.matching:
        ratio = float(rule.ratio[project])
        if ratio > 0:
            ub.append(ratio * unit[rule.of].sum(axis=0) - unit[rule.source])
            ub_rhs.append(0.0)
    return SharePolytope(np.array(eq), np.array(eq_rhs), np.array(ub).reshape(-1, count), np.array(ub_rhs))


def vertex_shares(polytope: SharePolytope, source: int) -> np.ndarray:
    """The distinct shares of `source` at the vertices of Q, ascending (empty when Q is empty)."""
    return _vertex_shares(polytope.a_eq.tobytes(), polytope.b_eq.tobytes(), polytope.a_ub.tobytes(), polytope.b_ub.tobytes(),
                          polytope.a_eq.shape[1], source)


@lru_cache(maxsize=256)
def _vertex_shares(a_eq: bytes, b_eq: bytes, a_ub: bytes, b_ub: bytes, count: int, source: int) -> np.ndarray:
    """Every vertex is the solution of the equalities and count - rank of them active inequalities: try each choice."""
    eq, eq_rhs = np.frombuffer(a_eq).reshape(-1, count), np.frombuffer(b_eq)
    ub = np.vstack([-np.eye(count), np.frombuffer(a_ub).reshape(-1, count)])
    ub_rhs = np.concatenate([np.zeros(count), np.frombuffer(b_ub)])
    shares = []
    for active in itertools.combinations(range(len(ub)), count - np.linalg.matrix_rank(eq)):
        system, rhs = np.vstack([eq, ub[list(active)]]), np.concatenate([eq_rhs, ub_rhs[list(active)]])
        if np.linalg.matrix_rank(system) < count:
            continue
        vertex = np.linalg.lstsq(system, rhs, rcond=None)[0]
        if np.allclose(eq @ vertex, eq_rhs, atol=SHARE_TOLERANCE) and np.all(ub @ vertex <= ub_rhs + SHARE_TOLERANCE):
            shares.append(vertex[source])
    return _distinct(np.array(shares))


def _distinct(values: np.ndarray) -> np.ndarray:
    ordered = np.sort(values)
    return ordered[np.concatenate([[True], np.diff(ordered) > SHARE_TOLERANCE])] if len(ordered) else ordered


def rule_classes(rules: Rules) -> RuleClasses:
    """Group projects by (type, zone, province[, region]), the share each standard fixes and, where an absolute cap
    binds, the piece of Q's breakpoints its cap over cost falls in (or the project alone)."""
    projects = rules.data.projects
    declared = rules.declared
    by_region = needs_region_classes(rules.scenario)
    keys = pd.DataFrame({
        "type": projects["type"].cat.codes.to_numpy(),
        "zone": projects["zone"].to_numpy(),
        "province": projects["province"].to_numpy(),
        "region": projects["region"].to_numpy() if by_region else 0,
        **_standard_keys(rules),
    })
    binds, piece, own = _cap_keys(rules, keys.groupby(list(keys.columns), sort=True).ngroup().to_numpy())
    keys = keys.assign(capped=np.where(binds.any(axis=1), binds.argmax(axis=1), -1), piece=piece, own=own)
    of_project = keys[~declared].groupby(list(keys.columns), sort=True).ngroup().to_numpy()
    classes = np.full(len(projects), -1, dtype=np.int64)
    classes[~declared] = of_project
    count = int(of_project.max()) + 1 if of_project.size else 0
    first_member = np.full(count, -1, dtype=np.int64)
    members = np.flatnonzero(~declared)
    first_member[of_project[::-1]] = members[::-1]
    return RuleClasses(of_project=classes, first_member=first_member, eligible=rules.eligible[first_member], by_region=by_region,
                       capped=binds[first_member])


def _cap_keys(rules: Rules, group: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per project: the sources whose cap can bind (projects x sources), the piece between Q's breakpoints its cap over
    cost falls in (-1 without one), and its own index where it needs a class of its own (-1 otherwise)."""
    n = len(group)
    caps, cost = rules.absolute_caps, rules.data.projects["cost"].to_numpy()
    binds = np.zeros(caps.shape, dtype=bool)
    piece, own = np.full(n, -1), np.full(n, -1)
    has_cap = (np.isfinite(caps) & rules.eligible).any(axis=1) & ~rules.declared
    one_period = rules.scenario.phasing.periods == 1
    order = np.flatnonzero(has_cap)[np.argsort(group[has_cap], kind="stable")]
    for members in np.split(order, np.flatnonzero(np.diff(group[order])) + 1) if order.size else []:
        polytope = share_polytope(rules, members[0])
        for s in np.flatnonzero(np.isfinite(caps[members[0]]) & rules.eligible[members[0]]).tolist():
            shares = vertex_shares(polytope, s)
            if not len(shares):
                continue  # Q is empty: nothing in this group can be funded, caps or not
            ratio = caps[members, s] / cost[members]
            bind = ratio < shares[-1] - SHARE_TOLERANCE
            fits = bind & one_period & (ratio >= shares[0] - SHARE_TOLERANCE)
            binds[members, s] = bind
            piece[members[fits]] = cap_piece(shares, ratio[fits])
            own[members[bind & ~fits]] = members[bind & ~fits]
    several = binds.sum(axis=1) > 1
    own[several] = np.flatnonzero(several)
    piece[several] = -1
    return binds, piece, own


def cap_piece(shares: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Which piece [shares[j], shares[j+1]] each cap-over-cost `ratio` falls in (a breakpoint counts to the piece above)."""
    return np.clip(np.searchsorted(shares, ratio + SHARE_TOLERANCE, side="right") - 1, 0, max(len(shares) - 2, 0))


def _standard_keys(rules: Rules) -> dict[str, np.ndarray]:
    """Per source with a standard: each project's fixed share as a class key (-1 where none applies), rounded to 12
    decimals so that shares differing only by float noise share a class."""
    shares = rules.standard_share
    return {f"standard{s}": np.where(np.isnan(shares[:, s]), -1.0, np.round(shares[:, s], 12))
            for s, source in enumerate(rules.sources) if source.standard is not None}


def split_capped(rules: Rules, classes: RuleClasses, selected: np.ndarray, money: np.ndarray) -> np.ndarray:
    """`money` (projects x sources x periods, split in proportion to cost) with each class whose summed cap the
    proportional split breaks split again so that every member keeps within its cap (docs/formulation.md). Only
    one-period plans have classes of several capped projects."""
    if money.shape[2] != 1 or not classes.capped.any():
        return money
    cost, caps = rules.data.projects["cost"].to_numpy(), rules.absolute_caps
    money = money.copy()
    funded, bounds = classes.members(selected > 0)
    shared = classes.capped & (np.diff(bounds) > 1)[:, None]  # a class of one funded project keeps its own money
    for k, s in zip(*np.nonzero(shared), strict=True):
        members = funded[bounds[k]: bounds[k + 1]]
        if np.all(money[members, s, 0] <= caps[members, s] * selected[members] * (1 + SHARE_TOLERANCE)):
            continue
        money[members, :, 0] = _split_class(share_polytope(rules, classes.first_member[k]), int(s), cost[members] * selected[members],
                                            caps[members, s] * selected[members], money[members, :, 0].sum(axis=0))
    return money


def _split_class(polytope: SharePolytope, source: int, funded: np.ndarray, cap: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Money per member (members x sources) adding up to `total`, each within `funded` x Q and its `cap` on `source`.

    All members' cap / cost lie in one piece [v0, v1] between Q's breakpoints, where Q's slices are Minkowski-linear:
    the class mix q = total / sum(funded) is mu u + (1 - mu) w with u, w in Q of `source`-share v0 and v1 (a small LP).
    Each member gets the share t_p = v0 + theta (cap_p / funded_p - v0), theta setting the source's sum right, and the
    mix of u and w with that share.
    """
    shares = vertex_shares(polytope, source)
    ratio = cap / funded
    piece = int(cap_piece(shares, ratio[:1])[0])  # every member's ratio lies in this piece (their class says so)
    v0, v1 = float(shares[piece]), float(shares[piece + 1])
    whole = funded.sum()
    mix = total / whole
    mu = float(np.clip((v1 - mix[source]) / (v1 - v0), 0.0, 1.0))
    u, w = _ends(polytope, source, v0, v1, mu, mix)
    room = cap.sum() - whole * v0  # > 0 unless every ratio is v0
    theta = float(np.clip((total[source] - whole * v0) / room, 0.0, 1.0)) if room > 0 else 0.0
    member_mu = np.clip((v1 - (v0 + theta * (ratio - v0))) / (v1 - v0), 0.0, 1.0)
    return funded[:, None] * (member_mu[:, None] * u + (1 - member_mu[:, None]) * w)


def _ends(polytope: SharePolytope, source: int, v0: float, v1: float, mu: float, mix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """u, w in Q with `source`-shares v0 and v1 whose mix mu u + (1 - mu) w is nearest `mix` (equal when mix is in Q)."""
    count = len(mix)
    zero_eq, zero_ub = np.zeros_like(polytope.a_eq), np.zeros_like(polytope.a_ub)
    pick = np.eye(count)[source]
    # Columns: u, w, then the deviation above and below `mix` per source; minimise the deviation.
    a_eq = np.block([
        [polytope.a_eq, zero_eq, np.zeros((len(polytope.a_eq), 2 * count))],
        [zero_eq, polytope.a_eq, np.zeros((len(polytope.a_eq), 2 * count))],
        [pick[None], np.zeros((1, count)), np.zeros((1, 2 * count))],
        [np.zeros((1, count)), pick[None], np.zeros((1, 2 * count))],
        [mu * np.eye(count), (1 - mu) * np.eye(count), np.eye(count), -np.eye(count)],
    ])
    b_eq = np.concatenate([polytope.b_eq, polytope.b_eq, [v0, v1], mix])
    a_ub = np.block([[polytope.a_ub, zero_ub, np.zeros((len(polytope.a_ub), 2 * count))],
                     [zero_ub, polytope.a_ub, np.zeros((len(polytope.a_ub), 2 * count))]])
    b_ub = np.concatenate([polytope.b_ub, polytope.b_ub])
    cost = np.concatenate([np.zeros(2 * count), np.ones(2 * count)])
    answer = linprog(cost, A_ub=a_ub if len(a_ub) else None, b_ub=b_ub if len(a_ub) else None, A_eq=a_eq, b_eq=b_eq,
                     bounds=(0, None), method="highs")
    ends = answer.x
    assert answer.status == 0 and ends is not None, answer.message  # Q's slices at its own vertex shares are never empty
    return ends[:count], ends[count: 2 * count]

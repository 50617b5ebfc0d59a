"""A scenario: the validated, unit-resolved meaning of a scenario file (docs/scenarios.md).

These are the scenario's types; :mod:`allocator.scenario_toml` reads them from a TOML file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from allocator.backends.options import SolverOptions
from allocator.config import Document

#: What the objective does: maximise weighted benefit, or minimise the money that meets every hard rule.
Sense = Literal["max_benefit", "min_cost"]
#: Whether a project is funded whole or not at all (a MIP), or may be part-funded (an LP).
Selection = Literal["binary", "continuous"]
#: How money is split between sources once the selection is optimal: even shares across provinces (allocator.split),
#: or whatever split the solver returns.
SplitRule = Literal["even", "solver"]
#: The groups an indicator has one value (and one target) per.
Scope = Literal["national", "zone", "province", "region"]
#: How the outputs show an indicator's values: as a percentage (0.9896 as 98.96%) or as the number itself.
Display = Literal["percent", "number"]
#: The groups that receive a share (the formula baseline) or an arrival draw (uncertainty).
Level = Literal["zone", "province", "region"]
#: The groups whose share of money a share rule bounds.
ShareLevel = Literal["zone", "province"]
#: The groups a source's capacity column budgets.
CapacityLevel = Literal["province", "region"]
#: What happens to a project short of money: it stalls (its money is stranded) or is completed after the plan.
StallRule = Literal["stall", "late"]

#: The source of a share rule that bounds every source's money together.
ALL_SOURCES = "all"
#: A factor named ``inverse:<column>`` weighs the reciprocal of the column (less capacity, more money).
INVERSE_PREFIX = "inverse:"


@dataclass(frozen=True)
class ProjectType:
    key: str
    label: str
    welfare: bool


@dataclass(frozen=True)
class Matching:
    """This source's money in a project >= ratio x the money of the `of` sources in that project."""

    of: tuple[str, ...]
    ratio: float | None = None
    ratio_by_zone: dict[str, float] | None = None
    ratio_column: str | None = None


@dataclass(frozen=True)
class Capacity:
    """A budget per province or region for one source, read from a column of the regions table (万元)."""

    column: str
    by: CapacityLevel


@dataclass(frozen=True)
class Standard:
    """A subsidy standard (补助标准): per type, this source pays a fixed share of a project's cost or a fixed amount per
    project, looked up by the project's province, then its zone, then "default"; never more than the cost."""

    share: dict[str, dict[str, float]]  # type -> province, zone or "default" -> share of cost
    amount: dict[str, dict[str, float]]  # type -> province, zone or "default" -> 万元 per project

    def for_project(self, type_key: str, province: str, zone: str) -> tuple[float | None, float | None]:
        """(share, amount) for one project; (None, None) where the standard says nothing."""
        def look(table: dict[str, dict[str, float]]) -> float | None:
            by_place = table.get(type_key, {})
            return next((by_place[k] for k in (province, zone, "default") if k in by_place), None)
        return look(self.share), look(self.amount)


@dataclass(frozen=True)
class Source:
    key: str
    label: str
    budget: float  # 万元
    by_year: tuple[float, ...]  # 万元 per period (one entry without phasing)
    min_spend: float  # 万元
    types: tuple[str, ...]
    zones: tuple[str, ...] | None  # None: every zone
    max_share_of_cost: dict[str, float]  # by type; absent: no share cap
    cap_per_project: dict[str, dict[str, float]]  # type -> zone or "default" -> 万元
    capacity: Capacity | None
    matching: Matching | None
    standard: Standard | None = None  # a fixed share or amount per project (补助标准); None: the model chooses

    def cap_for(self, type_key: str, zone: str) -> float | None:
        """The absolute cap on this source's money in one project of `type_key` in `zone` (万元)."""
        by_zone = self.cap_per_project.get(type_key)
        if by_zone is None:
            return None
        return by_zone.get(zone, by_zone.get("default"))


@dataclass(frozen=True)
class CountTarget:
    name: str
    type: str | None
    zone: str | None
    min: int | None
    max: int | None


@dataclass(frozen=True)
class Indicator:
    """value = (baseline + sum of contribution over funded projects) / (denominator x scale), per scope."""

    name: str
    label: str
    baseline: str | None
    contribution: str
    denominator: str
    scale: float
    scope: Scope
    target: float
    hard: bool
    penalty: float
    types: tuple[str, ...] | None
    display: Display  # see default_display
    deadline: int | None = None  # a year of the plan: count only projects completed by then
    max_zone_gap: float | None = None  # after the plan, no zone's value more than this above another's (a hard rule)


def default_display(target: float, scale: float) -> Display:
    """An indicator's display when the scenario names none: a percentage for a proportion (a target in (0, 1] of an
    unscaled ratio, like a coverage rate of 0.8), else the number itself (counts per 10,000, a target of 80 with scale 0.01)."""
    return "percent" if 0 < target <= 1 and scale == 1 else "number"


@dataclass(frozen=True)
class ShareRule:
    """Share of one source (or all money) going to a set of zones or provinces within [min, max]."""

    name: str
    source: str  # a source key, or ALL_SOURCES
    level: ShareLevel
    members: tuple[str, ...]
    min: float | None
    max: float | None


@dataclass(frozen=True)
class PerResidentRule:
    """Money per resident of one source (or all money) in every province or zone within [min, max], 元 per resident
    (residents: the regions table's ``population`` column)."""

    name: str
    source: str  # a source key, or ALL_SOURCES
    level: ShareLevel
    min: float | None  # 元 per resident
    max: float | None


@dataclass(frozen=True)
class BaselineSpec:
    """The formula method (因素法): shares of each source by weighted factors, then projects by priority."""

    level: Level  # the groups that receive a share
    factors: dict[str, float]  # regions-table column (or "inverse:<column>") -> weight
    floor: float  # no group's share below this (then renormalised)
    cap: float  # no group's share above this (then renormalised)
    priority: str  # projects column, highest funded first; ties by project_id


@dataclass(frozen=True)
class Phasing:
    """Years of a multi-year plan; without ``[phasing]`` the plan is one period with no years."""

    years: tuple[int, ...] = ()
    duration: int = 1  # construction years of a project
    cost_profile: tuple[float, ...] = (1.0,)  # share of its cost a project spends in each construction year
    carry_over: bool = True  # unspent money of a year may be spent in later years
    discount_rate: float = 0.0  # benefit of a project completed in year y counts 1/(1+r)^(y - first year)

    @property
    def periods(self) -> int:
        return max(len(self.years), 1)

    @property
    def starts(self) -> int:
        """How many periods a project can start in and still finish within the plan."""
        return self.periods - self.duration + 1

    def starts_done_by(self, period: int) -> int:
        """How many start periods (the first ones) finish their construction by the end of `period`."""
        return max(min(period - self.duration + 2, self.starts), 0)

    def completed(self, starts: Any, period: int) -> Any:
        """Per project, how much of it is completed by the end of `period`, from its starts (projects x start periods)."""
        return starts[:, : self.starts_done_by(period)].sum(axis=1)

    def label(self, period: int) -> int | str:
        return self.years[period] if self.years else "all"


@dataclass(frozen=True)
class Triangular:
    """A triangular distribution: low <= mode <= high (all equal: a fixed value)."""

    low: float
    mode: float
    high: float

    def quantile(self, q: float) -> float:
        """The inverse distribution function at q in [0, 1]."""
        low, mode, high = self.low, self.mode, self.high
        if high <= low:
            return low
        split = (mode - low) / (high - low)
        if q < split:
            return low + ((high - low) * (mode - low) * q) ** 0.5
        return high - ((high - low) * (high - mode) * (1.0 - q)) ** 0.5


@dataclass(frozen=True)
class Uncertainty:
    """The optional ``[uncertainty]`` table, for ``allocate simulate`` (docs/simulation.md)."""

    matching_source: str  # the source whose money may not arrive (local matching money)
    local_arrival: dict[str, Triangular]  # zone -> share of the matching source's money that arrives; absent: 1
    arrival_by: Level  # one arrival draw per zone, or per province/region (from its zone's law)
    cost_overrun: dict[str, Triangular]  # type -> factor on cost; absent: 1
    delay_probability: float  # a funded project starts one year late (phased plans)
    stall_rule: StallRule
    robust_quantile: float  # `--robust`: plan on this quantile of the arrival share


@dataclass(frozen=True)
class Stability:
    """The optional ``[stability]`` table: a previous plan this one should stay close to (docs/whatif.md)."""

    reference: Path | None = None  # a run directory; None: no reference plan
    keep: bool = True  # every project funded in the reference stays funded
    churn_penalty: float = 0.0  # objective units per project added or dropped against the reference


@dataclass(frozen=True)
class ProjectStatuses:
    """The optional ``[projects]`` table: project statuses set by project_id, which win over the projects table's
    ``status`` column (docs/scenarios.md)."""

    must_fund: tuple[str, ...] = ()  # 必须安排: funded
    exclude: tuple[str, ...] = ()  # 不予安排: not funded


@dataclass(frozen=True)
class OutputSpec:
    """The optional ``[output]`` table: how the run's files write money."""

    money_precision: float = 0.01  # 万元: every money cell is a whole number of this unit (allocator.rounding)


@dataclass(frozen=True)
class ApplicationsSpec:
    """[data] import_projects: the projects file is an application workbook, read as `allocate import` reads it."""

    mapping: Path | None  # projects_mapping: a mapping.toml (docs/import.md)
    sheet: str | None  # projects_sheet


@dataclass(frozen=True)
class DataSpec:
    regions: Path
    projects: Path
    money_unit: str
    applications: ApplicationsSpec | None = None


@dataclass(frozen=True)
class TypeBenefit:
    """[objective.by_type.<type>]: a type's own benefit, `weight` x the projects' `column`, and optionally at most
    `weight` x the regions' `cap` column per region (the same residents are counted once per type and region)."""

    column: str
    weight: float
    cap: str | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    data: DataSpec
    types: dict[str, ProjectType]
    sources: dict[str, Source]
    counts: dict[str, CountTarget]
    indicators: dict[str, Indicator]
    shares: dict[str, ShareRule]
    min_projects_per_region: int
    sense: Sense
    benefit: dict[str, float]
    selection: Selection
    solver: SolverOptions
    document: Document = field(repr=False, compare=False)
    phasing: Phasing = Phasing()
    baseline: BaselineSpec | None = None  # the optional [baseline] table, for `allocate baseline`
    uncertainty: Uncertainty | None = None  # the optional [uncertainty] table, for `allocate simulate`
    stability: Stability = Stability()  # the optional [stability] table: a reference plan
    split: SplitRule = "even"  # [model] split: the rule that chooses among equally good splits
    output: OutputSpec = OutputSpec()  # the optional [output] table
    benefit_by_type: dict[str, TypeBenefit] = field(default_factory=dict)  # [objective.by_type]: replaces `benefit` per type
    objective_unit: str = ""  # [objective] unit: what the benefit counts (e.g. 万人); "" when the scenario says not
    raise_lowest: str | None = None  # [objective] raise_lowest: the indicator whose lowest group is raised first (max-min)
    per_resident: dict[str, PerResidentRule] = field(default_factory=dict)  # [balance.per_resident.<name>]
    statuses: ProjectStatuses = ProjectStatuses()  # [projects] must_fund / exclude: statuses by project_id

    @property
    def path(self) -> Path:
        return self.document.files[-1]

    def resolved(self) -> dict[str, Any]:
        """The merged document after extends and overrides, as written to the manifest."""
        return self.document.values

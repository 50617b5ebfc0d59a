"""A scenario's parameters as a form, and a submitted form as ``--set`` overrides: the values the planner changed,
written as they would be typed after ``allocate run --set``, so a bad one gets the command line's own error."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from allocator.scenario import Scenario

#: Units a budget may be entered in, with their size in 万元.
MONEY_UNITS = {"亿": 10_000.0, "万": 1.0}
#: Keys an override carried by a page (a diagnosis's fix, an earlier change) may set: the plan's rules, never its
#: data files, output, solver or reference run; ``projects.`` holds the statuses set by id (锁定 / 排除).
SETTABLE = ("sources.", "targets.", "balance.", "objective.", "model.", "projects.")
#: The last part of a field's key, as the form names it.
PARTS = {"budget": "预算", "min": "最少", "max": "最多", "target": "目标值", "hard": "硬约束（必须达到）"}
#: The same in English, for the English interface.
PARTS_EN = {"budget": "budget", "min": "minimum", "max": "maximum", "target": "target", "hard": "hard (must be met)"}


class BadOverride(ValueError):
    """An override a page may not carry (its key is outside :data:`SETTABLE`, or it has no ``=``), or a form's value
    that is none it offers (a budget's unit other than 亿 and 万)."""


@dataclass(frozen=True)
class Field:
    """One editable value: its ``--set`` key, what the page calls it, its kind (money, int, number, bool) and value."""

    key: str
    group: str
    label: str
    kind: str
    value: float | bool | None
    unit: str = ""  # money: 亿 or 万, the unit it is shown in
    label_en: str = ""  # the English label when the page names it itself (not the scenario's own label)

    @property
    def part(self) -> str:
        """Which value of the rule this is, in the planner's words (预算, 最少, 最多, 目标值, 硬约束)."""
        return PARTS.get(self.key.rsplit(".", 1)[1], self.key.rsplit(".", 1)[1])

    @property
    def part_en(self) -> str:
        """:attr:`part` in English."""
        return PARTS_EN.get(self.key.rsplit(".", 1)[1], self.key.rsplit(".", 1)[1])

    @property
    def shown(self) -> str:
        """The value as the input box shows it (in :attr:`unit` for money; empty when the scenario sets none)."""
        if self.value is None or isinstance(self.value, bool):
            return ""
        amount = self.value / MONEY_UNITS[self.unit] if self.kind == "money" else self.value
        return f"{amount:.10g}"

    @property
    def name(self) -> str:
        """The form field's name."""
        return f"f:{self.key}"


def fields(scenario: Scenario) -> list[Field]:
    """The form of `scenario`: budgets, count targets, indicator targets and share rules."""
    found = [Field(f"sources.{s.key}.budget", "sources", s.label or s.key, "money", s.budget, _unit(s.budget))
             for s in scenario.sources.values()]
    for count in scenario.counts.values():
        what, what_en = (scenario.types[count.type].label, "") if count.type else ("全部项目", "All projects")
        found += [Field(f"targets.counts.{count.name}.{end}", "counts", what, "int", getattr(count, end), label_en=what_en)
                  for end in ("min", "max")]
    for indicator in scenario.indicators.values():
        found += [Field(f"targets.indicators.{indicator.name}.target", "indicators", indicator.label or indicator.name, "number", indicator.target),
                  Field(f"targets.indicators.{indicator.name}.hard", "indicators", indicator.label or indicator.name, "bool", indicator.hard)]
    for share in scenario.shares.values():
        found += [Field(f"balance.shares.{share.name}.{end}", "shares", share.name, "number", getattr(share, end)) for end in ("min", "max")]
    return found


def _unit(budget: float) -> str:
    return "亿" if abs(budget) >= MONEY_UNITS["亿"] else "万"


def changed(form_fields: Iterable[Field], submitted: Mapping[str, str]) -> list[str]:
    """The ``--set`` overrides for the submitted values that differ from the fields' own (unparsable ones included, as
    typed, so that loading the scenario says what is wrong with them). A field the form does not carry is unchanged (a
    checkbox is carried by its marker ``b:KEY``, as an unticked box sends nothing)."""
    overrides = []
    for field in form_fields:
        if (f"b:{field.key}" if field.kind == "bool" else field.name) not in submitted:
            continue
        if field.kind == "bool":
            value = submitted.get(field.name) == "on"
            if value != field.value:
                overrides.append(f"{field.key}={'true' if value else 'false'}")
            continue
        text = submitted.get(field.name, "").strip()
        if field.kind == "money":
            unit = submitted.get(f"u:{field.key}", field.unit).strip()
            if unit not in MONEY_UNITS:  # it was read as the field's own unit: '20' with '元' solved 20万
                raise BadOverride(f"预算单位 '{unit}' 不可用，只能是 {' 或 '.join(MONEY_UNITS)} (the unit '{unit}' of {field.key} is "
                                  f"not one of {', '.join(MONEY_UNITS)})")
            if text == field.shown and unit == field.unit:  # the number alone unchanged is not enough: 1500万 -> 1500亿
                continue
            number = _number(text)
            if number is not None and field.value is not None and abs(number * MONEY_UNITS[unit] - float(field.value)) < 1e-9:
                continue
            overrides.append(f"{field.key}={text}{unit}")
        else:
            if text == field.shown:
                continue
            number = _number(text)
            if number is None or field.value is None or number != float(field.value):
                overrides.append(f"{field.key}={text}")
    return overrides


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def carried(overrides: Iterable[str]) -> list[str]:
    """Overrides carried by a page, checked: each ``key=value`` with a key the workbench may set."""
    checked = []
    for override in overrides:
        key, sep, _ = override.partition("=")
        if not sep or not key.strip().startswith(SETTABLE):
            raise BadOverride(f"the workbench does not change '{key.strip()}' (only {', '.join(k.rstrip('.') for k in SETTABLE)} keys)")
        checked.append(override.strip())
    return checked


def merged(*groups: Iterable[str]) -> list[str]:
    """The overrides of every group, in order, one per key: a later one replaces an earlier one of the same key."""
    by_key: dict[str, str] = {}
    for group in groups:
        for override in group:
            key = override.partition("=")[0].strip()
            by_key.pop(key, None)
            by_key[key] = override
    return list(by_key.values())


def as_override(key: str, value: object) -> str:
    """An override recorded in a run's manifest (its key and parsed value) as it would be typed after ``--set``."""
    if isinstance(value, str) and not _parses(value):
        return f"{key}={value}"  # as typed: 8亿
    return f"{key}={_toml(value)}"


def _parses(text: str) -> bool:
    import tomllib
    try:
        tomllib.loads(f"v = {text}")
    except ValueError:  # TOMLDecodeError, or an integer beyond Python's limit on digits
        return False
    return True


def _toml(value: object) -> str:
    """`value` as a TOML value."""
    import json
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value), ensure_ascii=False)

"""From the rows of a sheet to a projects table: which rows are projects, subtotals, the total, blanks or notes;
each cell read as its field wants it; places and types resolved; every decision and problem recorded."""

from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from allocator.errors import InputError
from allocator.importing.headers import FIELD_NAMES, TEXT_FIELDS, Mapping, header_key, is_money
from allocator.importing.numbers import plain, read_count, read_money
from allocator.importing.places import SHOWN_CANDIDATES, Gazetteer
from allocator.importing.workbook import Column, Formula, Sheet

#: Built-in number fields that are not money.
COUNT_FIELDS = ("area_m2", "population_served", "households_served")
_NOTE = re.compile(r"^(注|说明|备注[:：]|填表说明|附注)")
_TOTAL = ("合计", "总计", "全省合计", "总合计")
#: A row with only this text and no number heads a group: 一、杭州市, （二）宁波市, 西湖区.
_HEADING = re.compile(r"^([一二三四五六七八九十]+[、.]|[(（][一二三四五六七八九十]+[)）]|.*(省|市|州|盟|地区|县|区)$)")
#: Two sums agree within this many 万元 (50 元) or units: the rounding of figures shown to two decimals.
TOLERANCE = 0.005


@dataclass(frozen=True)
class Problem:
    row: int | None
    column: str
    message: str

    def where(self, sheet: str) -> str:
        return ", ".join(filter(None, (f"sheet {sheet}", f"row {self.row}" if self.row else "", self.column and f"column {self.column}")))


@dataclass(frozen=True)
class Check:
    """A subtotal or total row against the sum of its detail rows, for one column."""

    row: int
    label: str
    column: str
    money: bool
    stated: float
    summed: float
    rows: tuple[int, ...]

    @property
    def difference(self) -> float:
        return self.stated - self.summed

    @property
    def agrees(self) -> bool:
        return abs(self.difference) <= TOLERANCE


@dataclass
class Decision:
    """What one column became: a field, a data column (kept under its header), or dropped."""

    column: Column
    target: str | None  # a field; "" dropped; None kept as a data column
    why: str


@dataclass
class Rows:
    """The outcome of reading the rows of a sheet."""

    records: list[dict[str, Any]] = field(default_factory=list)
    excluded: list[tuple[int, str]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: (field, value as written) -> (what it was read as, rows).
    resolved: dict[tuple[str, str], tuple[str, list[int]]] = field(default_factory=dict)
    from_text: list[tuple[int, str, str, str]] = field(default_factory=list)

    @property
    def bad_rows(self) -> set[int]:
        return {p.row for p in self.problems if p.row}


def map_columns(sheet: Sheet, mapping: Mapping) -> list[Decision]:
    """Each column's field: the mapping's, else the built-in name's; of two columns for one field, the better name wins."""
    decisions: list[Decision] = []
    best: dict[str, tuple[int, int]] = {}
    for column in sheet.columns:
        key = header_key(column.header)[0]
        target, rank, why = mapping.field_of(key)
        decisions.append(Decision(column, target, why or "no known name: kept as a data column"))
        if target and (target not in best or rank < best[target][0]):
            best[target] = (rank, column.index)
    for decision in decisions:
        target = decision.target
        if target and best[target][1] != decision.column.index:
            winner = next(d.column for d in decisions if d.column.index == best[target][1])
            decision.target, decision.why = None, f"also names {target}, taken from column {winner.letter} ({winner.header}): kept as a data column"
    return decisions


def require_fields(decisions: list[Decision], source: str) -> None:
    fields = {d.target for d in decisions if d.target}
    headers = ", ".join(d.column.header for d in decisions)
    for needed, names in (("name", "项目名称"), ("type", "项目类型 or 建设内容"), ("cost", "总投资")):
        if needed not in fields:
            raise InputError(f"no column for {needed} ({names}); the header has: {headers}; map it in a mapping.toml [columns]",
                             source=source)
    if not fields & {"place", "township", "region_id"}:
        raise InputError(f"no column for the place (建设地点, 所在县（市、区） or 街道（乡镇）) or its code (行政区划代码); the header has: {headers}",
                         source=source)


class RowReader:
    """Reads the rows of one sheet with its column decisions, places and types."""

    def __init__(self, sheet: Sheet, decisions: list[Decision], mapping: Mapping, places: Gazetteer):
        self.sheet, self.mapping, self.places = sheet, mapping, places
        self.fields = {d.target: d.column for d in decisions if d.target}
        self.kept = [d.column for d in decisions if d.target is None]
        self.out = Rows()

    def unit(self, column: Column) -> str | None:
        """The money unit of a column: its header's, else the sheet's, else the mapping's (None: cells must carry one)."""
        return column.unit or self.sheet.unit or self.mapping.unit

    def read(self) -> Rows:
        kinds = [(number, cells, self._kind(cells)) for number, cells in self.sheet.rows]
        details: list[tuple[int, dict[str, Any]]] = []
        groups: list[tuple[int, str, dict[str, Any], list[int] | None]] = []
        leading = next((kind for _, _, kind in kinds if kind[0] in ("subtotal", "detail")), ("", ""))[0] == "subtotal"
        for position, (number, cells, (kind, label)) in enumerate(kinds):
            if kind == "notes":
                below = len(kinds) - position - 1
                shown = label if len(label) <= 30 else label[:30] + "…"
                self.out.excluded.append((number, f"notes ({shown}) and the {below} row{'s' if below != 1 else ''} below"))
                break
            if kind in ("blank", "heading", "column numbers"):
                self.out.excluded.append((number, f"{kind} ({label})" if label else kind))
            elif kind == "detail":
                details.append((number, self._record(number, cells)))
            else:
                self.out.excluded.append((number, f"{'total' if kind == 'total' else 'subtotal'} ({label})"))
                groups.append((number, label, self._figures(number, cells), None if kind == "total" else self._members(kinds, position, leading)))
        self.out.records = [record for _, record in details]
        self._repeated([(number, cells) for number, cells, (kind, _) in kinds if kind == "detail"])
        self._check(groups, details)
        self._project_ids(details)
        return self.out

    def _kind(self, cells: list[Any]) -> tuple[str, str]:
        written = [str(v).strip() for v in cells if v is not None and not isinstance(v, Formula) and str(v).strip()]
        texts = [plain(text) for text in written]
        if not texts and not any(isinstance(v, Formula) for v in cells):
            return "blank", ""
        if texts and _NOTE.match(texts[0]) and len(set(texts)) == 1:
            return "notes", written[0]
        total = next((t for t in texts if t in _TOTAL), None)
        if total:
            return "total", total
        subtotal = next((t for t in texts if t.endswith("小计")), None)
        if subtotal:
            return "subtotal", subtotal
        numbers = [v for v in cells if isinstance(v, int | float) and not isinstance(v, bool)]
        strings = [v for v in cells if isinstance(v, str) and v.strip()]
        if not strings and len(numbers) >= 3 and numbers == list(range(int(numbers[0]), int(numbers[0]) + len(numbers))):
            return "column numbers", ", ".join(f"{n:g}" for n in numbers[:3]) + " …"
        if len(set(texts)) == 1 and len(strings) == len(texts) and _HEADING.match(texts[0]):
            return "heading", written[0]
        return "detail", ""

    def _members(self, kinds: list[tuple[int, list[Any], tuple[str, str]]], position: int, leading: bool) -> list[int]:
        """The detail rows a subtotal sums: those after it (a subtotal heading its group) or before it, to the next one."""
        step = 1 if leading else -1
        members, index = [], position + step
        while 0 <= index < len(kinds) and kinds[index][2][0] in ("detail", "blank"):
            if kinds[index][2][0] == "detail":
                members.append(kinds[index][0])
            index += step
        return sorted(members)

    def _cell(self, number: int, column: Column, value: Any) -> Any:
        if isinstance(value, Formula):
            self._problem(number, column, f"cell {value.cell} holds the formula '{value.text}' with no saved value; open and save "
                                          "the workbook in Excel (or WPS), or paste the values")
            return None
        return value

    def _repeated(self, rows: list[tuple[int, list[Any]]]) -> None:
        """A detail row equal to an earlier one in every column read (name, place, type, cost, ...; a serial number may
        differ): a row pasted twice would be funded twice."""
        read = sorted(column.index for column in self.fields.values())
        first: dict[tuple[str, ...], int] = {}
        for number, cells in rows:
            values = tuple("" if i >= len(cells) or cells[i] is None else str(cells[i]).strip() for i in read)
            seen = first.setdefault(values, number)
            if seen != number:
                self._problem(number, self.fields["name"], f"repeats row {seen} in every column read (a row pasted twice?); "
                                                           "delete it, or change a cell if these are two projects")

    def _merged(self, number: int, column: Column, name: str) -> bool:
        """Is the cell a copy from a merged range it does not start, where a copy would be wrong? A number merged
        down over several projects would count once per project; a range merged across columns holds the value of
        its first column only. (A text merged down, a county or a type, is meant for every row it covers.)"""
        merged = self.sheet.merged_into.get((number, column.index + 1))
        if merged is None:
            return False
        start_column = merged.split(":")[0].rstrip("0123456789")
        if start_column != column.letter:
            self._problem(number, column, f"is part of the cell {merged}, merged across columns: its value belongs to column "
                                          f"{start_column} alone; unmerge the cells and fill each column")
            return True
        if name in COUNT_FIELDS or is_money(name):
            self._problem(number, column, f"is part of the cell {merged}, merged over several rows: one number would count "
                                          "for every project it covers; unmerge it and write each project's own figure")
            return True
        return False

    def _record(self, number: int, cells: list[Any]) -> dict[str, Any]:
        record: dict[str, Any] = {"source_row": number}
        for name, column in self.fields.items():
            if self._merged(number, column, name):
                record[name] = None
                continue
            value = self._cell(number, column, cells[column.index] if column.index < len(cells) else None)
            if value is None or isinstance(value, str) and not value.strip():
                record[name] = None
            elif name in TEXT_FIELDS:
                record[name] = _as_text(value)
            elif name in COUNT_FIELDS or is_money(name):
                record[name] = self._number(number, column, name, value)
            else:
                record[name] = value
        for column in self.kept:
            value = self._cell(number, column, cells[column.index] if column.index < len(cells) else None)
            record[column.header] = value.strip() if isinstance(value, str) else value
        self._required(number, record)
        if record.get("type"):
            record["type"] = self._type(number, record["type"])
        record["region_id"] = self._region(number, record)
        return record

    def _number(self, number: int, column: Column, name: str, value: Any) -> float | None:
        try:
            result, from_text = read_money(value, self.unit(column)) if is_money(name) else read_count(value)
        except ValueError as exc:
            self._problem(number, column, str(exc))
            return None
        if from_text:
            shown = f"{result:,.4f}".rstrip("0").rstrip(".") + ("万元" if is_money(name) else "")
            self.out.from_text.append((number, _label(column), str(value), shown))
        return result

    def _figures(self, number: int, cells: list[Any]) -> dict[str, Any]:
        """The numbers of a subtotal or total row, for the columns detail rows are summed in."""
        figures = {}
        for name, column in self.fields.items():
            if name in COUNT_FIELDS or is_money(name):
                value = self._cell(number, column, cells[column.index] if column.index < len(cells) else None)
                if value is not None and not (isinstance(value, str) and not value.strip()):
                    figures[name] = self._number(number, column, name, value)
        return figures

    def _required(self, number: int, record: dict[str, Any]) -> None:
        for name in ("name", "type", "cost"):
            if record.get(name) is None and not any(p.row == number and p.column == _label(self.fields[name]) for p in self.out.problems):
                self._problem(number, self.fields[name], f"{name} is empty")
        cost = record.get("cost")
        if cost is not None and cost <= 0:
            self._problem(number, self.fields["cost"], f"cost must be positive, got {cost:g}万元")

    def _type(self, number: int, text: str) -> str | None:
        key, candidates = self.mapping.type_of(text)
        column = self.fields["type"]
        if key is None:
            first: dict[str, str] = {}
            for word, type_key in self.mapping.types.items():
                first.setdefault(type_key, word)
            known = ", ".join(f"{word} → {type_key}" for type_key, word in first.items())
            why = f"is ambiguous ({', '.join(candidates)})" if candidates else f"names no known type (such as {known})"
            self._problem(number, column, f"type '{text}' {why}; add it under [types] in a mapping.toml (--map)")
            return None
        self._resolved("type", text, key, number)
        return key

    def _region(self, number: int, record: dict[str, Any]) -> str | None:
        code = record.get("region_id")
        if code:
            county = self.places.counties.get(plain(code))
            if county is None:
                self._problem(number, self.fields["region_id"], f"'{code}' is not a county code of the county table")
            return county.region_id if county else None
        place = " ".join(filter(None, (record.get("place"), record.get("township"))))
        if not place:
            if self._place_column():
                self._problem(number, self._place_column(), "the place is empty")
            return None
        override = self.mapping.places.get(plain(place))
        if override:
            if override not in self.places.counties:
                self._problem(number, self._place_column(), f"{self.mapping.source} maps '{place}' to {override}, not a county code")
                return None
            self._resolved("place", place, f"{override} {self.places.counties[override].full} ({self.mapping.source})", number)
            return override
        return self._by_name(number, place, record)

    def _place_column(self) -> Column:
        """The column a place problem is reported in: the place's, else the township's (a place may be in both)."""
        return self.fields.get("place") or self.fields["township"]

    def _by_name(self, number: int, place: str, record: dict[str, Any]) -> str | None:
        column = self._place_column()
        province = self.mapping.province
        if record.get("province"):
            province = self.places.province_of(record["province"])
            if province is None:
                self._problem(number, self.fields["province"], f"'{record['province']}' is not a province")
                return None
        found = self.places.resolve(place, province=province, city=plain(record["city"]) if record.get("city") else None)
        if found.county is None:
            shown = ", ".join(f"{c.region_id} {c.full}" for c in found.candidates[:SHOWN_CANDIDATES])
            more = f" and {len(found.candidates) - SHOWN_CANDIDATES} more" if len(found.candidates) > SHOWN_CANDIDATES else ""
            advice = found.advice + " " if found.advice else ""
            if found.candidates and not advice:
                advice = "name the province (a 省份 column, or province = … in the mapping) or "
            candidates = f" (candidates: {shown}{more})" if shown else ""
            self._problem(number, column, f"'{place}' {found.problem}{candidates}; {advice}map it under [places] in a mapping.toml (--map)")
            return None
        self._resolved("place", place, f"{found.county.region_id} {found.county.full}" + (f"; {found.note}" if found.note else ""), number)
        return found.county.region_id

    def _check(self, groups: list[tuple[int, str, dict[str, Any], list[int] | None]], details: list[tuple[int, dict[str, Any]]]) -> None:
        by_row = dict(details)
        for number, label, figures, members in groups:
            rows = [n for n, _ in details] if members is None else members
            for name, stated in figures.items():
                if stated is None:
                    continue
                summed = math.fsum(by_row[r].get(name) or 0.0 for r in rows)
                column = self.fields[name]
                self.out.checks.append(Check(number, label, _label(column), is_money(name), stated, summed, tuple(rows)))

    def _project_ids(self, details: list[tuple[int, dict[str, Any]]]) -> None:
        """Given ids must be unique; missing ones are made from the county and a hash of the name, so that
        they stay the same when rows are added, removed or reordered."""
        seen: dict[str, int] = {}
        counts: dict[str, int] = defaultdict(int)
        for number, record in details:
            given = record.get("project_id")
            if given:
                if given in seen:
                    self._problem(number, self.fields["project_id"], f"project id '{given}' is also on row {seen[given]}")
                seen.setdefault(given, number)
                continue
            digest = hashlib.sha1(plain(str(record.get("name") or "")).encode("utf-8")).hexdigest()[:6]
            base = f"{record.get('region_id') or 'X'}-{digest}"
            counts[base] += 1
            record["project_id"] = base if counts[base] == 1 else f"{base}-{counts[base]}"

    def _resolved(self, kind: str, text: str, result: str, number: int) -> None:
        entry = self.out.resolved.setdefault((kind, text), (result, []))
        entry[1].append(number)

    def _problem(self, number: int, column: Column, message: str) -> None:
        self.out.problems.append(Problem(number, _label(column), message))


def _label(column: Column) -> str:
    return f"{column.letter} ({column.header})"


def _as_text(value: Any) -> str:
    """A text cell as text; a whole number typed into it (a code) without its '.0'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


#: The order of the written table: the tool's columns (the place as written beside its code), the other built-in fields.
OUTPUT_ORDER = ("project_id", "name", "region_id", "place", "township", "type", "cost",
                *[f for f in FIELD_NAMES if f not in ("project_id", "name", "region_id", "place", "township", "type", "cost", "province", "city")])

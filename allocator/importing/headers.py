"""What a column header and a type word mean: the built-in names, extended or overridden by a mapping.toml.

A mapping file (docs/import.md) has up to five parts, all optional::

    unit = "万元"                      # money unit when the sheet states none
    province = "浙江省"                # the province of every place that names none
    [columns]                          # header as written (or 组/子 for a two-row header) -> field
    "资金来源/中央" = "request_central"
    "备注" = ""                        # "" drops the column
    [types]                            # type word -> type key
    "日间照料中心" = "station"
    [places]                           # place as written -> region_id (old names, typos)
    "萧山县" = "330109"
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from allocator.errors import InputError
from allocator.importing.numbers import plain
from allocator.units import UNITS_IN_WAN

#: Field -> the usual header names, most specific first: of two columns naming one field the earlier name wins.
FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "project_id": ("项目编号", "项目代码", "项目编码"),
    "name": ("项目名称", "名称"),
    "region_id": ("行政区划代码", "区划代码", "县区代码"),
    "province": ("省份", "所在省", "省(区、市)", "省(自治区、直辖市)", "省"),
    "city": ("所在市", "设区市", "地市", "市(州)", "市"),
    "place": ("所在县(市、区)", "县(市、区)", "建设地点", "项目地点", "所在县", "所在区县", "县区", "区县", "所在地"),
    "township": ("所在街道(乡镇)", "街道(乡镇)", "乡镇(街道)", "所在乡镇(街道)", "所在乡镇", "所在街道", "乡镇", "街道"),
    "type": ("项目类型", "设施类型", "类型", "建设内容"),
    "cost": ("总投资", "项目总投资", "总投资额", "计划总投资", "投资总额"),
    "area_m2": ("建筑面积", "总建筑面积", "面积"),
    "asked_central": ("申请中央资金", "申请中央补助资金", "中央资金", "资金来源/中央", "资金来源/中央补助"),
    "asked_province": ("申请省级资金", "省级资金", "资金来源/省级", "资金来源/省级补助"),
    "asked_local": ("地方配套", "地方配套资金", "市县配套", "资金来源/市县", "资金来源/地方配套"),
    "population_served": ("受益人口", "服务人口", "覆盖人口"),
    "households_served": ("覆盖户数", "受益户数", "服务户数"),
}
#: Headers of columns that are dropped (a row counter).
DROPPED = ("序号", "编号序号")
#: Fields whose cells are money (written in 万元); as are request_<source>, committed_<source> and asked_<source>.
MONEY_PREFIXES = ("asked_", "request_", "committed_")
#: Fields whose cells are text.
TEXT_FIELDS = ("project_id", "name", "region_id", "province", "city", "place", "township", "type")
#: Type word -> type key of the shipped scenarios (scenarios/base.toml); a cell containing a word counts too.
TYPE_WORDS: dict[str, str] = {
    "街道社区服务中心": "centre", "社区服务中心": "centre", "社区综合服务中心": "centre", "街道服务中心": "centre",
    "社区服务站": "station", "社区综合服务站": "station", "社区服务用房": "station", "社区服务室": "station",
    "信息化": "network", "信息网络": "network", "社区服务信息网络": "network", "信息平台": "network",
    "农村社区综合服务设施": "rural", "农村社区服务中心": "rural", "村级综合服务设施": "rural", "村级组织活动场所": "rural",
    "centre": "centre", "station": "station", "network": "network", "rural": "rural",
}
#: A unit in a header's brackets: 总投资（万元）.
_HEADER_UNIT = re.compile(r"\((?P<unit>万元|亿元|元|万|亿|m2|平方米|平米|人|户|个)\)$")
_FIELD = re.compile(r"^[a-z][a-z0-9_]*$")


def is_money(field_name: str) -> bool:
    return field_name == "cost" or field_name.startswith(MONEY_PREFIXES)


def header_key(text: str) -> tuple[str, str | None]:
    """A header in the form names are matched in (NFKC, no spaces or line breaks) and the unit its brackets give."""
    key = plain(text)
    match = _HEADER_UNIT.search(key)
    if not match:
        return key, None
    unit = match["unit"]
    return key[: match.start()], (unit if unit in UNITS_IN_WAN else None)


@dataclass
class Mapping:
    """The built-in names with a mapping.toml's additions: header -> field ("" drops), type word -> key, place -> id."""

    columns: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=lambda: dict(TYPE_WORDS))
    places: dict[str, str] = field(default_factory=dict)
    unit: str | None = None
    province: str | None = None
    source: str = "built-in names"

    def field_of(self, header: str) -> tuple[str | None, int, str]:
        """(field, "" to drop the column or None if unknown; rank: lower wins between columns; why)."""
        if header in self.columns:
            target = self.columns[header]
            return target, -1, self.source if target else f"dropped by {self.source}"
        if header in DROPPED:
            return "", 0, "built-in: a row counter, dropped"
        for name, names in FIELD_NAMES.items():
            if header in names:
                return name, names.index(header), "built-in"
        return None, 0, ""

    def type_of(self, text: str) -> tuple[str | None, list[str]]:
        """The type key a cell names: an exact word, else the longest word it contains; (None, candidates) if unclear."""
        key = plain(text)
        if key in self.types:
            return self.types[key], []
        found = sorted((w for w in self.types if w in key), key=len, reverse=True)
        if not found:
            return None, []
        longest = [w for w in found if len(w) == len(found[0])]
        keys = sorted({self.types[w] for w in longest})
        return (keys[0], []) if len(keys) == 1 else (None, [f"{w} → {self.types[w]}" for w in longest])


def load_mapping(path: Path | None) -> Mapping:
    """The built-in mapping, extended by the TOML file at `path` (errors name the file and the key)."""
    if path is None:
        return Mapping()
    source = str(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputError("mapping file not found", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the mapping file: {exc}", source=source) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", source=source) from None
    except ValueError:  # an integer beyond Python's limit on digits
        from allocator.config import TOO_LONG_NUMBER

        raise InputError(TOO_LONG_NUMBER, source=source) from None
    unknown = set(document) - {"unit", "province", "columns", "types", "places"}
    if unknown:
        raise InputError(f"unknown key '{sorted(unknown)[0]}'; a mapping has unit, province, [columns], [types] and [places]",
                         source=source)
    mapping = Mapping(source=f"{path.name}")
    mapping.unit = _unit(document.get("unit"), source)
    mapping.province = _text(document.get("province"), source, "province") or None
    for header, name in _table(document, "columns", source).items():
        if name and not _FIELD.match(name):
            raise InputError(f"'{name}' is not a field name (lower-case letters, digits and _, or \"\" to drop the column)",
                             source=source, where=f"columns.{header}")
        mapping.columns[header_key(header)[0]] = name
    mapping.types.update({plain(word): key for word, key in _table(document, "types", source).items()})
    mapping.places.update({plain(place): plain(code) for place, code in _table(document, "places", source).items()})
    return mapping


def _table(document: dict[str, object], key: str, source: str) -> dict[str, str]:
    table = document.get(key, {})
    if not isinstance(table, dict):
        raise InputError(f"'{key}' must be a table ([{key}])", source=source, where=key)
    return {str(k): _text(v, source, f"{key}.{k}") for k, v in table.items()}


def _text(value: object, source: str, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"expected text in quotes, got {value!r}", source=source, where=where)
    return value.strip()


def _unit(value: object, source: str) -> str | None:
    unit = _text(value, source, "unit")
    if unit and unit not in ("元", "万元", "亿元"):
        raise InputError(f"unit '{unit}' is not 元, 万元 or 亿元", source=source, where="unit")
    return unit or None

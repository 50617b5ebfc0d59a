"""Places given by name ("杭州市西湖区", "西湖区" with the province in another column, "龙坞镇") resolved to county codes.

Against the shipped county table (counties.csv.gz: region_id, name, city, province, and zone, population,
households and street_offices for `allocate init`; the 2,948 counties of scenarios/data/regions.csv.gz). A name is
matched whole, with or without its province and city in front, each in full or short form (浙江省 / 浙江,
杭州市 / 杭州, 西湖区 / 西湖). A county name comes first; a place that names no county is then looked up as a
street, town or township (townships.csv.gz, made by make_townships.py from the 2023 division codes), alone or
after a province, city or county (西湖区北山街道, 杭州市龙坞镇). Two or more counties left after the province and
city are applied is ambiguous, none is unknown: both are reported with candidates, never guessed.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from allocator.importing.numbers import plain

COUNTIES = Path(__file__).with_name("counties.csv.gz")
TOWNSHIPS = Path(__file__).with_name("townships.csv.gz")
_PROVINCE_SUFFIX = re.compile(r"(省|市|壮族自治区|回族自治区|维吾尔自治区|自治区)$")
_CITY_SUFFIX = re.compile(r"(市|地区|自治州|盟)$")
_COUNTY_SUFFIX = re.compile(r"(区|县|市|旗|自治县|自治旗|林区|特区)$")
#: What may follow a county in a place: a unit below it.
_TOWNSHIP_OFFICE = re.compile(r"街道办事处$|街道办$")
_TOWNSHIP_ADVICE = "write the county before it (西湖区北山街道) or in its own column, or"
_BELOW_COUNTY = re.compile(r"(街道|街道办事处|镇|乡|苏木|社区|村)$")
SHOWN_CANDIDATES = 5


@dataclass(frozen=True)
class County:
    region_id: str
    name: str
    city: str
    province: str

    @property
    def full(self) -> str:
        """The full name, without a city that repeats the county or the province (北京市东城区, 湖北省仙桃市)."""
        city = "" if self.city in (self.name, self.province) else self.city
        return f"{self.province}{city}{self.name}"


@dataclass(frozen=True)
class Resolution:
    """A place read: its county, or why not (``problem``) with the candidates; ``note`` says what was set aside."""

    county: County | None
    problem: str = ""
    candidates: tuple[County, ...] = ()
    note: str = ""
    #: How to settle it, when not by naming the province or mapping the place.
    advice: str = ""


@dataclass(frozen=True)
class Township:
    """A street, town or township: its county code in the county table, else its county's name (``unlisted``)."""

    name: str
    region_id: str
    unlisted: str


def _forms(name: str, suffix: re.Pattern[str]) -> set[str]:
    """A name in full and without its suffix, if two characters remain (西湖区 / 西湖; not 城区 / 城)."""
    short = suffix.sub("", name)
    return {name, short} if len(short) >= 2 else {name}


class Gazetteer:
    """Every county under every spelling it may be written in."""

    def __init__(self, counties: list[County], townships: Iterable[Township] = ()):
        self.counties = {c.region_id: c for c in counties}
        self.index: dict[str, set[str]] = defaultdict(set)
        #: A province, city or province and city, as written before a township: its counties.
        self.areas: dict[str, set[str]] = defaultdict(set)
        self.provinces: dict[str, str] = {}
        self.townships: dict[str, list[Township]] = defaultdict(list)
        for township in townships:
            self.townships[plain(township.name)].append(township)
        for county in counties:
            provinces = {""} | _forms(county.province, _PROVINCE_SUFFIX)
            cities = {""} | _forms(county.city, _CITY_SUFFIX)
            self.provinces.update({form: county.province for form in provinces if form})
            for province in provinces:
                for city in cities:
                    if province or city:
                        self.areas[province + city].add(county.region_id)
                    for name in _forms(county.name, _COUNTY_SUFFIX):
                        self.index[province + city + name].add(county.region_id)

    def province_of(self, text: str) -> str | None:
        """The full province name of `text` (浙江 or 浙江省), or None if it names none."""
        return self.provinces.get(plain(text))

    def resolve(self, text: str, *, province: str | None = None, city: str | None = None) -> Resolution:
        key = plain(text)
        if key in self.counties:
            return Resolution(self.counties[key])
        if key not in self.index:
            township = self._township(key, province, city)
            if township is not None:
                return township
        ids, note = self.index.get(key, set()), ""
        if not ids:
            ids, note = self._with_place_below(key)
        candidates = self._sorted(ids)
        within = self._within(candidates, province, city)
        if len(within) == 1:
            return Resolution(within[0], note=note)
        if within:
            return Resolution(None, "is ambiguous", tuple(within))
        if candidates:
            return Resolution(None, f"names no county in {_scope(province, city)}", tuple(candidates))
        if _BELOW_COUNTY.search(key):
            return Resolution(None, "is neither a county of the county table nor a street or town of the township table")
        return Resolution(None, "is not a county of the county table", self._close(key))

    def _sorted(self, ids: set[str]) -> list[County]:
        return sorted((self.counties[i] for i in ids), key=lambda c: c.region_id)

    @staticmethod
    def _within(candidates: list[County], province: str | None, city: str | None) -> list[County]:
        return [c for c in candidates if (not province or c.province == province) and (not city or city in _forms(c.city, _CITY_SUFFIX))]

    def _township(self, key: str, province: str | None, city: str | None) -> Resolution | None:
        """A township name, alone or after a province, city or county: its county, or why not; None if it names none
        (or a county is named and the township is not listed under it: the county is then read as before)."""
        key = _TOWNSHIP_OFFICE.sub("街道", key)
        for start in range(len(key) - 1):
            prefix, name = key[:start], key[start:]
            towns = self.townships.get(name)
            if not towns or prefix and prefix not in self.index and prefix not in self.areas:
                continue
            allowed = self.index.get(prefix) or self.areas.get(prefix) if prefix else None
            listed = self._sorted({t.region_id for t in towns if t.region_id and (allowed is None or t.region_id in allowed)})
            within = self._within(listed, province, city)
            note = f"{name}: a township of it (2023 township table)"
            if len(within) == 1:
                return Resolution(within[0], note=note)
            if within:
                return Resolution(None, "is a township name of several counties", tuple(within), advice=_TOWNSHIP_ADVICE)
            if prefix in self.index:
                return None
            unlisted = sorted({t.unlisted for t in towns if t.unlisted and (not province or t.unlisted.startswith(province))})
            if unlisted and allowed is None:
                return Resolution(None, f"is a township of {'、'.join(unlisted)}, a county created or renamed since the county table (2020)",
                                  advice="write the county it belonged to in 2020, or")
            if listed:
                return Resolution(None, f"is a township of no county in {_scope(province, city)}", tuple(listed))
            return None
        return None

    def _with_place_below(self, key: str) -> tuple[set[str], str]:
        """A county followed by a street, town or village: the longest county prefix, the rest set aside."""
        if not _BELOW_COUNTY.search(key):
            return set(), ""
        for end in range(len(key) - 1, 1, -1):
            if key[:end] in self.index:
                return self.index[key[:end]], f"{key[end:]} (below county level) set aside"
        return set(), ""

    def _close(self, key: str) -> tuple[County, ...]:
        names = {c.full: c for c in self.counties.values()}
        found = difflib.get_close_matches(key, list(names), n=SHOWN_CANDIDATES, cutoff=0.6)
        return tuple(names[name] for name in found)


def _scope(province: str | None, city: str | None) -> str:
    return " ".join(filter(None, (province, city)))


@cache
def gazetteer() -> Gazetteer:
    """The shipped county and township tables, indexed once per process."""
    with gzip.open(COUNTIES, "rt", encoding="utf-8") as handle:
        counties = [County(row["region_id"], row["name"], row["city"], row["province"]) for row in csv.DictReader(handle)]
    with gzip.open(TOWNSHIPS, "rt", encoding="utf-8") as handle:
        townships = [Township(row["name"], row["region_id"], row["unlisted"]) for row in csv.DictReader(handle)]
    return Gazetteer(counties, townships)

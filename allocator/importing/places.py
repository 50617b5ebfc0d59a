"""Places given by name ("杭州市西湖区", "西湖区" with the province in another column) resolved to county codes.

Against the shipped county table (counties.csv.gz: region_id, name, city, province, and zone, population,
households and street_offices for `allocate init`; the 2,948 counties of scenarios/data/regions.csv.gz). A name is matched whole, with or without
its province and city in front, each in full or short form (浙江省 / 浙江, 杭州市 / 杭州, 西湖区 / 西湖);
a street or town after the county (西湖区北山街道) is set aside. Two or more counties left after the province
and city are applied is ambiguous, none is unknown: both are reported with candidates, never guessed.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from allocator.importing.numbers import plain

COUNTIES = Path(__file__).with_name("counties.csv.gz")
_PROVINCE_SUFFIX = re.compile(r"(省|市|壮族自治区|回族自治区|维吾尔自治区|自治区)$")
_CITY_SUFFIX = re.compile(r"(市|地区|自治州|盟)$")
_COUNTY_SUFFIX = re.compile(r"(区|县|市|旗|自治县|自治旗|林区|特区)$")
#: What may follow a county in a place: a unit below it.
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


def _forms(name: str, suffix: re.Pattern[str]) -> set[str]:
    """A name in full and without its suffix, if two characters remain (西湖区 / 西湖; not 城区 / 城)."""
    short = suffix.sub("", name)
    return {name, short} if len(short) >= 2 else {name}


class Gazetteer:
    """Every county under every spelling it may be written in."""

    def __init__(self, counties: list[County]):
        self.counties = {c.region_id: c for c in counties}
        self.index: dict[str, set[str]] = defaultdict(set)
        self.provinces: dict[str, str] = {}
        for county in counties:
            provinces = {""} | _forms(county.province, _PROVINCE_SUFFIX)
            cities = {""} | _forms(county.city, _CITY_SUFFIX)
            self.provinces.update({form: county.province for form in provinces if form})
            for province in provinces:
                for city in cities:
                    for name in _forms(county.name, _COUNTY_SUFFIX):
                        self.index[province + city + name].add(county.region_id)

    def province_of(self, text: str) -> str | None:
        """The full province name of `text` (浙江 or 浙江省), or None if it names none."""
        return self.provinces.get(plain(text))

    def resolve(self, text: str, *, province: str | None = None, city: str | None = None) -> Resolution:
        key = plain(text)
        if key in self.counties:
            return Resolution(self.counties[key])
        ids, note = self.index.get(key, set()), ""
        if not ids:
            ids, note = self._with_place_below(key)
        candidates = sorted((self.counties[i] for i in ids), key=lambda c: c.region_id)
        within = [c for c in candidates if (not province or c.province == province) and (not city or city in _forms(c.city, _CITY_SUFFIX))]
        if len(within) == 1:
            return Resolution(within[0], note=note)
        if within:
            return Resolution(None, "is ambiguous", tuple(within))
        if candidates:
            scope = " ".join(filter(None, (province, city)))
            return Resolution(None, f"names no county in {scope}", tuple(candidates))
        return Resolution(None, "is not a county of the county table", self._close(key))

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


@cache
def gazetteer() -> Gazetteer:
    """The shipped county table, indexed once per process."""
    with gzip.open(COUNTIES, "rt", encoding="utf-8") as handle:
        return Gazetteer([County(row["region_id"], row["name"], row["city"], row["province"]) for row in csv.DictReader(handle)])

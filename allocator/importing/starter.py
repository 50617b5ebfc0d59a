"""``allocate init``: a working starter folder, so that a new analyst edits a scenario instead of writing one.

The folder holds a commented ``scenario.toml`` (two sources, one count, one coverage target, one balance
rule), ``regions.csv`` (the chosen provinces' counties from the shipped county table), an application
template ``projects_template.xlsx`` (Chinese headers with units, drop-down lists for type and county, one
example row per type), ``mapping.toml`` and ``projects.csv``, the template's example rows imported, so
that ``allocate run scenario.toml`` works as written. With ``--from SCENARIO.toml`` the scenario, regions and
projects are that scenario's, cut to the chosen provinces (derived). docs/import.md, "Starting a scenario".
"""

from __future__ import annotations

import csv
import gzip
import json
import textwrap
from pathlib import Path

from allocator.errors import InputError
from allocator.importing.derived import Derived, derive, toml_text
from allocator.importing.places import COUNTIES, gazetteer
from allocator.outdir import Target, check, staged

#: The starter's types: key, label (the word in the template's drop-down), welfare, example cost (万元),
#: floor area (㎡), residents and households served.
TYPES = (("centre", "街道社区服务中心", True, 300, 1000, 30000, 10000),
         ("station", "社区服务站", True, 80, 300, 8000, 2700),
         ("network", "社区服务信息网络", False, 50, 0, 20000, 6700))
TEMPLATE_HEADERS = ("序号", "项目名称", "所在县（市、区）", "项目类型", "总投资（万元）", "建筑面积（㎡）", "受益人口（人）", "覆盖户数（户）", "备注")
REGION_COLUMNS = ("region_id", "name", "city", "province", "zone", "population", "households", "street_offices")
FILES = ("scenario.toml", "regions.csv", "projects_template.xlsx", "mapping.toml", "projects.csv", "projects.import.md")
#: Rows of the template that take drop-downs (the example rows and room for the counties' own).
TEMPLATE_ROWS = 500


def full_names(provinces: tuple[str, ...]) -> list[str]:
    """The full names of `provinces` (浙江 or 浙江省), refused if one names no province."""
    full = []
    for province in provinces:
        name = gazetteer().province_of(province)
        if name is None:
            raise InputError(f"'{province}' is not a province of the county table", source="--province")
        full.append(name)
    return full


def counties_of(provinces: tuple[str, ...]) -> list[dict[str, str]]:
    """The shipped county rows of `provinces` (full or short names; all provinces if none)."""
    full = full_names(provinces)
    with gzip.open(COUNTIES, "rt", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if not full or row["province"] in full]


def write_starter(folder: Path, provinces: tuple[str, ...], source: Path | None = None) -> list[Path]:
    """Fill a new (or empty) `folder`: everything is written in a hidden folder beside it, then renamed into place;
    from the scenario `source` cut to `provinces` if given."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError("already exists and is not an empty folder; allocate init writes only a new folder", source=str(folder))
    target = Target(folder, kind="starter", option="FOLDER")
    check(target)  # a name no folder can take, a file above it, the current or home folder, a folder not writable
    counties = counties_of(provinces)
    derived = derive(source, full_names(provinces)) if source else None
    with staged(target) as slot:
        if derived and source:
            _fill_from(slot.staging, derived, source, provinces)
        else:
            _fill(slot.staging, counties, provinces)
    return [folder / name for name in (FILES if derived is None else FILES[:-1])]


def _fill(folder: Path, counties: list[dict[str, str]], provinces: tuple[str, ...]) -> None:
    from allocator.importing import import_workbook, write_import
    from allocator.importing.report import report

    with (folder / "regions.csv").open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, REGION_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(counties)
    place = {c["region_id"]: _place_name(c) for c in counties}
    _template(folder / "projects_template.xlsx", list(place.values()), [label for _, label, *_ in TYPES], examples=True)
    scope = "、".join(sorted({c["province"] for c in counties})) if provinces else "全国"
    (folder / "mapping.toml").write_text(MAPPING, encoding="utf-8")
    (folder / "scenario.toml").write_text(SCENARIO.format(scope=scope, counties=len(counties)), encoding="utf-8")
    imported = import_workbook(folder / "projects_template.xlsx", mapping_file=folder / "mapping.toml")
    write_import(imported, folder / "projects.csv", report(imported))


def _place_name(county: dict[str, str]) -> str:
    """A county as the drop-down shows it: with its city (杭州市西湖区), unique within the country."""
    province, city = county.get("province", ""), county.get("city", "")
    city = "" if city in (county["name"], province) else city
    return f"{province}{city}{county['name']}"


def _fill_from(folder: Path, derived: Derived, source: Path, provinces: tuple[str, ...]) -> None:
    """The starter of a scenario cut to some provinces: its document, its tables, a template of its types."""
    from allocator.runformat.tables import write_csv

    write_csv(derived.regions, folder / "regions.csv")
    write_csv(derived.projects, folder / "projects.csv")
    counties = derived.regions.astype(str).to_dict("records")
    _template(folder / "projects_template.xlsx", [_place_name(c) for c in counties], list(derived.labels.values()), examples=False)
    words = "".join(f"{json.dumps(label, ensure_ascii=False)} = {json.dumps(key)}\n" for key, label in derived.labels.items())
    (folder / "mapping.toml").write_text(MAPPING.replace("[types]\n", f"[types]\n{words}"), encoding="utf-8")
    scope = "、".join(full_names(provinces)) or "all its regions"
    head = [f"Starter written by `allocate init --from {source}` for {scope}: its types, sources, targets,",
            f"balance rules and objective ({source.name} and what it extends explain each key; docs/scenarios.md);",
            f"regions.csv holds its {len(derived.regions)} regions there and projects.csv its {len(derived.projects)} candidate projects "
            f"(money in {derived.money_unit}).",
            "Amounts set for the whole scenario are cut in proportion (the comment beside each says how).",
            *[line for note in derived.notes for line in textwrap.wrap(f"Cut: {note}.", 110, subsequent_indent="  ")],
            "Run it: allocate run scenario.toml. A workbook of new applications (projects_template.xlsx) imported with",
            "allocate import must add the projects columns the rules read, as projects.csv has them."]
    text = "".join(f"# {line}\n" for line in head) + "\n" + toml_text(derived.values, derived.comments)
    (folder / "scenario.toml").write_text(text, encoding="utf-8")


def _template(path: Path, places: list[str], types: list[str], *, examples: bool) -> None:
    """The application template: title, unit line, headers with units, drop-downs for type and county, examples."""
    import openpyxl
    from openpyxl.styles import Alignment, Font
    from openpyxl.worksheet.datavalidation import DataValidation

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "申报表"
    last = chr(ord("A") + len(TEMPLATE_HEADERS) - 1)
    sheet["A1"] = "城乡社区综合服务设施建设项目申报表"
    sheet["A1"].font, sheet["A1"].alignment = Font(bold=True, size=14), Alignment(horizontal="center")
    sheet.merge_cells(f"A1:{last}1")
    sheet["A2"] = "填报单位：            单位：万元"
    sheet.append(list(TEMPLATE_HEADERS))
    for cell in sheet[3]:
        cell.font = Font(bold=True)
    for number, (_, label, _, cost, area, people, households) in enumerate(TYPES if examples else (), start=1):
        sheet.append([number, f"示例：{label}", places[(number - 1) % len(places)], label, cost, area, people, households,
                      "示例行，填报时删除"])
    lists = book.create_sheet("选项")
    for row, value in enumerate(types, start=1):
        lists.cell(row, 1, value)
    for row, value in enumerate(places, start=1):
        lists.cell(row, 2, value)
    lists.sheet_state = "hidden"
    for column, source, prompt in (("D", f"=选项!$A$1:$A${len(types)}", "从列表中选择项目类型"),
                                   ("C", f"=选项!$B$1:$B${len(places)}", "从列表中选择所在县（市、区）")):
        validation = DataValidation(type="list", formula1=source, allow_blank=True, showErrorMessage=True,
                                    errorTitle="不在列表中", error=prompt, promptTitle="请选择", prompt=prompt)
        validation.add(f"{column}4:{column}{TEMPLATE_ROWS + 3}")
        sheet.add_data_validation(validation)
    for column, width in zip("ABCDEFGHI", (6, 28, 26, 18, 14, 14, 14, 14, 20)):
        sheet.column_dimensions[column].width = width
    book.save(path)


MAPPING = """# How `allocate import --map mapping.toml` reads a workbook (docs/import.md). The template's headers and
# words are all built in; add entries when a county's workbook names things otherwise, for example:
#   [columns]
#   "资金来源/中央" = "request_central"   # a declared funding plan for the source "central"
#   [types]
#   "日间照料中心" = "station"
#   [places]
#   "萧山县" = "330109"                   # an old name
[columns]

[types]

[places]
"""

SCENARIO = """# Starter scenario written by `allocate init` for {scope} ({counties} counties). Edit it, then
#   allocate import projects_template.xlsx --out projects.csv --force   (after filling in the template)
#   allocate run scenario.toml
# Every key is described in docs/scenarios.md. Money is written with its unit: 6亿, 2615万, 3000元.
name = "{scope}社区服务设施建设"

[data]
regions = "regions.csv"     # one row per county: code, name, city, province, zone, population, households, street_offices
projects = "projects.csv"   # one row per application, written by `allocate import` (cost in 万元)
money_unit = "万元"         # plain numbers in the tables are 万元

# Project types; the template's drop-down offers their labels. `welfare` marks a welfare facility (福利设施).
[types.centre]
label = "街道社区服务中心"
welfare = true

[types.station]
label = "社区服务站"
welfare = true

[types.network]
label = "社区服务信息网络"
welfare = false

# Funding sources: `budget` is the most a source may spend over the plan (万元, 亿 or 元, with the unit).
[sources.central]
label = "中央专项资金"
budget = "1000万"
max_share_of_cost = 0.5     # at most half of each project's cost

[sources.local]
label = "地方配套资金"
budget = "1500万"
matching = {{ ratio = 1.0, of = ["central"] }}   # at least 1 yuan of local money per yuan of central money, project by project

# A count: how many projects of a type to fund (whole projects).
[targets.counts.centres]
type = "centre"
min = 1                     # at least one street community-service centre

# A coverage target: households served by the funded projects, as a percentage of all households.
[targets.indicators.households_covered]
label = "受益户数占比 (%)"
contribution = "households_served"   # projects column (户)
denominator = "households"           # regions column (户)
scale = 0.01                         # a percentage
target = 5                           # % of households
penalty = 1                          # soft: each percentage point missed costs 1 objective unit (万人)

# A balance rule: each county that applied has at least one project funded (0 turns it off; with budgets
# too small to reach every county that applied, `allocate explain scenario.toml` says so).
[balance]
min_projects_per_region = 1

# The objective: residents served by the funded projects, counted in 万人 (10,000 residents).
[objective]
sense = "max_benefit"
benefit = {{ population_served = 1e-4 }}
unit = "万人"
"""

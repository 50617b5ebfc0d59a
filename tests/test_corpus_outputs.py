"""Valid but hostile text, carried from the inputs into every output: formula-like keys and names, Markdown,
HTML and ``javascript:`` links, ``$…$`` (maths to matplotlib), very long labels, right-to-left text, emoji
and CJK extension characters. Every case must exit 0 with its outputs intact: the text comes back exactly
from the run's CSVs, and no report (Markdown or HTML) carries a live link, image or script, no chart
crashes, and the workbook opens without a formula or a character Excel refuses.
"""

from __future__ import annotations

import html.parser
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from allocator.cli import main
from allocator.runformat.run import Run, read_run
from allocator.runformat.tables import neutralise_formulas, neutralise_text, restore_formulas, restore_text, write_csv
from corpus_harness import Break, Case, add_toml, both, cell, check_case, nothing, table, toml
from helpers import as_older_run

IMAGE = "![x](http://evil.example/x.png)"
SCRIPT = "<script>alert(1)</script>"
JS_LINK = "[click](javascript:alert(1))"
HTML_IMG = '<img src=x onerror="alert(1)">'
BAD_MATH = r"$x^$"  # not valid mathtext: matplotlib raised on it
BAD_MATH_PROVINCE = r"$\foo{$省"
LONG = "很长的标签" * 396  # 1,980 characters: a scenario text may have 2,000
HUGE = "长" * 40_000  # beyond Excel's 32,767 characters in a cell
RTL = "صندوق الرعاية الاجتماعية קרן סיוע"
EMOJI = "🏥社区𠀀𪚥中心👩"
MARKUP = "**bold** _em_ `code` ~~gone~~ | pipe # hash & &amp; \\ back"
AUTOLINKS = "see http://evil.example and www.evil.example or mail a@evil.example"


def uncertainty(west: str = "west") -> Break:
    return add_toml("[uncertainty]\nlocal_arrival = { east = { low = 0.8, mode = 0.95, high = 1.0 }, "
                    f"'{west}' = {{ low = 0.5, mode = 0.8, high = 1.0 }} }}\n")


def rename_source(new: str) -> Break:
    """The lottery source under another key (a quoted TOML key), everywhere the scenario names it."""
    return both(toml("[sources.lottery]", f'[sources."{new}"]'), toml('of = ["central", "lottery"]', f'of = ["central", "{new}"]'))


def source_label(text: str) -> Break:
    return toml('label = "福利彩票公益金"', f"label = '''{text}'''")


def project_ids(*ids: str) -> Break:
    def edit(rows: list[list[str]]) -> list[list[str]]:
        for row, new in zip(rows[1:], ids):
            row[0] = new
        return rows
    return table("projects.csv", edit)


def province(old: str, new: str) -> Break:
    return table("regions.csv", lambda rows: [[new if c == old else c for c in r] for r in rows])


def zone_west(new: str) -> Break:
    """Rename the zone 'west' (data, matching ratios and the balance rule)."""
    return both(table("regions.csv", lambda rows: [[new if c == "west" else c for c in r] for r in rows]),
                toml("west = 0.5", f"'{new}' = 0.5"), toml('zone = "west"', f"zone = '{new}'"))


def national_indicator(label: str) -> Break:
    """The indicator over the whole country (one group, so the report charts it) with a label."""
    return toml('scope = "zone"\ntarget = 35', f"label = '''{label}'''\ntarget = 35")


def finished_run(folder: Path) -> Path:
    """A finished run of the (broken) case in ``folder/done``, for commands that read a run directory."""
    result = CliRunner().invoke(main, ["run", str(folder / "case.toml"), "--out", str(folder / "done")])
    assert result.exit_code == 0, result.output
    return folder / "done"


def control_characters_in_old_run(folder: Path) -> None:
    """A run directory written before names were checked: control characters in labels and names."""
    as_older_run(finished_run(folder))
    for name, old, new in (("by_source.csv", "中央专项资金", "中央\x0b专项\x01资金"), ("allocation.csv", "东城中心", "东城\x02中心"),
                           ("by_region.csv", "东城区", "东\x1f城区")):
        path = folder / "done" / name
        path.write_text(path.read_text(encoding="utf-8-sig").replace(old, new), encoding="utf-8-sig")


def huge_name_in_old_run(folder: Path) -> None:
    """A run directory whose project name is longer than a workbook cell can hold (32,767 characters)."""
    as_older_run(finished_run(folder))
    path = folder / "done" / "allocation.csv"
    path.write_text(path.read_text(encoding="utf-8-sig").replace("东城中心", HUGE), encoding="utf-8-sig")


def export(lang: str) -> Callable[[Path, Path], list[str]]:
    return lambda folder, out: ["export", str(folder / "done"), "--lang", lang]


def simulate_run(folder: Path, out: Path) -> list[str]:
    return ["simulate", str(folder / "done"), "--draws", "8", "--workers", "1", "--out", str(out)]


def simulate_scenario(folder: Path, out: Path) -> list[str]:
    return ["simulate", str(folder / "case.toml"), "--draws", "8", "--workers", "1", "--out", str(out)]


def less_central_money(folder: Path) -> None:
    """case2.toml: the case with less central money, to compare with."""
    text = (folder / "case.toml").read_text(encoding="utf-8")
    (folder / "case2.toml").write_text(text.replace('budget = "600万"', 'budget = "500万"', 1), encoding="utf-8")


def compare_two(folder: Path, out: Path) -> list[str]:
    return ["compare", str(folder / "done"), str(folder / "case2.toml"), "--out", str(out)]


def sweep(folder: Path, out: Path) -> list[str]:
    return ["sweep", str(folder / "case.toml"), "--vary", "sources.central.budget=500万,600万", "--workers", "1", "--out", str(out)]


#: What each case must find again, exactly, in the tables read back from its output (a run directory).
KEEPS: dict[str, str] = {}


def case(id_: str, breaks: Break, text: str | None = None, **options: Any) -> Case:
    """A case that must exit 0; `text` must come back exactly from its run directory."""
    if text is not None:
        KEEPS[id_] = text
    return Case(id_, breaks, 0, **options)


CASES = [
    # formula-like keys and ids: neutralised in the CSVs (headers too) and read back exactly
    case("outputs-formula-source-key", rename_source("=lottery+1"), "=lottery+1"),
    case("outputs-formula-source-key-export-en", both(rename_source("=lottery+1"), finished_run), argv=export("en")),
    case("outputs-formula-type-key", both(toml("[types.station]", '[types."@station"]'),
                                          table("projects.csv", lambda rows: [[("@station" if c == "station" else c) for c in r] for r in rows])),
         "@station"),
    case("outputs-formula-indicator-key", toml("[targets.indicators.street_centres]", '[targets.indicators."-cover"]'), "-cover"),
    case("outputs-formula-project-ids", project_ids("=P01", "-P02", "+P03", "@P04", "'=P05", "''-P06"), "''-P06"),
    case("outputs-formula-ids-simulate-run", both(project_ids("=P01", "-P02", "+P03", "@P04"), uncertainty(), rename_source("-lot"),
                                                  finished_run), argv=simulate_run),
    # Markdown, HTML and links in labels and names
    case("outputs-md-image-source-label", source_label(IMAGE), IMAGE),
    case("outputs-script-type-label", toml('label = "社区服务站"', f'label = "{SCRIPT}"'), SCRIPT),
    case("outputs-js-link-province", province("甲省", JS_LINK), JS_LINK),
    case("outputs-html-region-name", cell("regions.csv", 2, "name", HTML_IMG), HTML_IMG),
    case("outputs-markup-project-name", cell("projects.csv", 2, "name", MARKUP), MARKUP),
    case("outputs-autolinks-scenario-name", both(toml('name = "corpus base"', f"name = '{AUTOLINKS}'"),
                                                 toml("[data]", "description = '''# heading\n- list\n1. one\n> quote\n---'''\n[data]"))),
    case("outputs-md-override", nothing, args=("--set", f"sources.central.label={IMAGE} {JS_LINK}")),
    # $…$: maths to matplotlib
    case("outputs-dollar-source-label", source_label(BAD_MATH), BAD_MATH),
    case("outputs-dollar-province", province("丙省", BAD_MATH_PROVINCE), BAD_MATH_PROVINCE),
    case("outputs-dollar-indicator-label", national_indicator(r"$\frac{$"), r"$\frac{$"),
    case("outputs-dollar-zone", zone_west("$w$"), "$w$"),
    # long, right-to-left, emoji and CJK extension text
    case("outputs-long-source-label", source_label(LONG), LONG),
    case("outputs-long-province", province("乙省", LONG), LONG),
    case("outputs-huge-project-name-export", huge_name_in_old_run, argv=export("zh")),
    case("outputs-rtl-labels", both(source_label(RTL), province("甲省", RTL)), RTL),
    case("outputs-emoji-cjk-extension", both(province("丙省", EMOJI), cell("regions.csv", 3, "name", EMOJI), national_indicator(EMOJI)), EMOJI),
    # control characters: refused by the readers, but an old run directory may hold them
    case("outputs-control-characters-export", control_characters_in_old_run, argv=export("zh")),
    case("outputs-control-characters-export-en", control_characters_in_old_run, argv=export("en")),
    # the other commands' outputs
    case("outputs-compare-hostile", both(rename_source("=lottery+1"), source_label(IMAGE), province("甲省", JS_LINK),
                                         cell("projects.csv", 2, "name", SCRIPT), finished_run, less_central_money), argv=compare_two),
    case("outputs-simulate-hostile", both(zone_west("$w$"), uncertainty("$w$"), province("甲省", f"{JS_LINK} {BAD_MATH}"),
                                          cell("regions.csv", 2, "name", IMAGE)), argv=simulate_scenario),
    case("outputs-sweep-hostile", both(toml('name = "corpus base"', f"name = '{IMAGE}'"), rename_source("=lottery+1"),
                                       toml("[targets.indicators.street_centres]", '[targets.indicators."-cover"]')), argv=sweep),
    case("outputs-sweep-dollar-indicator-key", toml("[targets.indicators.street_centres]", '[targets.indicators."$x^$"]'), argv=sweep),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_outputs_case(tmp_path, monkeypatch, case):
    check_case(case, tmp_path, monkeypatch)
    outputs = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".md", ".html", ".xlsx", ".png")]
    assert any(p.suffix in (".md", ".html") for p in outputs), sorted(tmp_path.rglob("*"))
    for path in outputs:
        INTACT[path.suffix](path)
    if case.id in KEEPS:
        assert KEEPS[case.id] in texts_of(read_run(tmp_path / "run"))


# -- what "intact" means, checked independently of the code that escapes ------------------------------

#: A backslash-escaped ASCII punctuation character (CommonMark: it is then literal).
_ESCAPED = re.compile(r"\\[!-/:-@\[-`{-~]")
#: The tool's own images in its Markdown files.
_OWN_IMAGES = re.compile(r"!\[[\w ]+\]\((simulation|sweep)\.png\)")


def live_markup(text: str) -> list[str]:
    """What a Markdown renderer (CommonMark with GitHub's extensions) would make live in `text`."""
    plain = _OWN_IMAGES.sub("", _ESCAPED.sub("", text))
    plain = re.sub(r"`[^`\n]*`", "", plain)  # code spans are inert
    found = re.findall(r"[\[\]<]|\$", plain)  # links, images, raw HTML, autolinks, maths
    found += re.findall(r"(?:https?|ftp)://|www\.|[\w.+-]@[\w-]+\.\w", plain, re.I)  # GitHub's bare autolinks
    found += re.findall(r"^ {0,3}(?:#|[-+*] |\d+[.)] |>|---|===)", plain, re.M)
    return found


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "a", "iframe", "object", "embed", "link", "form", "base"):
            self.bad.append(tag)
        for name, value in attrs:
            if name.startswith("on") or (name in ("src", "href") and not (value or "").startswith("data:image/png;base64,")):
                self.bad.append(f"{tag} {name}={value}")


def check_markdown(path: Path) -> None:
    """Only the tool's own headings, quotes and table rows are Markdown; nothing from the inputs is live."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert sum(line.startswith("# ") for line in lines) == 1, path.name  # no input text became a title
    body = "\n".join(re.sub(r"^(#{1,2} |> )", "", line) for line in lines if not re.fullmatch(r"\|[ \-:|]*\|", line))
    assert not live_markup(body), (path.name, live_markup(body)[:5])


def check_html(path: Path) -> None:
    parser = _Tags()
    parser.feed(path.read_text(encoding="utf-8"))
    assert not parser.bad, (path.name, parser.bad[:5])


def check_workbook(path: Path) -> None:
    book = openpyxl.load_workbook(path)
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for c in row:
                assert c.data_type != "f", f"{sheet.title}!{c.coordinate}"
                if isinstance(c.value, str):
                    assert len(c.value) <= 32_767 and not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", c.value), c.coordinate


def check_png(path: Path) -> None:
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and path.stat().st_size > 1000


INTACT = {".md": check_markdown, ".html": check_html, ".xlsx": check_workbook, ".png": check_png}


def texts_of(run: Run) -> set[str]:
    """Every text cell and header of a run read back."""
    found: set[str] = set()
    for frame in (run.allocation, run.by_source, run.by_zone, run.by_province, run.by_region, run.by_type, run.indicators):
        found.update(map(str, frame.columns))
        for column in frame.columns:
            if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
                found.update(str(v) for v in frame[column].dropna())
    return found


# -- the neutralise / restore pair -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["=1+1", "+1", "-2", "@SUM(A1)", "\tTAB", "\rCR", "'=1", "''-2", "'plain", "''", "'", "plain", ""])
def test_restore_gives_back_what_neutralise_was_given(text):
    safe = neutralise_text(text)
    assert restore_text(safe) == text
    assert not safe.lstrip("'").startswith(("=", "+", "-", "@", "\t", "\r")) or safe.startswith("'")


def test_csv_headers_are_neutralised_and_read_back(tmp_path):
    frame = pd.DataFrame({"project_id": ["=P01", "-P02", "P03"], "=lottery+1": [1.0, 2.0, 3.0], "@x": ["a", "+b", "'=c"]})
    write_csv(frame, tmp_path / "t.csv")
    raw = (tmp_path / "t.csv").read_text(encoding="utf-8-sig").splitlines()
    assert raw[0] == "project_id,'=lottery+1,'@x" and raw[1] == "'=P01,1.0,a" and raw[3] == "P03,3.0,''=c"
    back = restore_formulas(pd.read_csv(tmp_path / "t.csv", encoding="utf-8-sig", dtype=str))
    assert back.columns.tolist() == frame.columns.tolist()
    assert back["project_id"].tolist() == frame["project_id"].tolist() and back["@x"].tolist() == frame["@x"].tolist()
    assert neutralise_formulas(frame).columns.tolist() == ["project_id", "'=lottery+1", "'@x"]


def test_a_run_with_formula_ids_and_source_keys_reads_back_as_written(tmp_path):
    folder = tmp_path / "case"
    shutil.copytree(Path(__file__).parent / "corpus" / "base", folder)
    both(rename_source("=lottery+1"), project_ids("=P01", "-P02"))(folder)
    assert CliRunner().invoke(main, ["run", str(folder / "case.toml"), "--out", str(tmp_path / "run")]).exit_code == 0
    run = read_run(tmp_path / "run")
    assert run.source_keys == ["central", "=lottery+1", "local"] and "=lottery+1" in run.allocation
    assert run.allocation["project_id"].tolist()[:3] == ["-P02", "=P01", "P03"]  # in project-id order
    assert "'=lottery+1" in (tmp_path / "run" / "allocation.csv").read_text(encoding="utf-8-sig").splitlines()[0]

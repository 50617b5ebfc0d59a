"""comparison.html as a director gets it, rendered in headless Chromium: it fits 1280 px and an A4 landscape sheet,
prints no number with more decimals than it states, and lists provinces in the order of their division codes."""

import re
from pathlib import Path

import pandas as pd
import pytest
from browser import measure, needs_chromium

from allocator import compare, load_scenario, solve, with_overrides

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
NATIONAL = SCENARIOS / "eleventh_plan_national.toml"
DEMO = SCENARIOS / "demo" / "demo.toml"
#: A number with more decimals than the page states (two), or in scientific notation.
TOO_PRECISE = re.compile(r"\d\.\d{3,}|\d[eE][-+]?\d")
#: A4 landscape less 10 mm margins (277 mm) at 96 px per inch.
A4_LANDSCAPE_PX = 1046


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    """The national scheme, its risk variant and the national scheme with 8亿 of central money."""
    scenario = load_scenario(NATIONAL)
    runs = {"national": solve(scenario, marginal="none"),
            "risk": solve(load_scenario(SCENARIOS / "eleventh_plan_national_risk.toml"), marginal="none"),
            "central 8亿": solve(with_overrides(scenario, {"sources.central.budget": "8亿"}), marginal="none")}
    out = tmp_path_factory.mktemp("national") / "cmp"
    compare(runs, out=out)
    return scenario, out / "comparison.html"


@pytest.fixture(scope="module")
def national_page(national, tmp_path_factory):
    return measure(national[1], tmp_path_factory.mktemp("chromium"), width=1280)


def section(text: str, title: str) -> list[list[str]]:
    """The rows (cells split at tabs), header first, of the table that follows the heading `title` in the page's text."""
    lines = text.split(f"\n{title}\n", 1)[1].strip("\n").splitlines()
    rows = [line.split("\t") for line in lines]
    return rows[: next((i for i, row in enumerate(rows) if len(row) == 1), len(rows))]


@needs_chromium
def test_page_fits_1280_px(national_page):
    assert not national_page.overflows, (national_page.scroll_width, national_page.client_width)
    assert national_page.client_width == 1280


@needs_chromium
def test_page_fits_an_a4_landscape_width(national, tmp_path):
    page = measure(national[1], tmp_path, width=A4_LANDSCAPE_PX)
    assert not page.overflows, (page.scroll_width, page.client_width)
    assert "size:A4 landscape" in national[1].read_text(encoding="utf-8")


@needs_chromium
def test_numbers_have_the_stated_decimals(national_page):
    text = national_page.text
    assert "保留两位小数" in text
    assert not TOO_PRECISE.findall(text), TOO_PRECISE.findall(text)[:5]
    headline = {row[0]: row[1:] for row in section(text, "主要指标")[1:]}
    assert all(re.fullmatch(r"[+-]?[\d,]+", cell) for cell in headline["资助项目数"]), headline["资助项目数"]  # counts whole
    assert all(re.fullmatch(r"[+-]?\d+\.\d{2}%|0", cell) for cell in headline["相对间隙"]), headline["相对间隙"]
    money = headline["安排资金合计（万元）"]
    assert all(re.fullmatch(r"[+-]?\d{1,3}(,\d{3})*\.\d{2}|0", cell) for cell in money), money  # 万元, separators, two decimals
    shares = [row[1] for row in section(text, "分省 · 占全国资金比重")[1:]]
    assert all(re.fullmatch(r"\d+\.\d{2}%", cell) for cell in shares), shares
    assert sum(float(s[:-1]) for s in shares) == pytest.approx(100, abs=0.2)


@needs_chromium
def test_provinces_come_in_division_code_order(national, national_page):
    scenario, _ = national
    regions = pd.read_csv(scenario.data.regions, dtype=str)
    first = regions.groupby("province")["region_id"].min()  # the codes of the data, not the page's code
    for title in ("分省 · 资助项目数", "分省 · 资金合计（万元）", "分省 · 占全国资金比重"):
        shown = [row[0] for row in section(national_page.text, title)[1:]]
        assert len(shown) >= 30 and shown[:3] == ["北京市", "天津市", "河北省"]
        assert shown == sorted(shown, key=first.get), title
        assert [int(first[p][:2]) for p in shown] == sorted(int(first[p][:2]) for p in shown)


@needs_chromium
def test_five_runs_still_fit(tmp_path):
    """More runs add columns; the page stays within 1280 px."""
    scenario = load_scenario(DEMO)
    runs = {f"central {b}万": solve(with_overrides(scenario, {"sources.central.budget": f"{b}万"}), marginal="none")
            for b in (1500, 1200, 1000, 800, 500)}
    compare(runs, out=tmp_path / "cmp")
    page = measure(tmp_path / "cmp" / "comparison.html", tmp_path, width=1280)
    assert not page.overflows, (page.scroll_width, page.client_width)
    assert "E − A" in page.text and not TOO_PRECISE.findall(page.text)

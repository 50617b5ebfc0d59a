"""End to end: Debian's headless Chromium, driven by Playwright (no browser download), opens the national scenario in
``allocate serve``, sets the central budget to 8亿, presses 求解 and sees the funded counts change.

With WORKBENCH_SCREENSHOTS=1 the screenshots are also written to docs/img/workbench-*.png (the README shows one); the
time from the click to the updated page is printed (docs/workbench.md records it), never asserted."""

from __future__ import annotations

import re
import statistics
import time

import openpyxl
import pytest

from workbench_browser import launch, needs_chromium, playwright, save, shot_folders, workbench_server  # noqa: F401

pytestmark = needs_chromium

def funded(page: object, table: str = "#differences") -> dict[str, tuple[str, str, str]]:
    """The funded-count rows of the differences table: figure -> (before, after, difference)."""
    rows = page.locator(f"{table} tbody tr").all_inner_texts()  # type: ignore[attr-defined]
    cells = [re.split(r"\t", row) for row in rows]
    return {c[0]: (c[1], c[2], c[3]) for c in cells if c[0].startswith("资助项目数 · ")}  # 资助项目数 · 社区服务站, …


def test_change_the_central_budget_and_see_the_funded_counts_change(server, tmp_path):
    shots = shot_folders(tmp_path)
    with playwright.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.set_default_timeout(180_000)  # an infeasible change is diagnosed by re-solves, on a shared machine
        page.goto(server + "/")
        page.click("text=eleventh_plan_national.toml")
        page.wait_for_selector("#scenario-form")
        central = page.locator('input[name="f:sources.central.budget"]')
        assert central.input_value() == "6"
        assert page.locator('select[name="u:sources.central.budget"]').input_value() == "亿"
        page.click("#solve")  # the scenario as written: the run to compare with
        page.wait_for_url(re.compile(r"/run\?name="))
        save(page, shots, "workbench-scenario.png")

        timings = []
        for budget in ("8", "7", "8"):
            page.fill('input[name="f:sources.central.budget"]', budget)
            started = time.perf_counter()
            page.click("#solve")
            page.wait_for_url(re.compile(r"previous="))
            page.wait_for_selector("#differences")
            timings.append(time.perf_counter() - started)
        counts = funded(page)
        assert counts, "no funded counts on the page"
        # 7亿 -> 8亿: at least one type's count changed, and the page's difference is after minus before
        assert any(after != before for before, after, _ in counts.values()), counts
        assert set(counts) == {"资助项目数 · 街道社区服务中心", "资助项目数 · 社区服务站", "资助项目数 · 城市社区服务信息网络"}
        for before, after, difference in counts.values():
            assert float(difference.replace(",", "").replace("+", "") or 0) == pytest.approx(float(after.replace(",", "")) - float(before.replace(",", "")))
        assert page.locator('input[name="f:sources.central.budget"]').input_value() == "8"
        save(page, shots, "workbench-result.png")

        # the workbook, made on request, opens and holds the funded counts the page shows
        with page.expect_download() as download:
            page.click('#downloads a:text-is("budget_proposal.xlsx")')
        assert download.value.suggested_filename == "budget_proposal.xlsx"
        download.value.save_as(tmp_path / "budget_proposal.xlsx")
        workbook = openpyxl.load_workbook(tmp_path / "budget_proposal.xlsx", read_only=True)
        cells = {str(cell) for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True) for cell in row}
        assert "社区服务站" in cells and len(workbook.worksheets) >= 3

        # an infeasible change (on the demo: the national one's diagnosis takes a minute) shows the diagnosis; a fix solves it
        page.goto(server + "/scenario?path=demo/demo.toml")
        page.fill('input[name="f:targets.counts.centres.min"]', "17")
        page.click("#solve")
        page.wait_for_selector("#fixes button.fix")
        fix = page.locator("#fixes button.fix").first
        applied = fix.get_attribute("value") or ""
        fix.click()
        page.wait_for_selector("#run-name")
        assert page.locator("#diagnosis").count() == 0 and page.locator("#differences, #downloads").count() >= 1
        assert applied.partition("=")[0] in page.content()  # the fix is carried as an override of this run
        browser.close()
    print(f"\n求解 click -> updated page, national scenario: {', '.join(f'{t:.2f}' for t in timings)} s "
          f"(median {statistics.median(timings):.2f} s)")


"""End to end in Debian's headless Chromium (Playwright, no browser download): from the national scenario's page, sweep
the central budget over 4亿–8亿 in 3 points and see the curve drawn (its line through 3 points, the x ticks in 亿) and the
table; solve, open "什么在约束方案" and see the binding rules with their fix buttons.

With WORKBENCH_SCREENSHOTS=1 the screenshots are also written to docs/img/workbench-sweep.png and
docs/img/workbench-explain.png (docs/workbench.md shows them)."""

from __future__ import annotations

import re


from workbench_browser import launch, needs_chromium, playwright, save, shot_folders, workbench_server  # noqa: F401

pytestmark = needs_chromium

NATIONAL = "eleventh_plan_national.toml"

def test_sweep_the_central_budget_and_see_the_curve_then_what_binds(server, tmp_path):
    shots = shot_folders(tmp_path)
    with playwright.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(180_000)  # a sweep of the national scenario, or its explain, on a shared machine
        page.goto(f"{server}/scenario?path={NATIONAL}")
        page.click("#sweep-link")
        page.wait_for_selector("#sweep-form")
        page.select_option("#sweep-source", "central")
        page.fill("#sweep-from", "4")
        page.fill("#sweep-to", "8")
        page.select_option("#sweep-unit", "亿")
        page.fill("#sweep-steps", "3")
        page.click("#sweep")
        page.wait_for_url(re.compile(r"/sweep\?name=sweep-eleventh_plan_national-"))
        lines = page.locator("svg.curve path.line")
        assert lines.count() == 2  # benefit and projects funded
        for d in (lines.nth(i).get_attribute("d") or "" for i in range(2)):
            assert len(re.findall(r"[ML][\d.]+,[\d.]+", d)) == 3, d
        ticks = page.locator("svg.curve").first.locator("text.x-tick").all_text_contents()
        assert ticks == ["4亿", "6亿", "8亿"]
        assert page.locator("svg.curve path.line").first.bounding_box()["width"] > 100  # drawn, not collapsed
        assert page.locator("#sweep-table tbody tr").count() == 3
        save(page, shots, "workbench-sweep.png")

        page.goto(f"{server}/scenario?path={NATIONAL}")
        page.click("#solve")
        page.wait_for_url(re.compile(r"/run\?name="))
        page.click("#explain-link")
        page.wait_for_selector("#binding")
        first = page.locator("#binding tbody tr").first.locator("td").all_inner_texts()
        assert first[0] == "1" and first[1]
        assert page.locator("#binding button.fix").count() >= 1
        assert page.locator("#budgets tbody tr").count() >= 1
        save(page, shots, "workbench-explain.png")
        browser.close()


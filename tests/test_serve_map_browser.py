"""End to end in Debian's headless Chromium (Playwright, no browser download): solve the national scenario in ``allocate
serve``, read the province tile map (31 tiles, a tooltip), open a province, lock a project the plan left out, solve and
see it funded.

With WORKBENCH_SCREENSHOTS=1 the screenshots are also written to docs/img/workbench-map.png and workbench-lock.png."""

from __future__ import annotations

import re


from workbench_browser import launch, needs_chromium, playwright, save, shot_folders, workbench_server  # noqa: F401

pytestmark = needs_chromium

def test_the_map_opens_a_province_where_a_locked_project_is_kept(server, tmp_path):
    shots = shot_folders(tmp_path)
    with playwright.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server + "/")
        page.click("text=eleventh_plan_national.toml")
        page.wait_for_selector("#scenario-form")
        page.click("#solve")
        page.wait_for_url(re.compile(r"/run\?name="))
        assert page.locator("svg#tilemap .tile").count() == 31
        assert page.locator("svg#tilemap a.tile").count() == 31  # every province has candidates
        tooltip = page.locator('svg#tilemap a.tile[data-code="33"] title').text_content() or ""
        assert re.fullmatch(r"浙江省\n人均资金（全部来源）: [\d.,]+ 元/人\n资助 / 候选: \d+ / 208 个项目\n资金: [\d.,]+ 万元", tooltip), tooltip
        save(page.locator("#map"), shots, "workbench-map.png")

        page.click('svg#tilemap a.tile[data-code="33"]')
        page.wait_for_url(re.compile(r"/province\?"))
        assert page.locator("h1").inner_text() == "浙江省"
        row = page.locator("#projects tr.unfunded").first
        project = row.get_attribute("data-id")
        row.locator('button[name="lock"]').click()
        page.wait_for_selector("#pending")
        locked = page.locator(f'#projects tr[data-id="{project}"]')
        assert "锁定（必须安排）" in locked.inner_text()
        locked.scroll_into_view_if_needed()
        save(page, shots, "workbench-lock.png")

        page.click("#province-solve")
        page.wait_for_url(re.compile(r"/run\?name=.*previous="))
        assert project in page.locator("#statuses").inner_text()
        page.click('svg#tilemap a.tile[data-code="33"]')
        page.wait_for_url(re.compile(r"/province\?"))
        kept = page.locator(f'#projects tr[data-id="{project}"]')
        assert (kept.get_attribute("class") or "").split() == ["funded", "must_fund"] and "锁定（必须安排）" in kept.inner_text()
        browser.close()


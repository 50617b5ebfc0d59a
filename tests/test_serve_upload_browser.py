"""The English switch in a real browser: Debian's headless Chromium, driven by Playwright (no browser download), opens
the national scenario in ``allocate serve``, clicks "English" in the header, and sees the same page in English (and
back in Chinese after clicking 中文).

With WORKBENCH_SCREENSHOTS=1 the English scenario page is also written to docs/img/workbench-english.png."""

from __future__ import annotations

import re


from workbench_browser import launch, needs_chromium, playwright, save, shot_folders, workbench_server  # noqa: F401

pytestmark = needs_chromium

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
#: Money units, written as the tables and the CSVs write them in both languages.
UNITS = re.compile(r"[（(]?(万元|亿元|元/人)[）)]?")

def test_the_switch_shows_the_scenario_page_in_english_and_back(server, tmp_path):
    folders = shot_folders(tmp_path)
    with playwright.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(server + "/scenario?path=eleventh_plan_national.toml")
        assert page.locator("#solve").inner_text() == "求解" and page.locator("html").get_attribute("lang") == "zh-CN"
        page.click("#language-en")
        page.wait_for_selector("html[lang=en]")
        assert page.url == server + "/scenario?path=eleventh_plan_national.toml"  # back where it was
        assert page.locator("#solve").inner_text() == "Solve"
        legends = page.locator("legend").all_inner_texts()
        assert "Sources (budget)" in legends and not [text for text in legends if CJK.search(text)]
        assert page.locator('select[name="u:sources.central.budget"] option:checked').inner_text() == "100M yuan"
        page.click("#solve")
        page.wait_for_url(re.compile(r"/run\?name="))
        headings = page.locator(".results h3").all_inner_texts()
        assert "Summary" in headings and not [text for text in headings if CJK.search(UNITS.sub("", text))]
        save(page, folders, "workbench-english.png")
        page.click("#language-zh")
        page.wait_for_selector("html[lang=zh-CN]")
        assert page.locator("#solve").inner_text() == "求解" and "汇总" in page.locator(".results h3").all_inner_texts()
        browser.close()


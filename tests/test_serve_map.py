"""The workbench's province tile map, a province's projects, and locking / excluding a project (TestClient, no browser):
the map's money per resident recomputed from the run's allocation.csv and the regions' residents, markup in a project's
name shown as text, the lock's CSRF check, a lock and an exclusion carried into the next 求解 (and the same allocation
from ``allocate run --set``), and the scenario key ``[projects] must_fund / exclude`` on its own."""

from __future__ import annotations

import html
import re
import shutil
import warnings
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("starlette")
pytest.importorskip("httpx")  # Starlette's TestClient

with warnings.catch_warnings():  # Starlette >= 1.x would rather have httpx2; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from allocator.cli import main  # noqa: E402
from allocator.data import load_data  # noqa: E402
from allocator.errors import InputError  # noqa: E402
from allocator.scenario_toml import load_scenario  # noqa: E402
from allocator.serve.app import create_app  # noqa: E402
from allocator.serve.provinces import with_status  # noqa: E402
from allocator.serve.tilemap import TILES  # noqa: E402
from allocator.serve.worker import pool  # noqa: E402

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
NATIONAL, DEMO = "eleventh_plan_national.toml", "demo/demo.toml"
#: Markup a county might type into a project's name.
MARKUP = '<script>alert("x")</script>望江街道社区服务中心'


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of scenarios/ whose demo project D002 has markup in its name."""
    folder = tmp_path_factory.mktemp("workspace") / "scenarios"
    shutil.copytree(SCENARIOS, folder)
    projects = folder / "demo" / "projects.csv"
    text = projects.read_text(encoding="utf-8")
    quoted = '"' + MARKUP.replace('"', '""') + '"'
    projects.write_text(text.replace("D002,小营街道社区服务中心", f"D002,{quoted}"), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def client(workspace: Path):
    with TestClient(create_app(workspace, pool=lambda: pool(1))) as client:
        yield client


def token(client: TestClient, path: str = DEMO) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/scenario", params={"path": path}).text)
    assert found
    return found.group(1)


def solve(client: TestClient, path: str, overrides: list[str] = (), previous: str = "") -> str:
    """The run a 求解 of `path` with the carried `overrides` wrote."""
    data = {"csrf": token(client, path), "path": path, "previous": previous, "set": list(overrides)}
    response = client.post("/solve", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    return dict(parse_qsl(urlsplit(response.headers["location"]).query))["name"]


def allocation(workspace: Path, run: str) -> pd.DataFrame:
    return pd.read_csv(workspace / "runs" / run / "allocation.csv", encoding="utf-8-sig", dtype={"project_id": str, "region_id": str})


def hidden(text: str, form: str, name: str) -> list[str]:
    """The values of the hidden inputs `name` of the form with id `form`."""
    body = text[text.index(f'id="{form}"'):]
    body = body[: body.index("</form>")]
    return [html.unescape(v) for v in re.findall(rf'name="{name}" value="([^"]*)"', body)]


@pytest.fixture(scope="module")
def national_run(client) -> str:
    return solve(client, NATIONAL)


def test_the_map_shows_money_per_resident_recomputed_from_the_run(client, workspace, national_run):
    page = client.get("/run", params={"name": national_run})
    assert page.status_code == 200
    tiles = re.findall(r'<a href="/province\?run=[^"]+&amp;code=(\d\d)" class="tile"[^>]*>\s*<title>([^<]+)</title>', page.text)
    assert len(tiles) == 31 and {code for code, _ in tiles} == set(TILES)
    shown = {}
    for code, title in tiles:
        name, value, counts, _money = html.unescape(title).split("\n")
        assert name == TILES[code].name
        shown[name] = float(re.fullmatch(r"人均资金（全部来源）: ([\d,.]+) 元/人", value).group(1).replace(",", ""))
    # independently: all sources' money per province over the regions' residents, in 元 per resident
    plan = allocation(workspace, national_run)
    money = plan[["central", "lottery", "local"]].sum(axis=1).groupby(plan["province"]).sum()
    regions = pd.read_csv(workspace / "data" / "regions.csv.gz", dtype={"region_id": str})
    residents = regions.groupby("province")["population"].sum()
    expected = (money * 10_000 / residents[money.index]).round(2)
    assert shown == pytest.approx(expected.to_dict(), abs=0.006)
    zhejiang = next(html.unescape(t) for c, t in tiles if c == "33")
    funded = int(plan.loc[plan["province"] == "浙江省", "selected"].sum())
    assert f"资助 / 候选: {funded} / {int((plan['province'] == '浙江省').sum())} 个项目" in zhejiang
    assert re.search(r'<rect x="0" y="2" width="24" height="14" fill="#deebf7"></rect><text[^>]*>[\d.,]+ 元/人</text>', page.text)


def test_an_indicator_colours_the_map_by_its_value_per_province(client, national_run):
    page = client.get("/run", params={"name": national_run, "measure": "indicator:street_centres"})
    assert page.status_code == 200 and "map-error" not in page.text
    values = re.findall(r"街道社区服务中心覆盖率: ([\d.]+)%", page.text)
    assert len(values) == 31 and all(0 <= float(v) <= 100 for v in values)


def test_a_province_without_candidates_is_grey_and_says_so(client):
    run = solve(client, DEMO)
    page = client.get("/run", params={"name": run}).text
    assert page.count('class="tile"') == 3 and page.count('class="tile empty"') == 28  # the demo: Zhejiang, Hubei, Sichuan
    assert re.search(r'class="tile empty" data-code="11">\s*<title>北京市\n没有候选项目</title>\s*<rect[^>]*fill="#d0d4d8"', page)


def test_the_province_page_lists_funded_first_with_totals_that_add_up(client, workspace, national_run):
    page = client.get("/province", params={"run": national_run, "code": "33"})
    assert page.status_code == 200
    rows = re.findall(r'<tr class="(funded|unfunded)[^"]*" data-id="([^"]+)">(.*?)</tr>', page.text, re.S)
    plan = allocation(workspace, national_run)
    zhejiang = plan[plan["province"] == "浙江省"]
    assert [r[1] for r in rows] == list(zhejiang.sort_values("selected", ascending=False, kind="stable")["project_id"])
    money = [[float(c.replace(",", "")) for c in re.findall(r'<td class="num">([\d,.]+)</td>', cells)] for _, _, cells in rows]
    totals = re.findall(r'<tr class="totals">(.*?)</tr>', page.text, re.S)
    for total, members in zip(totals, ([m for m, r in zip(money, rows) if r[0] == "funded"], money)):
        printed = [float(c.replace(",", "")) for c in re.findall(r'<td class="num">([\d,.]+)</td>', total)]
        assert printed == pytest.approx([sum(column) for column in zip(*members)], abs=1e-6)
    assert sum(m[0] for m, r in zip(money, rows) if r[0] == "funded") == pytest.approx(
        zhejiang.loc[zhejiang["selected"] > 0, "cost"].sum())


def test_markup_in_a_project_name_is_shown_as_text(client):
    run = solve(client, DEMO)
    page = client.get("/province", params={"run": run, "code": "33"})
    assert page.status_code == 200
    assert "<script>alert" not in page.text and html.escape(MARKUP, quote=False) in page.text.replace("&#34;", '"')


def test_a_lock_without_the_session_token_and_a_smuggled_data_path_are_refused(client):
    run = solve(client, DEMO)
    response = client.post("/project-status", data={"path": DEMO, "run": run, "code": "33", "lock": "D001"}, follow_redirects=False)
    assert response.status_code == 403
    assert client.get("/province", params={"run": run, "code": "33"}).status_code == 200
    # a carried override may set the plan's rules and statuses, never its data files
    smuggled = client.get("/province", params={"run": run, "code": "33", "carried": "1", "set": 'data.projects="/etc/passwd"'})
    assert smuggled.status_code == 400 and "data.projects" in smuggled.text


def test_a_locked_project_is_funded_and_an_excluded_one_is_dropped_as_on_the_command_line(client, workspace, tmp_path):
    run = solve(client, DEMO)
    before = allocation(workspace, run).set_index("project_id")["selected"]
    assert before["D001"] == 0 and before["D005"] == 1
    province = client.get("/province", params={"run": run, "code": "33"}).text
    form = {"csrf": hidden(province, "status-form", "csrf")[0], "path": DEMO, "run": run, "code": "33"}
    locked = client.post("/project-status", data={**form, "lock": "D001"}, follow_redirects=False)
    assert locked.status_code == 303
    page = client.get(locked.headers["location"]).text
    carried = hidden(page, "province-solve-form", "set")
    assert carried == ['projects.must_fund=["D001"]'] and 'id="pending"' in page
    excluded = client.post("/project-status", data={**form, "set": carried, "exclude": "D005"}, follow_redirects=False)
    carried = hidden(client.get(excluded.headers["location"]).text, "province-solve-form", "set")
    assert carried == ['projects.must_fund=["D001"]', 'projects.exclude=["D005"]']
    after = solve(client, DEMO, carried, previous=run)
    solved = allocation(workspace, after).set_index("project_id")
    assert solved.loc["D001", "selected"] == 1 and solved.loc["D005", "selected"] == 0
    assert solved.loc["D005", ["central", "lottery", "local"]].sum() == 0
    # the command line, with the same --set, writes the same allocation
    out = tmp_path / "cli"
    result = CliRunner().invoke(main, ["run", str(workspace / DEMO), "--out", str(out), "--no-reports", *sum((["--set", o] for o in carried), [])])
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_csv(out / "allocation.csv", encoding="utf-8-sig", dtype={"project_id": str, "region_id": str}),
                                  allocation(workspace, after))


def test_the_scenario_page_lists_the_locks_and_clearing_one_solves_without_it(client, workspace):
    run = solve(client, DEMO, ['projects.must_fund=["D001", "D003"]'])
    page = client.get("/run", params={"name": run}).text
    assert re.search(r'<fieldset id="statuses">.*D001.*D003.*</fieldset>', page, re.S)
    fix = html.unescape(re.search(r"<button type=\"submit\" name=\"fix\" value='([^']+)' class=\"unlock\">", page).group(1))
    assert fix == 'projects.must_fund=["D003"]'  # clearing D001 keeps D003
    form = {"csrf": hidden(page, "scenario-form", "csrf")[0], "path": DEMO, "previous": run, "set": hidden(page, "scenario-form", "set"),
            "f:sources.central.budget": "0.2", "u:sources.central.budget": "亿", "fix": fix}
    cleared = client.post("/solve", data=form, follow_redirects=False)
    assert cleared.status_code == 303
    after = dict(parse_qsl(urlsplit(cleared.headers["location"]).query))["name"]
    manifest = (workspace / "runs" / after / "manifest.json").read_text(encoding="utf-8")
    assert '"D003"' in manifest and '"D001"' not in manifest and "sources.central.budget" in manifest  # what was typed is solved too
    assert allocation(workspace, after).set_index("project_id").loc["D003", "selected"] == 1


def test_an_unknown_project_id_is_an_error_on_the_page_and_exit_2_on_the_command_line(client, workspace, tmp_path):
    before = set((workspace / "runs").iterdir())
    data = {"csrf": token(client), "path": DEMO, "set": 'projects.must_fund=["D999"]'}
    response = client.post("/solve", data=data)
    assert response.status_code == 400 and "projects.must_fund" in response.text and "D999" in response.text
    assert set((workspace / "runs").iterdir()) == before
    result = CliRunner().invoke(main, ["run", str(workspace / DEMO), "--out", str(tmp_path / "x"), "--set", 'projects.must_fund=["D999"]'])
    assert result.exit_code == 2 and "projects.must_fund" in result.output and "'D999' is not a project_id" in result.output


def test_the_scenario_key_wins_over_the_status_column_and_refuses_contradictions(tmp_path):
    folder = tmp_path / "demo"
    shutil.copytree(SCENARIOS / "demo", folder)
    projects = pd.read_csv(folder / "projects.csv", dtype=str)
    projects["status"] = ["exclude" if pid == "D001" else ("must_fund" if pid == "D005" else "") for pid in projects["project_id"]]
    projects.to_csv(folder / "projects.csv", index=False)
    scenario = load_scenario(folder / "demo.toml", ['projects.must_fund=["D001"]', 'projects.exclude=["D005"]'])
    status = dict(zip(load_data(scenario).projects["project_id"], load_data(scenario).status))
    assert (status["D001"], status["D005"]) == ("must_fund", "exclude")
    with pytest.raises(InputError, match=r"projects\.exclude.*'D001' is both in must_fund"):
        load_scenario(folder / "demo.toml", ['projects.must_fund=["D001"]', 'projects.exclude=["D001"]'])


def test_a_status_change_keeps_the_other_overrides_and_drops_a_list_the_file_already_has(tmp_path):
    folder = tmp_path / "demo"
    shutil.copytree(SCENARIOS / "demo", folder)
    with (folder / "demo.toml").open("a", encoding="utf-8") as file:
        file.write('\n[projects]\nmust_fund = ["D003"]\n')
    carried = ["sources.central.budget=2000万"]
    locked = with_status(folder / "demo.toml", carried, "D001", "must_fund")
    assert locked == ["sources.central.budget=2000万", 'projects.must_fund=["D003", "D001"]']
    assert with_status(folder / "demo.toml", locked, "D001", "") == carried  # back to the file's own list
    assert with_status(folder / "demo.toml", carried, "D003", "exclude") == [*carried, "projects.must_fund=[]", 'projects.exclude=["D003"]']

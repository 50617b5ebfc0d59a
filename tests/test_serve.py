"""``allocate serve`` through Starlette's TestClient (no browser): the form's values become ``--set`` overrides, a solve
in the app writes the run ``allocate run`` writes, bad values and infeasible changes are explained, and requests for
paths outside the workspace, POSTs without the session's token and markup in a scenario's text fail safely."""

from __future__ import annotations

import html
import re
import shutil
import warnings
from urllib.parse import urlencode
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("starlette")
pytest.importorskip("httpx")  # Starlette's TestClient

with warnings.catch_warnings():  # Starlette >= 1.x would rather have httpx2; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from allocator.cli import main  # noqa: E402
from allocator.scenario_toml import load_scenario  # noqa: E402
from allocator.serve import forms  # noqa: E402
from allocator.serve.app import CSP, create_app  # noqa: E402
from allocator.serve.worker import pool  # noqa: E402

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
NATIONAL, DEMO = "eleventh_plan_national.toml", "demo/demo.toml"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("workspace") / "scenarios"
    shutil.copytree(SCENARIOS, folder)
    return folder


@pytest.fixture(scope="module")
def client(workspace: Path):
    with TestClient(create_app(workspace, pool=lambda: pool(1))) as client:
        yield client


def token(client: TestClient, path: str = DEMO) -> str:
    page = client.get("/scenario", params={"path": path})
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def runs(workspace: Path) -> set[str]:
    return {p.name for p in (workspace / "runs").iterdir()} if (workspace / "runs").is_dir() else set()


def test_the_form_values_become_the_overrides_a_planner_would_type(workspace):
    fields = forms.fields(load_scenario(workspace / NATIONAL))
    central = next(f for f in fields if f.key == "sources.central.budget")
    assert (central.unit, central.shown) == ("亿", "6")
    submitted = {"f:sources.central.budget": "8", "u:sources.central.budget": "亿",
                 "f:sources.lottery.budget": "13000", "u:sources.lottery.budget": "万",  # 1.3亿 in 万: unchanged
                 "f:targets.counts.centres.min": "460", "f:targets.counts.centres.max": "550",
                 "b:targets.indicators.street_centres.hard": "1", "f:targets.indicators.street_centres.hard": "on"}
    assert forms.changed(fields, submitted) == ["sources.central.budget=8亿", "targets.counts.centres.min=460",
                                                "targets.indicators.street_centres.hard=true"]
    assert forms.merged(["a.b=1", "c.d=2"], ["a.b=3"]) == ["c.d=2", "a.b=3"]
    with pytest.raises(forms.BadOverride):
        forms.carried(['data.projects="/etc/passwd"'])


def test_a_changed_unit_alone_is_a_change_and_an_unknown_unit_is_refused(workspace, client):
    # 1500 with the select moved from 万 to 亿 was solved as 1500万 with no override; '20' with '元' solved 20万.
    fields = forms.fields(load_scenario(workspace / DEMO))
    central = next(f for f in fields if f.key == "sources.central.budget")
    assert central.unit == "万"
    assert forms.changed(fields, {central.name: central.shown, f"u:{central.key}": "亿"}) == [f"{central.key}={central.shown}亿"]
    assert forms.changed(fields, {central.name: central.shown, f"u:{central.key}": "万"}) == []
    for unit in ("元", "亿元", "XX"):
        with pytest.raises(forms.BadOverride, match=f"the unit '{unit}' of sources.central.budget is not one of 亿, 万"):
            forms.changed(fields, {central.name: "20", f"u:{central.key}": unit})
    before = runs(workspace)
    response = client.post("/solve", data={"csrf": token(client), "path": DEMO, central.name: "20", f"u:{central.key}": "元"})
    assert response.status_code == 400 and "预算单位 '元' 不可用" in html.unescape(response.text)
    assert runs(workspace) == before


def test_a_number_of_thousands_of_digits_is_refused_on_the_page_not_a_server_error(client, workspace):
    before = runs(workspace)
    response = client.post("/solve", data={"csrf": token(client), "path": DEMO, "f:targets.counts.centres.min": "1" + "0" * 4400})
    assert response.status_code == 400 and "a number of more than 4,300 digits" in response.text
    assert runs(workspace) == before


def test_a_solve_in_the_app_writes_the_run_allocate_run_writes(client, workspace, tmp_path):
    before = runs(workspace)
    response = client.post("/solve", data={"csrf": token(client, NATIONAL), "path": NATIONAL,
                                           "f:sources.central.budget": "8", "u:sources.central.budget": "亿"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    (new,) = runs(workspace) - before
    assert response.headers["location"] == f"/run?{urlencode({'name': new})}"
    page = client.get(response.headers["location"])
    assert page.status_code == 200 and "中央专项资金" in page.text and "80,000.00" in page.text  # the budget, in 万元

    cli = CliRunner().invoke(main, ["run", str(workspace / NATIONAL), "--set", "sources.central.budget=8亿", "--no-reports",
                                    "--out", str(tmp_path / "cli")])
    assert cli.exit_code == 0, cli.output
    columns = ["project_id", "selected", "central", "lottery", "local"]
    app_plan = pd.read_csv(workspace / "runs" / new / "allocation.csv", encoding="utf-8-sig")[columns]
    cli_plan = pd.read_csv(tmp_path / "cli" / "allocation.csv", encoding="utf-8-sig")[columns]
    pd.testing.assert_frame_equal(app_plan, cli_plan)
    assert app_plan["central"].sum() > 60_000  # more than the scenario's own 6亿 was spent: the override took effect

    download = client.get("/download", params={"run": new, "file": "by_source.csv"})
    assert download.status_code == 200 and download.content.startswith("\ufeff".encode())


def test_a_second_solve_shows_the_previous_result_and_the_differences(client, workspace):
    first = client.post("/solve", data={"csrf": token(client), "path": DEMO}, follow_redirects=False).headers["location"]
    name = first.split("=", 1)[1]
    second = client.post("/solve", data={"csrf": token(client), "path": DEMO, "previous": name,
                                         "f:sources.central.budget": "500", "u:sources.central.budget": "万"})
    assert second.status_code == 200 and f"previous={name}" in str(second.url)
    assert "与上次的差别" in second.text and 'id="provinces-diff"' in second.text
    before = pd.read_csv(workspace / "runs" / name / "by_source.csv", encoding="utf-8-sig").set_index("source")
    assert before.loc["central", "used"] > 500  # the cut binds, so the page has a difference to show
    assert "-" in re.search(r'id="differences".*?</table>', second.text, re.S).group(0)

    assert not (workspace / "runs" / name / "budget_proposal.xlsx").exists()  # deferred, like --no-reports
    workbook = client.get("/download", params={"run": name, "file": "budget_proposal.xlsx"})
    assert workbook.status_code == 200 and workbook.content.startswith(b"PK")  # made on request: an xlsx is a zip
    assert (workspace / "runs" / name / "budget_proposal.xlsx").is_file()


def test_a_bad_value_gets_the_command_line_error_on_the_page_and_writes_nothing(client, workspace):
    before = runs(workspace)
    response = client.post("/solve", data={"csrf": token(client), "path": DEMO,
                                           "f:sources.central.budget": "lots", "u:sources.central.budget": "万"})
    assert response.status_code == 400
    assert "sources.central.budget" in response.text or "budget" in response.text
    assert 'class="error"' in response.text and "Traceback" not in response.text
    assert runs(workspace) == before


@pytest.mark.parametrize("path", ["../scenarios/demo/demo.toml", "/etc/passwd", "demo/../../x.toml", "demo\\demo.toml", "runs"])
def test_a_path_outside_the_workspace_is_refused(client, path):
    assert client.get("/scenario", params={"path": path}).status_code == 404


def test_a_link_out_of_the_workspace_is_refused(client, workspace, tmp_path):
    outside = tmp_path / "outside.toml"
    outside.write_text((workspace / DEMO).read_text(encoding="utf-8").replace('"regions.csv"', f'"{workspace / "demo" / "regions.csv"}"'), encoding="utf-8")
    (workspace / "link.toml").symlink_to(outside)
    try:
        assert client.get("/scenario", params={"path": "link.toml"}).status_code == 404
        assert "link.toml" not in client.get("/").text
    finally:
        (workspace / "link.toml").unlink()


def test_runs_are_not_written_through_a_link_out_of_the_workspace(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    workspace, outside = tmp_path / "workspace", tmp_path / "outside"
    shutil.copytree(SCENARIOS / "demo", workspace / "demo")
    outside.mkdir()
    (workspace / "runs").symlink_to(outside)
    with TestClient(create_app(workspace, pool=lambda: ThreadPoolExecutor(1))) as other:
        assert other.post("/solve", data={"csrf": token(other), "path": DEMO}).status_code == 404
    assert list(outside.iterdir()) == []


def test_downloads_come_only_from_a_run(client, workspace):
    name = sorted(runs(workspace))[0]
    for run, file in [(name, "../../demo/demo.toml"), (name, "manifest.json"), ("../demo", "projects.csv"), (name, "/etc/passwd")]:
        assert client.get("/download", params={"run": run, "file": file}).status_code == 404


@pytest.mark.parametrize("csrf", [None, "forged"])
def test_a_post_without_the_session_token_is_refused_and_writes_nothing(client, workspace, csrf):
    before = runs(workspace)
    token(client)  # the session exists: only the token is missing or wrong
    data = {"path": DEMO, **({"csrf": csrf} if csrf else {})}
    response = client.post("/solve", data=data)
    assert response.status_code == 403
    assert runs(workspace) == before


def test_a_token_from_another_session_is_refused(client, workspace):
    stolen = token(client)
    other = TestClient(client.app)  # a second browser (no `with`: the app and its pool are already running)
    other.get("/")
    assert other.post("/solve", data={"csrf": stolen, "path": DEMO}).status_code == 403


def test_markup_in_a_scenario_is_shown_as_text(client, workspace):
    text = (workspace / DEMO).read_text(encoding="utf-8").replace('label = "中央专项资金"', 'label = "<script>alert(1)</script>"', 1)
    (workspace / "demo" / "script.toml").write_text(text.replace('description = "', 'description = "<b>bold</b> ', 1), encoding="utf-8")
    page = client.get("/scenario", params={"path": "demo/script.toml"})
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert" not in page.text
    assert "&lt;b&gt;bold&lt;/b&gt;" in page.text
    assert page.headers["content-security-policy"] == CSP


def test_an_infeasible_change_shows_the_fixes_as_buttons_and_applying_one_solves(client, workspace):
    response = client.post("/solve", data={"csrf": token(client), "path": DEMO, "f:targets.counts.centres.min": "17"})
    assert response.status_code == 200 and 'id="diagnosis"' in response.text
    fixes = re.findall(r'<button type="submit" name="fix" value="([^"]+)"', response.text)
    assert "sources.central.budget=1550.00万" in fixes and "targets.counts.centres.min=16" in fixes
    assert 'name="f:targets.counts.centres.min" value="17"' in response.text  # the form keeps the change that failed
    fixed = client.post("/solve", data={"csrf": token(client), "path": DEMO, "f:targets.counts.centres.min": "17",
                                        "fix": "sources.central.budget=1550.00万"})
    assert fixed.status_code == 200 and 'id="diagnosis"' not in fixed.text
    name = str(fixed.url).split("name=", 1)[1].split("&")[0]
    plan = pd.read_csv(workspace / "runs" / name / "allocation.csv", encoding="utf-8-sig")
    assert int(plan.loc[plan["type"] == "centre", "selected"].sum()) >= 17
    assert plan["central"].sum() > 1500  # the fix's extra central money was available


@pytest.mark.parametrize("where", ["unresolvable host", "port taken"])
def test_an_address_the_server_cannot_take_is_one_error_line_and_exit_2(tmp_path, where):
    # uvicorn failed after the address was announced, with its own exit code 3 (which says "no allocation" here).
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        args = ["--host", "999.1.1.1"] if where == "unresolvable host" else ["--port", str(taken.getsockname()[1])]
        result = CliRunner().invoke(main, ["serve", "--workspace", str(tmp_path), *args])
    finally:
        taken.close()
    assert result.exit_code == 2, result.output
    assert result.output.count("error:") == 1 and "http://" not in result.output
    assert ("not an address this machine can listen on" if where == "unresolvable host" else "Address already in use") in result.output

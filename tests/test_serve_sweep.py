"""The workbench's sweep and "what binds" views through Starlette's TestClient (the worker pool a thread): a sweep in the
app writes the sweep ``allocate sweep`` writes and shows its terminal table and curve; bad ranges and missing tokens
write nothing; the explain page ranks the rules as ``allocate explain`` does and its fix buttons solve again."""

from __future__ import annotations

import re
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor
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
from allocator.serve.app import create_app  # noqa: E402
from allocator.serve.curve import nice_ticks  # noqa: E402

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
DEMO = "demo/demo.toml"
#: The demo's central budget is 1,500万: a cut to 1,200万 keeps it binding.
CUT = "sources.central.budget=1200万"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("workspace") / "scenarios"
    shutil.copytree(SCENARIOS, folder)
    return folder


@pytest.fixture(scope="module")
def client(workspace: Path):
    with TestClient(create_app(workspace, pool=lambda: ThreadPoolExecutor(max_workers=1))) as client:
        yield client


def token(client: TestClient) -> str:
    page = client.get("/sweep", params={"path": DEMO})
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def entries(workspace: Path) -> set[str]:
    return {p.name for p in (workspace / "runs").iterdir()} if (workspace / "runs").is_dir() else set()


def cells(html: str, table: str) -> list[list[str]]:
    """The rows of the table `table` (its id) of a page, as text."""
    body = re.search(rf'<table id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, f"no table {table}"
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]


def test_a_sweep_in_the_app_is_the_sweep_allocate_sweep_writes(client, workspace, tmp_path):
    before = entries(workspace)
    form = {"csrf": token(client), "path": DEMO, "source": "central", "from": "1000", "to": "2000", "unit": "万", "steps": "3"}
    response = client.post("/sweep", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    (new,) = entries(workspace) - before
    assert new.startswith("sweep-demo-") and response.headers["location"] == f"/sweep?name={new}"
    folder = workspace / "runs" / new
    assert {"sweep.csv", "sweep.html", "sweep.png", "allocate.json"} <= {p.name for p in folder.iterdir()}
    assert sorted(p.name for p in (folder / "runs").iterdir()) == ["run-1", "run-2", "run-3"]

    cli = CliRunner().invoke(main, ["sweep", str(workspace / DEMO), "--vary", "sources.central.budget=1000万:2000万:3",
                                    "--out", str(tmp_path / "cli")])
    assert cli.exit_code == 0, cli.output
    app_table = pd.read_csv(folder / "sweep.csv", encoding="utf-8-sig")
    cli_table = pd.read_csv(tmp_path / "cli" / "sweep.csv", encoding="utf-8-sig")
    pd.testing.assert_frame_equal(app_table, cli_table)
    assert list(app_table["sources.central.budget (万元)"]) == [1000, 1500, 2000]

    page = client.get(response.headers["location"])
    assert page.status_code == 200
    # the page's table is the terminal's: the same 7 headers and the same cells
    lines = cli.output.splitlines()
    start = next(i for i, line in enumerate(lines) if "求解状态" in line)  # after the progress bar
    terminal = [re.split(r"\s{2,}", line.strip()) for line in lines[start:start + 4]]
    headers = re.findall(r"<th>(.*?)</th>", re.search(r'<table id="sweep-table">.*?</thead>', page.text, re.S).group(0))
    assert len(headers) == 7 and headers == terminal[0]
    assert cells(page.text, "sweep-table") == terminal[1:]


def test_the_curve_draws_each_points_figures_against_the_budget_in_money(client, workspace):
    form = {"csrf": token(client), "path": DEMO, "source": "central", "from": "0.1", "to": "0.2", "unit": "亿", "steps": "3"}
    page = client.post("/sweep", data=form)
    assert page.status_code == 200 and "/sweep?name=" in str(page.url)
    name = re.search(r'id="sweep-name">([^<]+)<', page.text).group(1)
    table = pd.read_csv(workspace / "runs" / name / "sweep.csv", encoding="utf-8-sig")
    svgs = re.findall(r'<svg class="curve".*?</svg>', page.text, re.S)
    assert len(svgs) == 2  # benefit, projects funded
    for svg, column in zip(svgs, ["objective", "projects_funded"]):
        ticks = re.findall(r'<text class="x-tick"[^>]*>([^<]+)</text>', svg)
        assert ticks == ["1,000万", "1,500万", "2,000万"]  # 0.1亿 .. 0.2亿 is below one 亿: read in 万
        path = re.search(r'<path class="line" d="([^"]+)"', svg).group(1)
        points = [tuple(map(float, p.split(","))) for p in re.findall(r"[ML]([\d.]+,[\d.]+)", path)]
        assert len(points) == 3 and points[0][0] < points[1][0] < points[2][0]
        # the heights are the figures, linearly: equal steps of the figure are equal steps on the page (SVG y grows down)
        values = table[column].to_numpy(dtype=float)
        ys = [y for _, y in points]
        scale = (ys[0] - ys[2]) / (values[2] - values[0])
        assert scale > 0
        assert ys[0] - ys[1] == pytest.approx(scale * (values[1] - values[0]), abs=0.2)
        # the y ticks are round numbers around the figures
        y_ticks = [float(t.replace(",", "")) for t in re.findall(r'<text class="y-tick"[^>]*>([^<]+)</text>', svg)]
        assert min(y_ticks) <= values.min() and max(y_ticks) >= values.max()


@pytest.mark.parametrize("change, message", [
    ({"to": "500"}, "终点须大于起点"),
    ({"steps": "0"}, "点数须在 2 到 12 之间"),
    ({"steps": "13"}, "点数须在 2 到 12 之间"),
    ({"steps": "three"}, "点数须为整数"),
    ({"from": "lots"}, "须为数字"),
    ({"source": "nowhere"}, "情景中没有资金来源"),
    ({"unit": "元"}, "金额单位"),
])
def test_a_bad_range_is_explained_and_writes_nothing(client, workspace, change, message):
    before = entries(workspace)
    form = {"csrf": token(client), "path": DEMO, "source": "central", "from": "1000", "to": "2000", "unit": "万", "steps": "3", **change}
    response = client.post("/sweep", data=form)
    assert response.status_code == 400
    assert message in re.search(r'id="error">([^<]*)<', response.text).group(1)
    assert entries(workspace) == before


def test_a_carried_override_outside_the_plans_rules_is_refused(client, workspace):
    before = entries(workspace)
    form = {"csrf": token(client), "path": DEMO, "source": "central", "from": "1000", "to": "2000", "unit": "万", "steps": "3",
            "set": 'data.projects="/etc/passwd"'}
    response = client.post("/sweep", data=form)
    assert response.status_code == 400 and "data.projects" in response.text
    assert entries(workspace) == before


@pytest.mark.parametrize("csrf", [None, "0" * 64])
def test_a_sweep_without_the_sessions_token_is_refused(client, workspace, csrf):
    before = entries(workspace)
    form = {"path": DEMO, "source": "central", "from": "1000", "to": "2000", "unit": "万", "steps": "3"}
    response = client.post("/sweep", data=form if csrf is None else {**form, "csrf": csrf})
    assert response.status_code == 403 and "CSRF" in response.text
    assert entries(workspace) == before


def test_only_sweep_directories_in_runs_are_shown(client, workspace):
    client.post("/solve", data={"csrf": token(client), "path": DEMO})
    run = next(p.name for p in (workspace / "runs").iterdir() if not p.name.startswith("sweep-"))
    for name in [run, "../demo", "/etc", "sweep-none"]:
        assert client.get("/sweep", params={"name": name}).status_code == 404
    assert client.get("/sweep", params={"path": "../secret.toml"}).status_code == 404


def first_rule(output: str) -> tuple[str, float, float, str]:
    """``allocate explain``'s first binding rule: its label, step, gain and fix."""
    found = re.search(r"^  1\. (.+?)：.*?放宽 ([\d,.]+) \S+ → 目标 ([+-][\d,.]+)（.*?\n\s+--set (\S+)", output, re.M)
    assert found, output
    return found.group(1), float(found.group(2).replace(",", "")), float(found.group(3).replace(",", "")), found.group(4)


def test_what_binds_ranks_the_rules_as_allocate_explain_does_and_its_fixes_solve_again(client, workspace):
    solved = client.post("/solve", data={"csrf": token(client), "path": DEMO, "set": CUT}, follow_redirects=False)
    run = solved.headers["location"].split("=", 1)[1]
    assert 'id="explain-link"' in client.get(solved.headers["location"]).text
    page = client.get("/explain", params={"name": run})
    assert page.status_code == 200, page.text

    cli = CliRunner().invoke(main, ["explain", str(workspace / DEMO), "--set", CUT])
    assert cli.exit_code == 0, cli.output
    label, step, gain, fix = first_rule(cli.output)
    first = cells(page.text, "binding")[0]
    assert (first[0], first[1]) == ("1", label)
    assert float(first[4].replace(",", "")) == pytest.approx(gain, abs=0.01)
    assert f'name="fix" value="{fix}"' in page.text

    # what one more 亿 is worth: the measured gain of the budget's step, per 万, times 10,000
    budgets = {row[0]: row for row in cells(page.text, "budgets")}
    assert float(budgets[label][2].replace(",", "")) == pytest.approx(gain / step * 10_000, abs=1.0)

    before = entries(workspace)
    again = client.post("/solve", data={"csrf": token(client), "path": DEMO, "set": CUT, "fix": fix, "previous": run}, follow_redirects=False)
    assert again.status_code == 303
    (new,) = entries(workspace) - before
    manifest = (workspace / "runs" / new / "manifest.json").read_text(encoding="utf-8")
    assert fix.split("=")[0] in manifest
    old_money = pd.read_csv(workspace / "runs" / run / "by_source.csv", encoding="utf-8-sig")["budget"].sum()
    new_money = pd.read_csv(workspace / "runs" / new / "by_source.csv", encoding="utf-8-sig")["budget"].sum()
    assert new_money == pytest.approx(old_money + step)  # the fix relaxed the rule by its step


def test_what_binds_of_a_run_outside_the_workspace_is_refused(client):
    for name in ["../demo", "nothing-here", ""]:
        assert client.get("/explain", params={"name": name}).status_code == 404


@pytest.mark.parametrize("low, high, expected", [(0.0, 1.0, [0.0, 0.25, 0.5, 0.75, 1.0]), (316_177, 371_829, [300_000, 320_000, 340_000, 360_000, 380_000]),
                                                 (25, 32, [24, 26, 28, 30, 32]), (5, 5, [4.5, 4.75, 5.0, 5.25, 5.5])])
def test_the_y_ticks_are_round_numbers_covering_the_values(low, high, expected):
    assert nice_ticks(low, high) == pytest.approx(expected)

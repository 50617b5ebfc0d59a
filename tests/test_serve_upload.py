"""Uploads and the English switch of ``allocate serve`` through Starlette's TestClient: a scenario zip is unpacked into
a new folder and solves, every unsafe zip or request is refused with nothing left in the workspace, a workbook upload
writes the CSV ``allocate import`` writes, and the English pages carry no Chinese in their headings and buttons while
the Chinese default is unchanged; the language switch returns only to a path on this site."""

from __future__ import annotations

import html
import io
import os
import re
import shutil
import stat
import struct
import warnings
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("starlette")
pytest.importorskip("httpx")  # Starlette's TestClient

with warnings.catch_warnings():  # Starlette >= 1.x would rather have httpx2; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from allocator.cli import main  # noqa: E402
from allocator.serve import uploads  # noqa: E402
from allocator.serve.app import create_app  # noqa: E402
from allocator.serve.pages import LANGUAGE_COOKIE  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo"
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
#: Money units, written as the tables and the CSVs write them in both languages.
UNITS = re.compile(r"[（(]?(万元|亿元|元/人)[）)]?")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "workspace"
    shutil.copytree(DEMO, folder / "demo")
    return folder


@pytest.fixture
def client(workspace: Path) -> Iterator[TestClient]:
    with TestClient(create_app(workspace, pool=lambda: ThreadPoolExecutor(1))) as client:
        yield client


def token(client: TestClient) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text)
    assert found
    return found.group(1)


def everything(folder: Path) -> set[str]:
    """Every file and folder under `folder`, hidden ones too."""
    found = set()
    for top, folders, files in os.walk(folder):
        found |= {os.path.relpath(os.path.join(top, name), folder) for name in folders + files}
    return found


def zipped(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def demo_zip() -> bytes:
    return zipped({f"demo/{path.name}": path.read_bytes() for path in DEMO.iterdir()})


def with_link() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("demo/demo.toml", (DEMO / "demo.toml").read_bytes())
        link = zipfile.ZipInfo("demo/projects.csv")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "../../../etc/passwd")
    return buffer.getvalue()


def understated(data: bytes, name: str, size: int) -> bytes:
    """`data` (a zip) with the uncompressed size of its member `name` rewritten as `size` in both headers."""
    raw = bytearray(data)
    encoded = name.encode()
    local = raw.index(b"PK\x03\x04")  # the first local header (the only member)
    assert raw[local + 30:local + 30 + len(encoded)] == encoded
    struct.pack_into("<I", raw, local + 22, size)
    central = raw.index(b"PK\x01\x02")
    assert raw[central + 46:central + 46 + len(encoded)] == encoded
    struct.pack_into("<I", raw, central + 24, size)
    return bytes(raw)


def upload(client: TestClient, data: bytes, name: str = "demo.zip", csrf: str | None = None):
    form = {"csrf": csrf} if csrf is not None else {}
    return client.post("/upload/scenario", data=form, files={"file": (name, data, "application/zip")}, follow_redirects=False)


def message(response) -> str:
    found = re.search(r'id="problem">(.*?)</p>', response.text, re.S)
    assert found, response.text
    return html.unescape(found.group(1))


# -- a scenario folder ------------------------------------------------------------------------------------------

def test_a_good_zip_becomes_a_scenario_that_opens_and_solves_as_the_original(client, workspace, tmp_path):
    response = upload(client, demo_zip(), name="示范 demo.zip", csrf=token(client))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/scenario?path=uploads%2F%E7%A4%BA%E8%8C%83-demo%2Fdemo%2Fdemo.toml"
    unpacked = workspace / "uploads" / "示范-demo" / "demo"
    for path in DEMO.iterdir():
        assert (unpacked / path.name).read_bytes() == path.read_bytes()
    assert "uploads/示范-demo/demo/demo.toml" in client.get("/").text
    assert client.get(response.headers["location"]).status_code == 200

    again = upload(client, demo_zip(), name="示范 demo.zip", csrf=token(client))  # the same name: a fresh folder
    assert again.headers["location"].startswith("/scenario?path=uploads%2F%E7%A4%BA%E8%8C%83-demo-2%2F")
    assert (unpacked / "demo.toml").read_bytes() == (DEMO / "demo.toml").read_bytes()

    solved = client.post("/solve", data={"csrf": token(client), "path": "uploads/示范-demo/demo/demo.toml"}, follow_redirects=False)
    assert solved.status_code == 303, solved.text
    (run,) = (workspace / "runs").iterdir()
    cli = CliRunner().invoke(main, ["run", str(DEMO / "demo.toml"), "--no-reports", "--out", str(tmp_path / "cli")])
    assert cli.exit_code == 0, cli.output
    columns = ["project_id", "selected", "central", "lottery", "local"]
    pd.testing.assert_frame_equal(pd.read_csv(run / "allocation.csv", encoding="utf-8-sig")[columns],
                                  pd.read_csv(tmp_path / "cli" / "allocation.csv", encoding="utf-8-sig")[columns])


BOMB = zipped({"demo/demo.toml": (DEMO / "demo.toml").read_bytes(), "demo/big.csv": b"0" * (30 * 1024 * 1024)})


@pytest.mark.parametrize(("data", "said"), [
    (zipped({"demo/demo.toml": b"", "../x.csv": b"a"}), "'../x.csv' is not a relative path"),
    (zipped({"demo/demo.toml": b"", "demo/../../x.csv": b"a"}), "'demo/../../x.csv' is not a relative path"),
    (zipped({"/etc/scenario.toml": b""}), "'/etc/scenario.toml' is not a relative path"),
    (zipped({"demo\\demo.toml": b""}), "'demo\\demo.toml' is not a relative path"),
    (zipped({"C:/demo.toml": b""}), "'C:/demo.toml' is not a relative path"),
    (with_link(), "'demo/projects.csv' is a link"),
    (zipped({"demo/demo.toml": b"", "demo/run.py": b"print(1)"}), "'demo/run.py' is not an allowed type"),
    (zipped({"demo/demo.toml": b"", "demo/.hidden.csv": b""}), "'demo/.hidden.csv' is not an allowed type"),
    (zipped({"demo/regions.csv": b"a"}), "holds no scenario file"),
    (BOMB, "'demo/big.csv' expands more than 100 times"),
    (understated(zipped({"demo.toml": b"x = 1\n" * 5000}), "demo.toml", 100), "'demo.toml' cannot be unpacked: Bad CRC-32"),
    (zipped({"demo/demo.toml": b"", "demo/a.csv": b"a", "demo/a.csv/b.csv": b"b"}), "'demo/a.csv' both as a file and as a folder"),
])
def test_an_unsafe_zip_is_refused_and_leaves_nothing(client, workspace, data, said):
    client.cookies.set(LANGUAGE_COOKIE, "en")
    before = everything(workspace)
    response = upload(client, data, csrf=token(client))
    assert response.status_code == 400
    assert message(response).startswith("Upload refused: the zip") and said in message(response)
    assert everything(workspace) == before


@pytest.mark.parametrize("extends", [(DEMO / "demo.toml").as_posix(), "../../demo/demo.toml", "../sibling/x.toml", "/etc/passwd"])
def test_a_scenario_extending_a_file_outside_its_folder_is_refused_at_upload(client, workspace, extends):
    # It was unpacked, listed, opened and solved from the outside file's tables (or showed /etc/passwd's parse error).
    client.cookies.set(LANGUAGE_COOKIE, "en")
    before = everything(workspace)
    response = upload(client, zipped({"s/scenario.toml": f'extends = "{extends}"\n'.encode(), "s/a.csv": b"a\n"}), csrf=token(client))
    assert response.status_code == 400, response.text
    assert "s/scenario.toml: 'extends' names a file outside its folder" in message(response)
    assert everything(workspace) == before


@pytest.mark.parametrize("extends", ["/etc/passwd", "/no/such/file.toml", "../../outside.toml"])
def test_a_workspace_scenario_extending_a_file_outside_is_neither_read_nor_probed(client, workspace, tmp_path, extends):
    # A scenario written into the workspace by other means: opening or solving it reads nothing outside the workspace.
    (tmp_path / "outside.toml").write_text("SECRET LINE\n", encoding="utf-8")
    (workspace / "demo" / "escape.toml").write_text(f'extends = "{extends}"\n', encoding="utf-8")
    client.cookies.set(LANGUAGE_COOKIE, "en")
    page = html.unescape(client.get("/scenario", params={"path": "demo/escape.toml"}).text)
    assert "leaves the scenario's folder" in page
    assert "SECRET" not in page and "syntax" not in page and "does not exist" not in page
    solved = client.post("/solve", data={"csrf": token(client), "path": "demo/escape.toml"}, follow_redirects=False)
    assert not (workspace / "runs").exists() or not any((workspace / "runs").iterdir()), solved.text


def test_many_small_members_that_together_expand_too_much_are_refused(client, workspace):
    # 190 members of 1,000,000 zero bytes each (under the per-member ratio check) unpacked to 190 MB from 200 KB.
    client.cookies.set(LANGUAGE_COOKIE, "en")
    before = everything(workspace)
    members = {"demo/demo.toml": b""} | {f"demo/z{i}.txt": b"0" * 1_000_000 for i in range(20)}
    response = upload(client, zipped(members), csrf=token(client))
    assert response.status_code == 400 and "the zip as a whole expands more than 100 times" in message(response)
    assert everything(workspace) == before


def test_the_refusal_is_in_chinese_by_default(client, workspace):
    response = upload(client, with_link(), csrf=token(client))
    assert response.status_code == 400
    assert message(response) == "上传被拒绝：压缩包中的 demo/projects.csv 是链接或特殊文件"
    assert "uploads" not in everything(workspace)


def test_too_many_members_or_bytes_are_refused(client, workspace, monkeypatch):
    csrf = token(client)
    before = everything(workspace)
    monkeypatch.setattr(uploads, "MEMBERS", 3)
    members = {f"demo/t{i}.csv": b"a,b\n1,2\n" for i in range(4)} | {"demo/demo.toml": b""}
    english = {LANGUAGE_COOKIE: "en"}
    client.cookies.update(english)
    assert "the zip holds 5 members; at most 3" in message(upload(client, zipped(members), csrf=csrf))
    monkeypatch.setattr(uploads, "MEMBERS", 200)
    monkeypatch.setattr(uploads, "UNPACKED", 10_000)
    text = "".join(f"{i},{i * 7919 % 10007}\n" for i in range(2000)).encode()  # > 10,000 bytes, compresses < 100 times
    response = upload(client, zipped({"demo/demo.toml": b"", "demo/t.csv": text}), csrf=csrf)
    assert response.status_code == 400 and f"the zip unpacks to {len(text):,} bytes; at most 10,000" in message(response)
    assert everything(workspace) == before


def test_an_oversized_request_is_refused_before_it_is_read(client, workspace, monkeypatch):
    csrf = token(client)
    before = everything(workspace)
    monkeypatch.setattr(uploads, "LIMIT", 2 * 1024 * 1024)
    data = zipped({"demo/demo.toml": os.urandom(3 * 1024 * 1024)}, compression=zipfile.ZIP_STORED)
    response = upload(client, data, csrf=csrf)  # declared by its Content-Length
    assert response.status_code == 413 and message(response) == "上传被拒绝：上传的文件太大：最多 2 MB"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.zip\"\r\n\r\n"
        for _ in range(3):
            yield b"0" * (1024 * 1024)

    streamed = client.post("/upload/scenario", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"})
    assert streamed.status_code == 413
    assert everything(workspace) == before


@pytest.mark.parametrize(("name", "data", "status", "said"), [
    ("demo.tar", demo_zip(), 415, "wrong type of file: give a .zip file"),
    ("demo.zip", b"PK not really a zip", 415, "this is not a valid .zip file"),
])
def test_a_wrong_type_is_refused(client, workspace, name, data, status, said):
    client.cookies.set(LANGUAGE_COOKIE, "en")
    before = everything(workspace)
    response = upload(client, data, name=name, csrf=token(client))
    assert response.status_code == status and said in message(response)
    assert everything(workspace) == before


@pytest.mark.parametrize("csrf", [None, "forged"])
def test_an_upload_without_the_session_token_is_refused(client, workspace, csrf):
    token(client)  # the session exists: only the token is missing or wrong
    before = everything(workspace)
    response = upload(client, demo_zip(), csrf=csrf)
    assert response.status_code == 403 and message(response) == "上传被拒绝：表单已过期或来源不明，请刷新页面后重试"
    assert everything(workspace) == before


def test_uploads_are_not_written_through_a_link_out_of_the_workspace(client, workspace, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (workspace / "uploads").symlink_to(outside)
    assert upload(client, demo_zip(), csrf=token(client)).status_code == 500
    assert list(outside.iterdir()) == []


# -- a projects workbook ----------------------------------------------------------------------------------------

def workbook(path: Path, name: str = "滨湖社区服务站", kind: str = "社区服务站") -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["A1"] = "江西省社区服务设施申报表（单位：元）"
    sheet.append(["项目名称", "省份", "所在县（市、区）", "项目类型", "总投资", "覆盖户数"])
    sheet.append([name, "江西", "西湖区", kind, "1,234,567", "1,200"])
    sheet.append(["桃花社区服务站", "江西省", "南昌市西湖区", "社区服务站", 1_000_000, 800])
    book.save(path)
    return path


def import_workbook(client: TestClient, path: Path, **fields: str):
    data = {"csrf": token(client), "scenario": "demo/demo.toml", **fields}
    return client.post("/upload/workbook", data=data, files={"file": (path.name, path.read_bytes())})


def test_a_workbook_upload_writes_the_csv_allocate_import_writes(client, workspace, tmp_path):
    path = workbook(tmp_path / "申报表.xlsx")
    response = import_workbook(client, path, name="projects_2025")
    assert response.status_code == 200, response.text
    cli = CliRunner().invoke(main, ["import", str(path), "--out", str(tmp_path / "cli.csv")])
    assert cli.exit_code == 0, cli.output
    written = workspace / "demo" / "projects_2025.csv"
    assert written.read_bytes() == (tmp_path / "cli.csv").read_bytes()
    assert (workspace / "demo" / "projects_2025.import.md").read_text(encoding="utf-8") == (tmp_path / "cli.import.md").read_text(encoding="utf-8")
    assert "# Import report: 申报表.xlsx" in html.unescape(response.text) and "demo/projects_2025.csv" in response.text
    assert not [p for p in workspace.iterdir() if p.name.startswith(".")]  # the workbook's hidden folder is gone

    before = written.read_bytes()
    again = import_workbook(client, path, name="projects_2025.csv")  # never replaces a file, and says so in its own terms
    assert again.status_code == 409 and "demo/projects_2025.csv" in message(again)
    assert "--force" not in message(again) and "--out" not in message(again)
    assert written.read_bytes() == before
    for name in ("../x.csv", "sub/x.csv", ".x.csv", "x.toml"):
        assert import_workbook(client, path, name=name).status_code == 400
    assert import_workbook(client, path, scenario="../demo/demo.toml").status_code == 404
    assert {p.name for p in workspace.iterdir()} == {"demo"}


def test_markup_in_a_workbook_is_shown_as_text_in_the_import_report(client, workspace, tmp_path):
    path = workbook(tmp_path / "apps.xlsx", kind="<script>alert(1)</script>")
    response = import_workbook(client, path, skip_bad="on")
    assert response.status_code == 200
    assert "type &#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39;" in response.text and "<script>alert" not in response.text
    refused = import_workbook(client, workbook(tmp_path / "other.xlsx", kind="<script>x</script>"))  # without skip_bad: nothing written
    assert refused.status_code == 400 and "&lt;script&gt;x&lt;/script&gt;" in refused.text
    assert not (workspace / "demo" / "other.csv").exists()


# -- the English switch -----------------------------------------------------------------------------------------

def visible(html_text: str) -> list[str]:
    """The text of every heading, legend, button and table header of a page."""
    found = re.findall(r"<(h1|h2|h3|legend|button|th)\b[^>]*>(.*?)</\1>", html_text, re.S)
    return [UNITS.sub("", html.unescape(re.sub(r"<[^>]+>", "", text))).strip() for _, text in found]


def title(html_text: str) -> str:
    found = re.search(r"<title>(.*?)</title>", html_text)
    assert found
    return html.unescape(found.group(1))


def parts(html_text: str) -> list[str]:
    """What the form says each field is (after the scenario's own label): 预算, minimum, …"""
    return [html.unescape(text).rsplit(" · ", 1)[1] for text in re.findall(r'<span class="key"[^>]*>(.*?)</span>', html_text, re.S)]


def test_the_english_pages_have_no_chinese_in_their_headings_and_buttons(client, workspace):
    chinese = client.get("/scenario", params={"path": "demo/demo.toml"})
    assert '<html lang="zh-CN">' in chinese.text and ">求解</button>" in chinese.text and "预算" in parts(chinese.text)

    switched = client.get("/language", params={"to": "en", "back": "/scenario?path=demo/demo.toml"}, follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/scenario?path=demo/demo.toml"
    assert "samesite=strict" in switched.headers["set-cookie"].lower()
    client.cookies.set(LANGUAGE_COOKIE, "en")
    first = client.post("/solve", data={"csrf": token(client), "path": "demo/demo.toml"}, follow_redirects=False).headers["location"]
    second = client.post("/solve", data={"csrf": token(client), "path": "demo/demo.toml", "previous": first.split("=", 1)[1],
                                         "f:sources.central.budget": "500", "u:sources.central.budget": "万"})
    assert second.status_code == 200 and 'id="differences"' in second.text and '<html lang="en">' in second.text
    shown = visible(second.text.split("</h1>", 1)[1])  # the h1 is the scenario's own name
    assert "Solve" in shown and "Differences from the previous run" in shown and "Budget (10k yuan)" in shown
    assert [text for text in shown if CJK.search(text)] == []
    assert parts(second.text) and [text for text in parts(second.text) if CJK.search(text)] == []
    assert "Projects funded" in second.text and "Money allocated (10k yuan)" in second.text

    assert title(second.text) == "demo/demo.toml · allocate workbench"
    index = client.get("/")
    assert [text for text in visible(index.text) if CJK.search(text)] == [] and "Upload" in visible(index.text)
    assert title(index.text) == "allocate workbench" and title(chinese.text) == "demo/demo.toml · allocate 工作台"
    assert message(client.get("/scenario", params={"path": "nothing.toml"})) == "No such scenario in the workspace"

    client.cookies.set(LANGUAGE_COOKIE, "zh")
    back = client.get("/scenario", params={"path": "demo/demo.toml"})
    assert ">求解</button>" in back.text and back.text == back.text.replace(">Solve<", "")


@pytest.mark.parametrize("back", ["//evil.example/", "http://evil.example/", "https://evil.example", "/\\evil.example",
                                  "\\\\evil.example", "javascript:alert(1)", "evil.example", "/x\r\nSet-Cookie: a=b", ""])
def test_the_switch_returns_only_to_a_path_on_this_site(client, back):
    response = client.get("/language", params={"to": "en", "back": back}, follow_redirects=False)
    assert response.status_code == 400 and "location" not in response.headers
    assert LANGUAGE_COOKIE not in response.headers.get("set-cookie", "")


def test_the_switch_knows_only_its_two_languages(client):
    response = client.get("/language", params={"to": "fr", "back": "/"}, follow_redirects=False)
    assert response.status_code == 400 and "location" not in response.headers
    assert client.get("/language", params={"to": "zh"}, follow_redirects=False).headers["location"] == "/"

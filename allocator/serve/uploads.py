"""Uploads into the workspace: a scenario folder as a .zip, unpacked into a new folder ``uploads/<name>/``, and an
application workbook (.xlsx) read by ``allocate import``'s reader into a projects CSV beside a scenario.

Every upload is refused whole or written whole. The request is refused past :data:`LIMIT` bytes (its Content-Length,
then its bytes as they arrive) before it is parsed; the CSRF token is checked before anything is written; a zip is
checked member by member before anything is unpacked (relative names only, no links, allowed suffixes, at most
:data:`MEMBERS` members, :data:`UNPACKED` bytes in all and a compression ratio of :data:`RATIO`, for each member
larger than :data:`RATIO_FROM` and for the archive as a whole; a scenario's ``extends`` must stay in its folder), and is unpacked
through :mod:`allocator.outdir` (a hidden folder renamed into place when complete, under a name not yet taken). An
import writes nothing unless every row is read (or the planner asked to skip the bad ones), and never replaces a file."""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import RedirectResponse, Response

from allocator.errors import AllocatorError
from allocator.serve.pages import workbench, page, token_ok
from allocator.serve.workspace import OutsideWorkspace, Workspace

#: The largest upload request, in bytes.
LIMIT = 20 * 1024 * 1024
#: The most members a scenario zip may hold.
MEMBERS = 200
#: The most bytes a zip (a scenario's or a workbook's) may unpack to, all members together.
UNPACKED = 200 * 1024 * 1024
#: The highest compression ratio of one member, or of all members together, larger than :data:`RATIO_FROM` bytes
#: (text tables compress ~10:1).
RATIO = 100
RATIO_FROM = 1024 * 1024
#: The files a scenario folder may hold.
SUFFIXES = (".toml", ".csv", ".xlsx", ".txt", ".md")
#: The folder uploaded scenarios are unpacked into, inside the workspace.
UPLOADS = "uploads"
#: What macOS adds to a zip of a folder (resource forks): left out, not refused.
_MACOS = "__MACOSX"
_CHUNK = 1024 * 1024


@dataclass
class Refused(Exception):
    """An upload refused: the HTTP status and the reason in Chinese and in English."""

    status: int
    chinese: str
    english: str


async def scenario_upload(request: Request) -> Response:
    """POST /upload/scenario: a .zip of a scenario folder, unpacked into a new folder under uploads/."""
    workspace = _workspace(request)
    try:
        form = await _form(request)
        data = _file(form, ".zip")
        folder = await run_in_threadpool(unpack, workspace, data, _file_name(form))
    except Refused as refused:
        return _refusal(request, refused)
    return RedirectResponse(f"/scenario?{urlencode({'path': workspace.name(_scenario_in(folder))})}", status_code=303)


async def workbook_upload(request: Request) -> Response:
    """POST /upload/workbook: an application workbook imported into a new CSV beside a chosen scenario."""
    workspace = _workspace(request)
    try:
        form = await _form(request)
        data = _file(form, ".xlsx")
        scenario = _chosen_scenario(workspace, str(form.get("scenario", "")))
        out = scenario.parent / _csv_name(str(form.get("name", "")) or f"{safe_name(Path(_file_name(form)).stem)}.csv")
        imported = await run_in_threadpool(import_into, workspace, data, _file_name(form), out, skip_bad=form.get("skip_bad") == "on")
    except Refused as refused:
        return _refusal(request, refused)
    return page(request, "uploaded.html", status=200 if imported.written else 400, report=imported.report,
                written=[workspace.name(p) for p in imported.written], scenario=workspace.name(scenario), error=imported.error)


# Reading the request.

def _workspace(request: Request) -> Workspace:
    return workbench(request).workspace


async def _form(request: Request) -> FormData:
    """The request's form, read only when it is at most :data:`LIMIT` bytes, and only with the session's token."""
    body = await _body(request)

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=10)
    except HTTPException as exc:  # not multipart, no boundary, too many parts
        raise Refused(400, "无法读取上传的表单", f"the upload's form cannot be read: {exc.detail}") from None
    if not token_ok(request, form):
        await form.close()
        raise Refused(403, "表单已过期或来源不明，请刷新页面后重试", "missing or wrong CSRF token: reload the page and try again")
    return form


async def _body(request: Request) -> bytes:
    """The request's body, refused as soon as its declared length or the bytes received pass :data:`LIMIT`."""
    declared = request.headers.get("content-length", "")
    if declared and (not declared.isdigit() or int(declared) > LIMIT):
        raise _too_large()
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > LIMIT:
                raise _too_large()
            chunks.append(chunk)
    except ClientDisconnect:
        raise Refused(400, "上传中断", "the upload was interrupted") from None
    return b"".join(chunks)


def _too_large() -> Refused:
    mb = LIMIT // (1024 * 1024)
    return Refused(413, f"上传的文件太大：最多 {mb} MB", f"the upload is too large: at most {mb} MB")


def _file(form: FormData, suffix: str) -> bytes:
    """The bytes of the form's file, which must be named *`suffix` and be a zip (an .xlsx is one)."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise Refused(400, "没有选择文件", "no file was chosen")
    if not upload.filename.lower().endswith(suffix):
        raise Refused(415, f"文件类型不对：应为 {suffix} 文件", f"wrong type of file: give a {suffix} file")
    upload.file.seek(0)
    data = upload.file.read()
    upload.file.close()
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise Refused(415, f"这不是有效的 {suffix} 文件（无法作为 zip 读取）", f"this is not a valid {suffix} file (it is not a zip)")
    return data


def _file_name(form: FormData) -> str:
    upload = form.get("file")
    return PurePosixPath(str(upload.filename).replace("\\", "/")).name if isinstance(upload, UploadFile) else ""


# A scenario folder.

def unpack(workspace: Workspace, data: bytes, file_name: str) -> Path:
    """Unpack the zip `data` into a new folder under uploads/, named after `file_name`; the folder."""
    from allocator.outdir import Target, staged

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = checked_members(archive)
        if not any(PurePosixPath(m.filename).suffix.lower() == ".toml" for m in members):
            raise Refused(400, "压缩包中没有情景文件（*.toml）", "the zip holds no scenario file (*.toml)")
        _check_extends(archive, members)
        target = Target(_uploads(workspace) / safe_name(PurePosixPath(file_name).stem), kind="upload", unique=True, option="upload")
        try:
            with staged(target) as slot:
                _extract(archive, members, slot.staging)
        except AllocatorError as exc:
            raise Refused(500, "无法写入上传的文件夹", f"cannot write the uploaded folder: {exc}") from None
    return slot.path


def checked_members(archive: zipfile.ZipFile, *, suffixes: tuple[str, ...] | None = SUFFIXES) -> list[zipfile.ZipInfo]:
    """The files of `archive` to unpack, once every member is known safe (`suffixes`: the allowed ones, None for any)."""
    infos = [info for info in archive.infolist() if PurePosixPath(info.filename).parts[:1] != (_MACOS,)]
    if len(infos) > MEMBERS:
        raise Refused(400, f"压缩包中的文件太多：{len(infos)} 个，最多 {MEMBERS} 个", f"the zip holds {len(infos)} members; at most {MEMBERS}")
    names: set[str] = set()
    for info in infos:
        _check_member(info, suffixes)
        if info.filename.lower() in names:
            raise Refused(400, f"压缩包中有重名的文件：{info.filename}", f"the zip holds '{info.filename}' twice")
        names.add(info.filename.lower())
    files = {info.filename.lower().rstrip("/") for info in infos if not info.is_dir()}
    for info in infos:
        folder = next((str(parent) for parent in PurePosixPath(info.filename.lower()).parents if str(parent) in files), None)
        if folder is not None:
            raise Refused(400, f"压缩包中的 {folder} 既是文件又是文件夹", f"the zip holds '{folder}' both as a file and as a folder")
    total = sum(info.file_size for info in infos)
    if total > UNPACKED:
        raise Refused(400, f"压缩包解压后太大：{total:,} 字节，最多 {UNPACKED:,}", f"the zip unpacks to {total:,} bytes; at most {UNPACKED:,}")
    packed = sum(info.compress_size for info in infos)
    if total > RATIO_FROM and total > RATIO * max(packed, 1):  # many members each under RATIO_FROM, together a bomb
        raise Refused(400, f"压缩包整体压缩比过高（解压后 {total:,} 字节，超过压缩大小的 {RATIO} 倍），疑为压缩炸弹",
                      f"the zip as a whole expands more than {RATIO} times ({total:,} bytes unpacked; a zip bomb?)")
    return [info for info in infos if not info.is_dir()]


def _check_extends(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> None:
    """Refuse a scenario whose ``extends`` names a file outside its own folder (absolute, or ``..`` past it): the
    workbench reads nothing outside the workspace, and says nothing of what is there. Opening or solving a scenario
    applies the same rule (:func:`allocator.config.load_document`); this says so at once."""
    from allocator.config import MAX_SCENARIO_BYTES, extends_leaves

    for info in members:
        if PurePosixPath(info.filename).suffix.lower() != ".toml" or info.file_size > MAX_SCENARIO_BYTES:
            continue
        try:
            parent = tomllib.loads(archive.read(info).decode("utf-8-sig")).get("extends")
        except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError, ValueError, zipfile.BadZipFile):
            continue  # a broken file is reported, with its line, when it is opened
        folder = Path("/", *PurePosixPath(info.filename).parent.parts)
        if isinstance(parent, str) and extends_leaves(folder, parent):
            raise Refused(400, f"{info.filename} 的 extends 指向它所在文件夹之外：只能扩展同一文件夹（或其子文件夹）中的情景文件",
                          f"{info.filename}: 'extends' names a file outside its folder; a scenario may only extend one "
                          "in its own folder (or below)")


def _check_member(info: zipfile.ZipInfo, suffixes: tuple[str, ...] | None) -> None:
    """Refuse a member whose name leaves its folder, that is a link or a device, encrypted, not an allowed type, or
    that expands more than :data:`RATIO` times."""
    name = info.filename
    path = PurePosixPath(name)
    if "\\" in name or "\x00" in name or path.is_absolute() or re.match(r"[A-Za-z]:", name) or ".." in path.parts or not path.parts:
        raise Refused(400, f"压缩包中的文件名不是相对路径：{name}", f"the zip member '{name}' is not a relative path inside the folder")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode) or (stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))):
        raise Refused(400, f"压缩包中的 {name} 是链接或特殊文件", f"the zip member '{name}' is a link or a special file, not a file")
    if info.flag_bits & 0x1:
        raise Refused(400, f"压缩包中的 {name} 已加密", f"the zip member '{name}' is encrypted")
    if info.is_dir():
        return
    if suffixes is not None and (any(part.startswith(".") for part in path.parts) or path.suffix.lower() not in suffixes):
        allowed = " ".join(suffixes)
        raise Refused(400, f"压缩包中的 {name} 不是允许的文件类型（{allowed}）", f"the zip member '{name}' is not an allowed type ({allowed})")
    if info.file_size > RATIO_FROM and info.file_size > RATIO * max(info.compress_size, 1):
        raise Refused(400, f"压缩包中的 {name} 压缩比过高（超过 {RATIO} 倍），疑为压缩炸弹",
                      f"the zip member '{name}' expands more than {RATIO} times (a zip bomb?)")


def _extract(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], folder: Path) -> None:
    """Write `members` under `folder`. zipfile stops each at its declared size (checked against :data:`UNPACKED`) and
    then checks its CRC, so a member whose header understates its size is refused, never unpacked past it."""
    for info in members:
        destination = folder.joinpath(*PurePosixPath(info.filename).parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            with archive.open(info) as source, open(destination, "xb") as sink:
                shutil.copyfileobj(source, sink, _CHUNK)
        except (zipfile.BadZipFile, EOFError, NotImplementedError) as exc:
            raise Refused(400, f"压缩包中的 {info.filename} 无法解压", f"the zip member '{info.filename}' cannot be unpacked: {exc}") from None


def safe_name(stem: str) -> str:
    """A folder name from an uploaded file's name: letters, digits (Chinese ones too), - and _; "scenario" if none."""
    return re.sub(r"[^\w-]+", "-", stem).strip("-_")[:60] or "scenario"


def _uploads(workspace: Workspace) -> Path:
    """uploads/ in the workspace, refused when it is a link leading out of it."""
    try:
        folder = workspace.inside(workspace.root / UPLOADS)
    except OutsideWorkspace:
        folder = None
    if folder != workspace.root / UPLOADS:
        raise Refused(500, "uploads/ 指向工作区之外", "uploads/ leads outside the workspace")
    return folder


def _scenario_in(folder: Path) -> Path:
    """The scenario of an unpacked folder: its scenario.toml, else its first *.toml."""
    found = sorted(folder.rglob("*.toml"), key=lambda p: (p.name != "scenario.toml", len(p.parts), str(p)))
    return found[0]


# An application workbook.

@dataclass
class Import:
    """What an import did: its report (Markdown), the files written, and why nothing was, if so."""

    report: str
    written: list[Path]
    error: tuple[str, str] | None = None


def import_into(workspace: Workspace, data: bytes, file_name: str, out: Path, *, skip_bad: bool) -> Import:
    """Import the workbook `data` (named `file_name`) into `out` (a new CSV) with its report beside it, as
    ``allocate import WORKBOOK --out OUT [--skip-bad]`` does; the workbook is read from a hidden folder of the workspace."""
    from allocator.importing import check_outputs, import_workbook, write_import
    from allocator.importing.report import report

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        checked_members(archive, suffixes=None)  # an .xlsx is a zip of XML: the same limits against a bomb
    with tempfile.TemporaryDirectory(dir=workspace.root, prefix=".upload-") as temporary:
        workbook = Path(temporary) / f"{safe_name(PurePosixPath(file_name).stem)}.xlsx"
        workbook.write_bytes(data)
        if os.path.lexists(out):  # the workbench never replaces a table: say so in its own terms, not the command line's
            raise Refused(409, f"工作区中已有 {workspace.name(out)}：请换一个名字", f"{workspace.name(out)} already exists in the "
                                                                            "workspace: choose another name")
        try:
            check_outputs(out, force=False, inputs=(workbook,))
            imported = import_workbook(workbook, skip_bad=skip_bad)
        except AllocatorError as exc:
            raise Refused(400, f"无法导入这个工作簿：{_message(exc, workspace, temporary)}", _message(exc, workspace, temporary)) from None
        text = report(imported)
        bad = sorted(imported.rows.bad_rows)
        if bad and not skip_bad:
            return Import(text, [], ("有问题的行（见下方报告）导致没有写入任何文件：请修正，或勾选“跳过有问题的行”",
                                     f"{len(bad)} row(s) have problems, listed below; nothing written: fix them, or tick 'skip rows with problems'"))
        if not imported.written:
            return Import(text, [], ("每一行都有问题（见下方报告），没有写入任何文件", "every project row has a problem (listed below); nothing written"))
        try:
            check_outputs(out, force=False, inputs=(workbook,))  # still free: written meanwhile by someone else?
            return Import(text, write_import(imported, out, text))
        except AllocatorError as exc:
            raise Refused(400, f"无法写入导入的表：{_message(exc, workspace, temporary)}", _message(exc, workspace, temporary)) from None


def _message(exc: AllocatorError, workspace: Workspace, temporary: str) -> str:
    """An import error's one line, its paths relative to the workspace (the workbook's without its hidden folder)."""
    return " ".join(str(exc).replace(f"{temporary}/", "").replace(f"{workspace.root}/", "").split())


def _chosen_scenario(workspace: Workspace, relative: str) -> Path:
    """The scenario file the table goes beside: one the index lists."""
    if relative not in workspace.scenarios():
        raise Refused(404, "工作区中没有这个情景文件", "no such scenario in the workspace")
    return workspace.path(relative)


def _csv_name(name: str) -> str:
    """The table's file name as given: a plain name ending in .csv (.csv is added when it has no suffix)."""
    name = name.strip()
    if name and not PurePosixPath(name).suffix:
        name += ".csv"
    if not re.fullmatch(r"[\w][\w\-. ]*\.csv", name) or ".." in name:
        raise Refused(400, "表名应为不含路径的 .csv 文件名，如 projects_2025.csv",
                      "the table's name is a plain file name ending in .csv, e.g. projects_2025.csv")
    return name


def _refusal(request: Request, refused: Refused) -> Response:
    return page(request, "uploaded.html", status=refused.status, refused=refused)


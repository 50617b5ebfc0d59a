"""What the workbench's browser tests share: Debian's Chromium (driven by Playwright, never downloaded), the workbench of
a copy of scenarios/ served on a free loopback port in a thread, and screenshots for the docs (WORKBENCH_SCREENSHOTS=1)."""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser import CHROMIUM, needs_chromium  # noqa: F401  (re-exported: the workbench's browser tests import it from here)

ROOT = Path(__file__).resolve().parents[1]

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")
uvicorn = pytest.importorskip("uvicorn", reason="uvicorn is not installed (pip install -e .)")


def launch(driver: object) -> object:
    """Chromium (the one the report tests render with: Debian's, never downloaded), headless, under a Playwright driver."""
    return driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)  # type: ignore[attr-defined]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(name="server")
def workbench_server(tmp_path: Path) -> Iterator[str]:
    """The workbench of a copy of scenarios/, on a free loopback port, in a thread."""
    from allocator.serve.app import create_app

    workspace = tmp_path / "scenarios"
    shutil.copytree(ROOT / "scenarios", workspace)
    port = free_port()
    running = uvicorn.Server(uvicorn.Config(create_app(workspace), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running.started, "the server did not start"
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=30)


def shot_folders(tmp_path: Path) -> list[Path]:
    """Where screenshots go: the test's own folder, and docs/img with WORKBENCH_SCREENSHOTS=1."""
    return [tmp_path / "shots", *([ROOT / "docs" / "img"] if os.environ.get("WORKBENCH_SCREENSHOTS") else [])]


def save(target: object, folders: list[Path], name: str) -> None:
    """A screenshot of `target` (a page or an element) in each folder, reduced to 64 colours (a small PNG for the docs)."""
    from PIL import Image

    shot = Image.open(io.BytesIO(target.screenshot())).convert("RGB").quantize(colors=64)  # type: ignore[attr-defined]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        shot.save(folder / name, optimize=True)

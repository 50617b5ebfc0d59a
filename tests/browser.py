"""Render a page in Debian's headless Chromium (no browser download, no network) and measure it.

:func:`measure` loads a copy of the page with a probe script that, once the page and its images have
loaded, records the document's scroll width, the viewport width and the visible text; Chromium's
``--dump-dom`` hands them back. Tests skip when Chromium is not installed (`.ci/run` installs it)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it: apt-get install chromium)")

_PROBE = """<script>window.addEventListener('load', function () {
  var root = document.documentElement;
  root.setAttribute('data-probe', JSON.stringify({scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
                                                 text: document.body.innerText}));
});</script>"""


@dataclass(frozen=True)
class Rendered:
    """What a page measured in the browser: its scroll width, the viewport's width and its visible text."""

    scroll_width: int
    client_width: int
    text: str
    dom: str

    @property
    def overflows(self) -> bool:
        return self.scroll_width > self.client_width


def flags(profile: Path) -> list[str]:
    """Chromium headless with networking off: every host resolves to nothing."""
    assert CHROMIUM is not None
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync", f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",
            "--hide-scrollbars"]


def measure(page: Path, work: Path, width: int = 1280, height: int = 900) -> Rendered:
    """Load `page` (a copy beside it, with the probe) at `width` px and read back what the probe recorded."""
    source = page.read_text(encoding="utf-8")
    probed = page.with_name(f".probe-{page.name}")
    # The page's own Content-Security-Policy forbids scripts; only this private copy lets the probe run.
    source = source.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';")
    probed.write_text(source.replace("</body>", _PROBE + "</body>") if "</body>" in source else source + _PROBE, encoding="utf-8")
    try:
        run = subprocess.run([*flags(work / "profile"), f"--window-size={width},{height}", "--virtual-time-budget=5000", "--dump-dom",
                              probed.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    finally:
        probed.unlink()
    dom = run.stdout.decode("utf-8")
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, f"the probe did not run in {page}"
    data = json.loads(html.unescape(found.group(1)))
    return Rendered(int(data["scrollWidth"]), int(data["clientWidth"]), str(data["text"]), dom)


def screenshot(page: Path, shot: Path, work: Path, width: int = 1280, height: int = 900) -> Path:
    """A PNG of `page` at `width` × `height` px (for the docs)."""
    subprocess.run([*flags(work / "profile"), f"--window-size={width},{height}", "--virtual-time-budget=5000", f"--screenshot={shot}",
                    page.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    return shot

"""The workbench's re-solve latency: from pressing 求解 to the updated page, on the national scenario.

    python benchmarks/serve_latency.py [--runs 10] [--scenario eleventh_plan_national.toml] [--warm-up 4]

It copies scenarios/ to a private temporary workspace, starts ``allocate serve`` there (the real server: uvicorn on a
free loopback port, in a child process, with its pool of warm worker processes), opens the scenario's page and then,
`--runs` times, submits the page's own form as a browser would (every field it shows, with the central budget
alternating 8亿 / 7.9亿 so that each solve is a real one, and the run shown as the previous one) and follows the
redirect to the run page: click -> page received is the time of the POST plus the GET. The first `--warm-up` solves are
not counted (4 by default, so that each of the two warm workers has read the tables once). ``cpu``: the processor
seconds the server and its workers used for a solve. The per-stage split: the POST (the solve in the worker, returned
as a redirect), the GET (the run page: reading the runs, comparing them, rendering), and the worker's own phases from
the run's manifest.json (``seconds``: reading, building, solving, splitting, writing). The 1-minute load average is recorded before and after, because the
machine's other work distorts the timings. Results: benchmarks/results/serve_latency_<timestamp>.json, and a summary
on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE.parent / "scenarios"
RESULTS = HERE / "results"
BUDGET = "f:sources.central.budget"
#: The central budgets the runs alternate between, in 亿: each solve differs from the one before.
BUDGETS = ("8", "7.9")


class FormFields(HTMLParser):
    """The fields the scenario form submits, as a browser would: inputs with their values, ticked boxes, selected options."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == "scenario-form":
            self._inside = True
        if not self._inside or "name" not in a:
            if tag == "option" and self._select and "selected" in a:
                self.fields.append((self._select, a.get("value", "")))
            return
        if tag == "input" and (a.get("type") != "checkbox" or "checked" in a):
            self.fields.append((a["name"], a.get("value", "on" if a.get("type") == "checkbox" else "")))
        elif tag == "select":
            self._select = a["name"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "form":
            self._inside = False


def form_of(page: str, budget: str) -> list[tuple[str, str]]:
    """The form of `page` with the central budget set to `budget` 亿."""
    parser = FormFields()
    parser.feed(page)
    fields = [(k, budget if k == BUDGET else ("亿" if k == f"u:{BUDGET[2:]}" else v)) for k, v in parser.fields]
    if not any(k == BUDGET for k, _ in fields):
        raise SystemExit(f"the page has no field {BUDGET}")
    return fields


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(workspace: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``allocate serve`` on 127.0.0.1:`port`, answering once it is up (and its first worker started)."""
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "allocator", "serve", "--workspace", str(workspace), "--port", str(port)],
                                  stdout=out, stderr=subprocess.STDOUT, cwd=workspace)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped: {log.read_text(errors='replace')}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not answer within 60 s")


def cpu_seconds(server: int) -> float:
    """The processor seconds (user + system) the server process and its live children (the workers) have used so far."""
    def used(pid: str) -> tuple[int, float]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # ppid; utime + stime

    total = 0.0
    for entry in Path("/proc").iterdir():
        try:
            parent, seconds = used(entry.name) if entry.name.isdigit() else (-1, 0.0)
        except OSError:
            continue  # gone since the listing
        if entry.name == str(server) or parent == server:
            total += seconds
    return total


def one_solve(client: httpx.Client, page: str, budget: str, server: int) -> tuple[dict[str, float], str]:
    """Press 求解 on `page` with the central budget at `budget` 亿: the seconds of each step (and the processor seconds
    the server and its workers used, which other work on the machine distorts less), and the page received."""
    cpu = cpu_seconds(server)
    started = time.perf_counter()
    fields: dict[str, list[str]] = {}
    for key, value in form_of(page, budget):  # a key may repeat (set=…), as a form sends it
        fields.setdefault(key, []).append(value)
    posted = client.post("/solve", data=fields)
    if posted.status_code != 303:
        raise SystemExit(f"the solve was not redirected to its run ({posted.status_code}): {posted.text[:500]}")
    redirected = time.perf_counter()
    shown = client.get(posted.headers["location"])
    done = time.perf_counter()
    if shown.status_code != 200 or 'id="run-name"' not in shown.text:
        raise SystemExit(f"the run page did not come back ({shown.status_code})")
    return {"total": done - started, "post_solve": redirected - started, "get_run_page": done - redirected,
            "cpu": cpu_seconds(server) - cpu}, shown.text


def run_name(page: str) -> str:
    return page.split('id="run-name">', 1)[1].split("<", 1)[0]


def measure(workspace: Path, port: int, server: int, scenario: str, runs: int, warm_up: int) -> list[dict[str, object]]:
    """`warm_up` + `runs` solves in one browser session; the measured ones, each with its worker's phases."""
    measured = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
        page = client.get("/scenario", params={"path": scenario}).text
        for i in range(warm_up + runs):
            budget = BUDGETS[i % len(BUDGETS)]
            seconds, page = one_solve(client, page, budget, server)
            if i < warm_up:
                continue
            manifest = json.loads((workspace / "runs" / run_name(page) / "manifest.json").read_text(encoding="utf-8"))
            measured.append({"budget_yi": float(budget), **{k: round(v, 4) for k, v in seconds.items()},
                             "worker": manifest.get("seconds", {}), "load_1min": os.getloadavg()[0]})
    return measured


def summary(measured: list[dict[str, object]]) -> dict[str, dict[str, float]]:
    """Median, p90 and max of each step (and of each worker phase)."""
    steps: dict[str, list[float]] = {}
    for record in measured:
        for key in ("total", "post_solve", "get_run_page", "cpu"):
            steps.setdefault(key, []).append(float(record[key]))  # type: ignore[arg-type]
        for phase, value in dict(record["worker"]).items():  # type: ignore[call-overload]
            steps.setdefault(f"worker:{phase}", []).append(float(value))
    return {key: {"median": round(statistics.median(v), 4), "p90": round(_p90(v), 4), "max": round(max(v), 4)} for key, v in steps.items()}


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="measured solves (default 10)")
    parser.add_argument("--warm-up", type=int, default=4, help="solves before measuring (default 4: each warm worker has read the tables)")
    parser.add_argument("--scenario", default="eleventh_plan_national.toml", help="scenario file, relative to scenarios/")
    parser.add_argument("--label", default="", help="a note stored with the results (e.g. before / after)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="serve-latency-") as scratch:
        workspace = Path(scratch) / "scenarios"
        shutil.copytree(SCENARIOS, workspace, ignore=shutil.ignore_patterns("runs"))
        port = free_port()
        server = start_server(workspace, port, Path(scratch) / "server.log")
        try:
            measured = measure(workspace, port, server.pid, args.scenario, args.runs, args.warm_up)
        finally:
            server.terminate()
            server.wait(timeout=60)
    load_after = os.getloadavg()
    stats = summary(measured)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    record = {"benchmark": "serve_latency", "server": "allocate serve (uvicorn, real worker pool, loopback)", "label": args.label,
              "scenario": args.scenario, "created": stamp, "cpus": os.cpu_count(), "load_before": load_before, "load_after": load_after,
              "summary": stats, "runs": measured}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"serve_latency_{stamp}.json"
    out.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{args.scenario}: {args.runs} re-solves, click -> page received (s); load average {load_before[0]:.2f} -> {load_after[0]:.2f}")
    print(f"{'step':34s} {'median':>7s} {'p90':>7s} {'max':>7s}")
    for key, row in stats.items():
        print(f"{key:34s} {row['median']:7.3f} {row['p90']:7.3f} {row['max']:7.3f}")
    print(f"written {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()

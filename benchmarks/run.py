"""National-scale benchmark: `allocate run` end to end per size, and the per-project reference at 20,000.

    python benchmarks/run.py --sizes 20000 200000 600000 [--reference 20000] [--timeout 600] [--seed 0]

For each size it generates the scenario (benchmarks/generate.py, cached under benchmarks/generated/),
runs ``allocate run`` in a child process under ``/usr/bin/time -v`` (peak resident memory) with a
hard wall-clock timeout, and reads the phase seconds, objective and proven gap from the run's
manifest.json. The reference formulation (benchmarks/reference_model.py) is solved at the
``--reference`` sizes the same way. The 1-minute load average is recorded before and after every
measurement, because other work on the machine distorts the timings. Results: one JSON file per
invocation in benchmarks/results/ and a Markdown table on stdout (paste it into docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from benchmarks.generate import DEFAULT_OUT, generate  # noqa: E402

BIN = Path(sys.executable).parent
RUNS = Path("/tmp/allocator-bench-runs")


def machine() -> dict[str, object]:
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for package in ("highspy", "numpy", "pandas", "scipy", "allocator"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    memory = None
    try:
        memory = round(int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal"))) / 2**20, 1)
    except (OSError, StopIteration):
        pass
    try:
        commit = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(HERE.parent), "status", "--porcelain", "allocator"],
                                    capture_output=True, text=True).stdout.strip())
    except OSError:
        commit, dirty = None, None
    return {"git_commit": commit, "engine_uncommitted_changes": dirty, "cpu": cpu, "cores": os.cpu_count(), "memory_gib": memory, "python": sys.version.split()[0],
            "platform": platform.platform(), **versions}


def timed_child(command: list[str], timeout: float) -> dict[str, object]:
    """Run `command` under /usr/bin/time -v; wall seconds, peak RSS (MiB), exit code, stdout, load before/after."""
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    child = subprocess.Popen(["/usr/bin/time", "-v", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        out, err = child.communicate(timeout=timeout)
        code = child.returncode
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # the whole group: /usr/bin/time and the run under it
        out, err = child.communicate()
        code = "timeout"
    wall = time.perf_counter() - started
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    return {"exit": code, "wall_s": round(wall, 3), "peak_rss_mib": round(int(peak.group(1)) / 1024, 1) if peak else None,
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
            "stdout_tail": out[-2000:], "stderr_tail": err[-3000:] if code != 0 else ""}


def run_engine(scenario: Path, n: int, timeout: float) -> dict[str, object]:
    out = RUNS / f"n{n}"
    record = timed_child([str(BIN / "allocate"), "run", str(scenario), "--out", str(out), "--force"], timeout)
    manifest = out / "manifest.json"
    if record["exit"] == 0 and manifest.exists():
        data = json.loads(manifest.read_text(encoding="utf-8"))
        record.update(seconds=data["seconds"], objective=data["objective"]["value"], mip_gap=data["objective"]["mip_gap"],
                      dual_bound=data["objective"]["dual_bound"], status=data["status"], model_size=data["model_size"],
                      solver=data["solver"])
    return record


def run_reference(scenario: Path, timeout: float) -> dict[str, object]:
    record = timed_child([str(BIN / "python"), str(HERE / "reference_model.py"), str(scenario)], timeout)
    if record["exit"] == 0:
        record.update(json.loads(record["stdout_tail"].strip().splitlines()[-1]))
    return record


def table(rows: list[dict[str, object]]) -> str:
    head = ("| formulation | candidates | read+validate s | build s | solve s | recover+verify s | other s | write s | "
            "end to end s | peak RSS MiB | objective | proven gap | load 1-min |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        s = r.get("seconds") or {}
        known = ("read_and_validate", "build", "solve", "recover_and_verify", "write")
        other = sum(v for k, v in s.items() if k not in known)
        fmt = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
        gap = r.get("mip_gap")
        lines.append(
            f"| {r['formulation']} | {r['candidates']:,} | {fmt(s.get('read_and_validate'))} | {fmt(s.get('build'))} | "
            f"{fmt(s.get('solve'))} | {fmt(s.get('recover_and_verify'))} | {fmt(other) if s else '–'} | {fmt(s.get('write'))} | "
            f"{r['wall_s']:.1f}{'' if r['exit'] == 0 else ' (' + str(r['exit']) + ')'} | {r['peak_rss_mib'] or '–'} | "
            f"{'–' if r.get('objective') is None else format(r['objective'], ',.0f')} | {'–' if gap is None else format(gap, '.1e')} | "
            f"{r['load_before']:.2f}→{r['load_after']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 200000, 600000])
    parser.add_argument("--reference", type=int, nargs="*", default=[20000], help="sizes to also solve per project")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=600.0, help="hard wall-clock limit per run, seconds")
    parser.add_argument("--time-limit", type=float, default=300.0, help="solver.time_limit written into the scenarios")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    rows = []
    for n in args.sizes:
        scenario = generate(n, args.seed, DEFAULT_OUT, time_limit=args.time_limit)
        print(f"[{datetime.now():%H:%M:%S}] engine, {n:,} candidates, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
        rows.append({"formulation": "classes (engine)", "candidates": n, **run_engine(scenario, n, args.timeout)})
        if n in args.reference:
            print(f"[{datetime.now():%H:%M:%S}] reference, {n:,} candidates, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
            rows.append({"formulation": "per project (reference)", "candidates": n, **run_reference(scenario, args.timeout)})

    speedups = {}
    for n in args.reference:
        engine = next((r for r in rows if r["candidates"] == n and r["formulation"].startswith("classes")), None)
        reference = next((r for r in rows if r["candidates"] == n and r["formulation"].startswith("per project")), None)
        if engine and reference and engine.get("seconds") and reference.get("seconds"):
            speedups[str(n)] = {
                "solve": round(reference["seconds"]["solve"] / engine["seconds"]["solve"], 1),
                "build_plus_solve": round((reference["seconds"]["build"] + reference["seconds"]["solve"])
                                          / (engine["seconds"]["build"] + engine["seconds"]["solve"]), 1),
                "objective_relative_difference": abs(reference["objective"] - engine["objective"]) / max(1.0, abs(engine["objective"])),
            }
    report = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
              "machine": machine(), "seed": args.seed, "runs": rows, "speedup_vs_reference": speedups}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"national_{datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(table(rows))
    print(json.dumps(speedups))
    print(f"written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()

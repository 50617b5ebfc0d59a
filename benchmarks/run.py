"""National-scale benchmark: `allocate run` end to end per size, and the per-project reference at 20,000.

    python benchmarks/run.py --sizes 20000 200000 600000 [--reference 20000] [--timeout 600] [--seed 0]
    python benchmarks/run.py --sizes 20000 --reference --variants all --csv-only --time-limit 120 --timeout 300

For each size it generates the scenario (benchmarks/generate.py, cached under benchmarks/generated/),
runs ``allocate run`` in a child process under ``/usr/bin/time -v`` (peak resident memory of its largest process;
the sum over all its processes is sampled from /proc) with a
hard wall-clock timeout, and reads the phase seconds, objective and proven gap from the run's
manifest.json. The reference formulation (benchmarks/reference_model.py) is solved at the
``--reference`` sizes the same way. The 1-minute load average is recorded before and after every
measurement, because other work on the machine distorts the timings. ``--variants`` also runs the
rule variants of benchmarks/generate.py (county pooling, phasing, hard targets, per-project caps) at
``--variant-size`` candidates, each reported as a ratio to the base solve of that size. Runs are
written under a private temporary folder (removed at the end unless ``--keep-runs``). Results: one
JSON file per invocation in benchmarks/results/ and a Markdown table on stdout (paste it into
docs/performance.md). A run that finds no solution, or is killed at the timeout, is a row like any
other, with "–" where it has no number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from benchmarks.generate import DEFAULT_OUT, VARIANTS, generate  # noqa: E402

BIN = Path(sys.executable).parent
Record = dict[str, object]
ENGINE = "classes (engine)"
REFERENCE = "per project (reference)"


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
    """Run `command` under /usr/bin/time -v; wall seconds, peak RSS (MiB) of its largest process, peak RSS of all its
    processes together (a large HiGHS run has a process of its own), exit code, stdout, load before/after."""
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    child = subprocess.Popen(["/usr/bin/time", "-v", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    sampler = SessionMemory(child.pid)
    sampler.start()
    try:
        out, err = child.communicate(timeout=timeout)
        code = child.returncode
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # the whole group: /usr/bin/time and the run under it
        out, err = child.communicate()
        code = "timeout"
    finally:
        sampler.stop()
    wall = time.perf_counter() - started
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    return {"exit": code, "wall_s": round(wall, 3), "peak_rss_mib": round(int(peak.group(1)) / 1024, 1) if peak else None,
            "peak_rss_all_mib": sampler.peak_mib, "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
            "stdout_tail": out[-2000:], "stderr_tail": err[-3000:] if code != 0 else ""}


class SessionMemory(threading.Thread):
    """The largest sum of resident memory over the processes of one session (a run and every process it starts),
    sampled every SAMPLE_SECONDS from /proc (a peak shorter than that can be missed); None where /proc is missing."""

    SAMPLE_SECONDS = 0.2

    def __init__(self, session: int) -> None:
        super().__init__(daemon=True)
        self.session, self.peak_bytes, self.done = session, 0, threading.Event()

    def run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self.done.wait(self.SAMPLE_SECONDS):
            total = 0
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    fields = stat.read_text().rsplit(")", 1)[1].split()  # after the command, which may hold spaces
                except (OSError, IndexError):
                    continue  # ended meanwhile
                if int(fields[3]) == self.session:  # field 6 of stat: the session id
                    total += int(fields[21]) * page  # field 24: resident pages
            self.peak_bytes = max(self.peak_bytes, total)

    def stop(self) -> None:
        self.done.set()
        self.join()

    @property
    def peak_mib(self) -> float | None:
        return round(self.peak_bytes / 2**20, 1) if self.peak_bytes else None


def run_engine(scenario: Path, out: Path, timeout: float, options: list[str]) -> Record:
    """`allocate run` on `scenario` (with the command-line `options`) into the fresh folder `out`; the manifest's
    phases, objective and gap when it wrote one (also for a run that found no solution)."""
    record = timed_child([str(BIN / "allocate"), "run", str(scenario), "--out", str(out), "--force", *options], timeout)
    manifest = out / "manifest.json"
    if manifest.exists():
        data = json.loads(manifest.read_text(encoding="utf-8"))
        objective = data.get("objective") or {}
        record.update(seconds=data.get("seconds"), objective=objective.get("value"), mip_gap=objective.get("mip_gap"),
                      dual_bound=objective.get("dual_bound"), status=data.get("status"), model_size=data.get("model_size"),
                      solver=data.get("solver"))
    return record


def run_reference(scenario: Path, timeout: float) -> Record:
    record = timed_child([str(BIN / "python"), str(HERE / "reference_model.py"), str(scenario)], timeout)
    if record["exit"] == 0:
        record.update(json.loads(str(record["stdout_tail"]).strip().splitlines()[-1]))
    return record


def _number(record: Record, key: str) -> float | None:
    """`record[key]` when it is a number (a failed run has None or nothing there)."""
    value = record.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _phase(record: Record, phase: str) -> float | None:
    """The seconds of one phase of a run, None when the run did not report it."""
    seconds = record.get("seconds")
    return _number(seconds, phase) if isinstance(seconds, dict) else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return None if numerator is None or not denominator else numerator / denominator


def speedup(engine: Record, reference: Record) -> dict[str, float] | None:
    """How much faster the engine solved than the reference, and how far apart their objectives are; None unless
    both runs solved (a reference that found no solution has no objective to compare)."""
    solve = _ratio(_phase(reference, "solve"), _phase(engine, "solve"))
    build_solve = [_phase(r, "build") for r in (engine, reference)] + [_phase(r, "solve") for r in (engine, reference)]
    ours, theirs = _number(engine, "objective"), _number(reference, "objective")
    if solve is None or None in build_solve or ours is None or theirs is None:
        return None
    e_build, r_build, e_solve, r_solve = (float(v) for v in build_solve if v is not None)
    return {"solve": round(solve, 1), "build_plus_solve": round((r_build + r_solve) / (e_build + e_solve), 1),
            "objective_relative_difference": abs(theirs - ours) / max(1.0, abs(ours))}


def base_of(rows: list[Record], record: Record) -> Record | None:
    """The engine's run of the base scenario with as many candidates as `record`."""
    return next((r for r in rows if r["formulation"] == ENGINE and r.get("variant", "base") == "base"
                 and r["candidates"] == record["candidates"]), None)


def table(rows: list[Record]) -> str:
    """The Markdown table of `rows`; "×base" columns divide a run's solve and end-to-end seconds by those of the
    base scenario's engine run of the same size. A run without a solution shows its status and "–"."""
    head = ("| formulation | variant | candidates | status | read+validate s | build s | solve s | recover+verify s | other s | "
            "write s | end to end s | solve ×base | end to end ×base | peak RSS MiB | all processes MiB | rows × cols | objective | proven gap | load 1-min |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    fmt = lambda v, spec=".2f": "–" if v is None else format(v, spec)  # noqa: E731
    known = ("read_and_validate", "build", "solve", "recover_and_verify", "write")
    for r in rows:
        seconds = r.get("seconds")
        other = sum(float(v) for k, v in seconds.items() if k not in known and isinstance(v, int | float)) if isinstance(seconds, dict) else None
        base = base_of(rows, r)
        wall = _number(r, "wall_s")
        size = r.get("model_size")
        shape = f"{size['rows']:,} × {size['columns']:,}" if isinstance(size, dict) and "rows" in size else "–"
        status = str(r.get("status") or ("ok" if r["exit"] == 0 else "no manifest"))
        lines.append(
            f"| {r['formulation']} | {r.get('variant', 'base')} | {r['candidates']:,} | {status} | {fmt(_phase(r, 'read_and_validate'))} | "
            f"{fmt(_phase(r, 'build'))} | {fmt(_phase(r, 'solve'))} | {fmt(_phase(r, 'recover_and_verify'))} | {fmt(other)} | "
            f"{fmt(_phase(r, 'write'))} | {fmt(wall, '.1f')}{'' if r['exit'] == 0 else ' (exit ' + str(r['exit']) + ')'} | "
            f"{fmt(_ratio(_phase(r, 'solve'), _phase(base, 'solve')) if base else None, '.1f')} | "
            f"{fmt(_ratio(wall, _number(base, 'wall_s')) if base else None, '.1f')} | {fmt(_number(r, 'peak_rss_mib'), '.0f')} | "
            f"{fmt(_number(r, 'peak_rss_all_mib'), '.0f')} | {shape} | "
            f"{fmt(_number(r, 'objective'), ',.0f')} | {fmt(_number(r, 'mip_gap'), '.1e')} | "
            f"{fmt(_number(r, 'load_before'))}→{fmt(_number(r, 'load_after'))} |")
    return "\n".join(lines)


def speedups(rows: list[Record], sizes: list[int]) -> dict[str, dict[str, float]]:
    """The engine's speed-up over the reference at each of `sizes` where both solved."""
    found = {}
    for n in sizes:
        engine = next((r for r in rows if r["candidates"] == n and r["formulation"] == ENGINE and r.get("variant") == "base"), None)
        reference = next((r for r in rows if r["candidates"] == n and r["formulation"] == REFERENCE), None)
        result = speedup(engine, reference) if engine and reference else None
        if result is not None:
            found[str(n)] = result
    return found


def log(what: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {what}, load {os.getloadavg()[0]:.2f}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 200000, 600000])
    parser.add_argument("--reference", type=int, nargs="*", default=[20000], help="sizes to also solve per project")
    parser.add_argument("--variants", nargs="*", default=[], choices=[*VARIANTS, "all"],
                        help="rule variants of the base scenario to run too (benchmarks/generate.py)")
    parser.add_argument("--variant-size", type=int, default=20000, help="candidates of the variants")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=600.0, help="hard wall-clock limit per run, seconds")
    parser.add_argument("--time-limit", type=float, default=300.0, help="solver.time_limit written into the scenarios")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--keep-runs", action="store_true", help="keep the run folders (their path is printed)")
    parser.add_argument("--csv-only", action="store_true", help="engine runs without reports and marginal values "
                        "(--no-reports --marginal none): the time is reading, building, solving and the CSV outputs")
    args = parser.parse_args()
    variants = list(VARIANTS) if "all" in args.variants else args.variants
    sizes = list(dict.fromkeys([*args.sizes, *([args.variant_size] if variants else [])]))

    options = ["--no-reports", "--marginal", "none"] if args.csv_only else []
    runs = Path(tempfile.mkdtemp(prefix="allocator-bench-"))
    rows: list[Record] = []
    try:
        for n in sizes:
            for variant in ["base", *(variants if n == args.variant_size else [])]:
                scenario = generate(n, args.seed, DEFAULT_OUT, time_limit=args.time_limit, variant=variant)
                log(f"engine, {variant}, {n:,} candidates")
                rows.append({"formulation": ENGINE, "variant": variant, "candidates": n,
                             **run_engine(scenario, runs / f"{variant}_{n}", args.timeout, options)})
            if n in args.reference:
                log(f"reference, {n:,} candidates")
                scenario = generate(n, args.seed, DEFAULT_OUT, time_limit=args.time_limit)
                rows.append({"formulation": REFERENCE, "variant": "base", "candidates": n, **run_reference(scenario, args.timeout)})
    finally:
        if args.keep_runs:
            print(f"runs kept in {runs}", file=sys.stderr)
        else:
            shutil.rmtree(runs, ignore_errors=True)

    found = speedups(rows, args.reference)
    report = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
              "machine": machine(), "seed": args.seed, "runs": rows, "speedup_vs_reference": found}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"national_{datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(table(rows))
    print(json.dumps(found))
    print(f"written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()

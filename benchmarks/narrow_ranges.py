"""LP-first's repair at scale: provinces whose money must lie in a narrow range, so that no rounding of the LP
relaxation keeps every range and both restricted MIPs are infeasible (allocator/backends/repair.py).

    python benchmarks/narrow_ranges.py --provinces 31 --per-province 650 6500 [--time-limit 120]

Each size is solved LP-first twice in this process, with the repair and without it (the full MIP then runs from
nothing), and the seconds, gap and stages are written to benchmarks/results/narrow_ranges_<time>.json and printed as
a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from allocator.backends import Deadline
from allocator.backends import repair as repair_module
from allocator.backends.highs import solve_lp_first
from allocator.backends.options import SolverOptions
from allocator.model.arrays import Block, LinearModel, RowKind

RESULTS = Path(__file__).resolve().parent / "results"


def provinces_in_narrow_ranges(provinces: int, per_province: int, seed: int) -> LinearModel:
    """Projects of whole costs (20-59) in `provinces`; each province's money within [T, T + 3] (T: 40% of its
    candidates' cost) and a national budget: the LP fills each range with a fraction of a project, which no rounding
    of it can mend."""
    rng = np.random.default_rng(seed)
    n = provinces * per_province
    cost = rng.integers(20, 60, n).astype(float)
    benefit = cost * rng.uniform(0.8, 1.2, n)
    province = np.repeat(np.arange(provinces), per_province)
    target = np.bincount(province, weights=cost) * 0.4
    rows = np.concatenate([province, np.full(n, provinces)])
    A = sp.csr_matrix((np.concatenate([cost, cost]), (rows, np.tile(np.arange(n), 2))), shape=(provinces + 1, n))
    names = np.array([f"省{p}" for p in range(provinces)], dtype=object)
    return LinearModel(c=-benefit, A=A, row_lower=np.append(target, -np.inf),
                       row_upper=np.append(target + 3, target.sum() + 1.5 * provinces), col_lower=np.zeros(n),
                       col_upper=np.ones(n), integer=np.ones(n, dtype=bool), col_blocks=[],
                       row_blocks=[Block(RowKind.CAPACITY, "local", 0, provinces, names),
                                   Block(RowKind.BUDGET, "central", provinces, provinces + 1)])


def measure(model: LinearModel, *, with_repair: bool, time_limit: float, gap: float) -> dict[str, object]:
    saved = repair_module.FREED_PER_MISSED_ROW
    repair_module.FREED_PER_MISSED_ROW = saved if with_repair else ()
    try:
        started = time.perf_counter()
        solution = solve_lp_first(model, SolverOptions(strategy="lp_first", mip_rel_gap=gap, time_limit=time_limit), Deadline(time_limit))
        seconds = time.perf_counter() - started
    finally:
        repair_module.FREED_PER_MISSED_ROW = saved
    details = solution.details
    return {"repair": with_repair, "status": solution.status.value, "seconds": round(seconds, 2), "gap": solution.mip_gap,
            "objective": solution.objective, "stage1": details.get("stage1", {}).get("status"),
            "stage2": details.get("stage2", {}).get("status"), "repair_rounds": details.get("repair", {}).get("rounds", []),
            "full_mip": details.get("full_mip")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provinces", type=int, default=31)
    parser.add_argument("--per-province", type=int, nargs="+", default=[650])
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--gap", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    records = []
    for per in args.per_province:
        model = provinces_in_narrow_ranges(args.provinces, per, args.seed)
        for with_repair in (True, False):
            record = {"candidates": model.num_cols, **measure(model, with_repair=with_repair, time_limit=args.time_limit, gap=args.gap)}
            records.append(record)
            print(json.dumps(record, ensure_ascii=False, default=str), flush=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"narrow_ranges_{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps({"arguments": vars(args), "runs": records}, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    print("| candidates | repair | status | seconds | gap | stages 1, 2 | repair rounds (rows missed, selections free, s) | full MIP s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in records:
        rounds = "; ".join(f"{s.get('missed_rows')}, {s.get('free_selections')}, {s.get('seconds')}" for s in r["repair_rounds"]) or "–"
        full = r["full_mip"]["seconds"] if r["full_mip"] else "–"
        gap = "–" if r["gap"] is None else f"{r['gap']:.1e}"
        print(f"| {r['candidates']:,} | {'yes' if r['repair'] else 'no'} | {r['status']} | {r['seconds']} | {gap} | "
              f"{r['stage1']}, {r['stage2']} | {rounds} | {full} |")
    print(f"written to {out}")


if __name__ == "__main__":
    main()

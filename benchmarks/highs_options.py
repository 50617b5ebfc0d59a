"""Try HiGHS options on the engine's own model of a scenario (a diagnosis aid; the engine is not changed).

    python benchmarks/highs_options.py SCENARIO.toml VARIANT [--time-limit 60] [--log FILE]

VARIANT: default | heuristics_off | presolve_off | lp_first (solve the LP relaxation, round the
selection down, hand it to HiGHS as a start) | fj_off (no feasibility jump). Prints one JSON line:
build and solve seconds, HiGHS status, objective, dual bound, gap, nodes. Run each variant under an
outer `timeout`: HiGHS does not check its time limit inside some root heuristics (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import highspy
import numpy as np

from allocator.backends.highs_run import to_highs_lp
from allocator.data import load_data
from allocator.model import formulate
from allocator.scenario_toml import load_scenario

VARIANTS = {
    "default": {},
    "heuristics_off": {"mip_heuristic_effort": 0.0},
    "presolve_off": {"presolve": "off"},
    "fj_off": {"mip_heuristic_run_feasibility_jump": False},
    "lp_first": {},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario")
    parser.add_argument("variant", choices=list(VARIANTS))
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--gap", type=float, default=1e-4)
    parser.add_argument("--log", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="scenario override KEY=VALUE")
    args = parser.parse_args()

    scenario = load_scenario(args.scenario, args.overrides)
    data = load_data(scenario)
    started = time.perf_counter()
    linear = formulate(scenario, data).linear
    seconds = {"build": time.perf_counter() - started}
    started = time.perf_counter()
    lp = to_highs_lp(linear)
    seconds["to_highs_lp"] = time.perf_counter() - started

    highs = highspy.Highs()
    highs.setOptionValue("output_flag", args.log is not None)
    if args.log:
        highs.setOptionValue("log_file", args.log)
        highs.setOptionValue("log_to_console", False)
    highs.setOptionValue("time_limit", args.time_limit)
    highs.setOptionValue("mip_rel_gap", args.gap)
    highs.setOptionValue("threads", 1)
    for key, value in VARIANTS[args.variant].items():
        highs.setOptionValue(key, value)
    started = time.perf_counter()
    highs.passModel(lp)
    seconds["pass_model"] = time.perf_counter() - started

    if args.variant == "lp_first":
        started = time.perf_counter()
        relaxed = highspy.Highs()
        relaxed.setOptionValue("output_flag", False)
        relaxed.passModel(to_highs_lp(linear.relaxed()))
        relaxed.run()
        x = np.asarray(relaxed.getSolution().col_value)
        seconds["lp_relaxation"] = time.perf_counter() - started
        seconds["lp_objective"] = relaxed.getInfo().objective_function_value * linear.objective_sign
        start = x.copy()
        start[linear.integer] = np.floor(x[linear.integer] + 1e-9)
        solution = highspy.HighsSolution()
        solution.col_value = start
        highs.setSolution(solution)

    started = time.perf_counter()
    highs.run()
    seconds["solve"] = time.perf_counter() - started
    info = highs.getInfo()
    print(json.dumps({
        "variant": args.variant, "overrides": args.overrides, "scenario": os.path.basename(os.path.dirname(args.scenario)),
        "status": highs.modelStatusToString(highs.getModelStatus()),
        "objective": info.objective_function_value * linear.objective_sign,
        "dual_bound": info.mip_dual_bound * linear.objective_sign, "mip_gap": info.mip_gap, "nodes": int(info.mip_node_count),
        "seconds": {k: round(v, 3) for k, v in seconds.items()}, "loadavg": os.getloadavg(),
        "size": {"rows": linear.num_rows, "cols": linear.num_cols, "nnz": int(linear.A.nnz)},
    }))


if __name__ == "__main__":
    main()

"""The short terminal summary of a result: money per source, projects per type, targets met or missed."""

from __future__ import annotations

import numpy as np

from allocator.results import Result
from allocator.units import format_wan


def summary(result: Result) -> str:
    scenario, solution = result.scenario, result.solution
    gap = "" if solution.mip_gap is None else f", gap {solution.mip_gap:.2e}"
    sense = "benefit" if scenario.sense == "max_benefit" else "money (万元)"
    lines = [
        f"{scenario.name}: {solution.status.value} ({solution.solver_version}{gap}, {solution.seconds:.2f} s)",
        f"objective ({sense}): {result.objective:,.2f}",
        "",
        "money by source (万元):",
    ]
    for row in result.by_source.itertuples():
        share = f"{row.used_share:6.1%}" if np.isfinite(row.used_share) else "   n/a"
        lines.append(f"  {row.label} [{row.source}]: {format_wan(row.used)} of {format_wan(row.budget)} ({share})")
    lines += ["", "projects funded by type:"]
    for row in result.by_type.itertuples():
        lines.append(f"  {row.label} [{row.type}]: {row.funded:,.0f} of {row.candidates:,} candidates, {format_wan(row.total)}")
    indicators = result.indicators
    if len(indicators):
        lines += ["", "targets:"]
        for name, rows in indicators.groupby("indicator", sort=False):
            first = rows.iloc[0]
            met = rows["met"].dropna().astype(bool)
            if first["scope"] == "national":
                verdict = "met" if met.all() else f"missed by {first['shortfall']:.4g}"
                lines.append(f"  {first['label']}: {first['achieved']:.4g} vs target {first['target']:.4g} ({verdict})")
            else:
                lines.append(f"  {first['label']} ({first['scope']}): target {first['target']:.4g} met in {int(met.sum())} of {len(met)} groups")
    return "\n".join(lines)

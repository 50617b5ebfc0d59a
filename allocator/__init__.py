"""allocator: plan how funding sources are split across candidate community-service projects.

>>> from allocator import build, load_scenario, solve, factor_method, compare, sweep
>>> scenario = load_scenario("scenarios/demo/demo.toml", ["sources.central.budget=2000万"])
>>> result = solve(scenario)
>>> result.by_source  # pandas DataFrames for every table
>>> model = build(scenario)  # the same in two steps: read, check and build, then solve
>>> model.write("demo.mps"), model.rows("budget")
>>> result = model.solve()
>>> compare({"formula": factor_method(scenario), "optimizer": result}).table()  # needs a [baseline] table
>>> sweep(scenario, {"sources.central.budget": "1000万:3000万:5"}).table

Each name is imported where it lives on first use (PEP 562), so importing one module of the package, or
starting ``allocate``, does not load the solver, matplotlib or the Excel engine (docs/performance.md).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from allocator.errors import AllocatorError, InputError, SolveFailed, VerificationError

if TYPE_CHECKING:
    from allocator.baseline import METHODS, allocate, factor_method
    from allocator.compare import Comparison, compare
    from allocator.results import Result
    from allocator.runformat.run import Run, read_run
    from allocator.scenario import Scenario
    from allocator.scenario_toml import load_scenario, with_overrides
    from allocator.simulate import Simulation, simulate
    from allocator.solve import AllocationModel, build, solve
    from allocator.sweep import SweepResult, sweep

#: The module each public name is imported from.
_HOMES = {
    "METHODS": "allocator.baseline", "allocate": "allocator.baseline", "factor_method": "allocator.baseline",
    "Comparison": "allocator.compare", "compare": "allocator.compare",
    "Result": "allocator.results",
    "Run": "allocator.runformat.run", "read_run": "allocator.runformat.run",
    "Scenario": "allocator.scenario",
    "load_scenario": "allocator.scenario_toml", "with_overrides": "allocator.scenario_toml",
    "Simulation": "allocator.simulate", "simulate": "allocator.simulate",
    "AllocationModel": "allocator.solve", "build": "allocator.solve", "solve": "allocator.solve",
    "SweepResult": "allocator.sweep", "sweep": "allocator.sweep",
}

__all__ = sorted(["AllocatorError", "InputError", "SolveFailed", "VerificationError", *_HOMES])


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


class _Package(types.ModuleType):
    """``allocator.solve`` is the function (so are compare, simulate and sweep), although a module has the same
    name: importing that module must not put it in the function's place, as the import system would."""

    def __setattr__(self, name: str, value: object) -> None:
        if not (name in _HOMES and isinstance(value, types.ModuleType)):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

"""allocator: plan how funding sources are split across candidate community-service projects.

>>> from allocator import load_scenario, solve, factor_method, compare, sweep
>>> scenario = load_scenario("scenarios/demo/demo.toml", ["sources.central.budget=2000万"])
>>> result = solve(scenario)
>>> result.by_source  # pandas DataFrames for every table
>>> compare({"formula": factor_method(scenario), "optimizer": result}).table()  # needs a [baseline] table
>>> sweep(scenario, {"sources.central.budget": "1000万:3000万:5"}).table
"""

from allocator.baseline import METHODS, allocate, factor_method
from allocator.compare import Comparison, compare
from allocator.errors import AllocatorError, InputError, SolveFailed, VerificationError
from allocator.results import Result
from allocator.rundir import RunTables, read_run
from allocator.scenario import Scenario, load_scenario
from allocator.simulate import Simulation, simulate
from allocator.solve import solve
from allocator.sweep import SweepResult, sweep

__all__ = ["METHODS", "AllocatorError", "Comparison", "InputError", "Result", "RunTables", "Scenario", "Simulation", "SolveFailed", "SweepResult",
           "VerificationError", "allocate", "compare", "factor_method", "load_scenario", "read_run", "simulate", "solve", "sweep"]

"""allocator: plan how funding sources are split across candidate community-service projects.

>>> from allocator import load_scenario, solve
>>> result = solve(load_scenario("scenarios/demo/demo.toml", ["sources.central.budget=2000万"]))
>>> result.by_source  # pandas DataFrames for every table
"""

from allocator.errors import AllocatorError, InputError, SolveFailed, VerificationError
from allocator.results import Result
from allocator.scenario import Scenario, load_scenario
from allocator.solve import solve

__all__ = ["AllocatorError", "InputError", "Result", "Scenario", "SolveFailed", "VerificationError", "load_scenario", "solve"]

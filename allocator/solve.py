"""From a scenario to a checked result, in two steps: :func:`build` an :class:`AllocationModel` (load the data,
check the declared plans, formulate the rules as arrays), then :meth:`AllocationModel.solve` it (pre-check,
call a backend, diagnose a failure, recover, verify, marginal values). :func:`solve` does both. Times each phase.

``solver.time_limit`` bounds the whole :func:`solve` on the wall clock: one :class:`Deadline` from its
start is passed to every solve. The main solve gets MAIN_SHARE of what is left when marginal values will
re-solve the MIP, and all of it otherwise; the phases it stops or skips are listed in
``result.cut_short`` (the manifest's ``cut_short``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np

from allocator.backends import Deadline, Solution, SolveStatus
from allocator.backends.options import SolverOptions
from allocator.checks import check_declared_plans, verify
from allocator.data import Data, load_data
from allocator.diagnose import Diagnosis, diagnose, impossible_alone
from allocator.errors import SolveFailed
from allocator.floor import raise_lowest
from allocator.marginal import marginal_values, re_solves
from allocator.marginal_modes import MarginalMode, re_solve_scope
from allocator.model import BuiltModel, formulate
from allocator.model.arrays import Block, LinearModel, RowKind
from allocator.results import Result, make_result
from allocator.scenario import Scenario
from allocator.split import even_split

Backend = Callable[..., Solution]


def backend_for(options: SolverOptions) -> Backend:
    """highspy for ``highs`` (the default); PuLP for every other solver name. Only the chosen one is imported."""
    if options.name.lower() == "highs":
        from allocator.backends.highs import solve_highs

        return solve_highs
    from allocator.backends.pulp import solve_pulp

    return solve_pulp


def solve_model(model: LinearModel, options: SolverOptions, *, log: bool = False, deadline: Deadline | None = None,
                start: np.ndarray | None = None) -> Solution:
    """Solve `model` by `deadline` (default: ``options.time_limit`` from now), from the feasible point `start` if given
    (HiGHS only)."""
    return backend_for(options)(model, options, log=log, deadline=deadline, start=start)


@contextmanager
def _timed(timings: dict[str, float], phase: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[phase] = timings.get(phase, 0.0) + time.perf_counter() - started


#: The main solve's share of the time left when marginal values will re-solve the model (budgets, used-up rules, soft targets).
MAIN_SHARE = 0.8
SHARE_NOTE = (f" The solve had {MAIN_SHARE:.0%} of solver.time_limit, the rest being kept for the marginal values' "
              "re-solves (--marginal duals gives it all).")


@dataclass
class AllocationModel:
    """A scenario's model, built and not yet solved: ``build(scenario, data)`` then ``.solve()``, ``.write(path)``
    or ``.rows(kind)``. ``timings`` holds the seconds spent reading and building it."""

    scenario: Scenario
    data: Data
    built: BuiltModel
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def linear(self) -> LinearModel:
        """The model as arrays: minimise c·x subject to row and column bounds."""
        return self.built.linear

    def rows(self, *kinds: RowKind | str) -> list[Block]:
        """The row blocks of `kinds` ("budget", "count", "indicator", ... : :class:`RowKind`), in the model's order."""
        return self.linear.rows(*(RowKind(kind) for kind in kinds))

    def write(self, path: str | Path) -> Path:
        """Write the model as an LP or MPS file (by suffix) for another solver, rows and columns named after
        their rules (:func:`allocator.backends.highs.file_names`); returns the path."""
        from allocator.backends.highs import write_model

        write_model(self.linear, Path(path))
        return Path(path)

    def solve(self, *, log: bool = False, marginal: MarginalMode = "auto", deadline: Deadline | None = None,
              start: np.ndarray | None = None) -> Result:
        """Solve and check the model; raise :class:`SolveFailed` when there is no allocation to report.

        `marginal`: see :mod:`allocator.marginal_modes`. `deadline`: when the whole solve must end (default:
        ``solver.time_limit`` from now). `start`: a feasible point of the model (allocator.warm.feasible_start), the
        main solve's first incumbent (HiGHS; ignored by LP-first and with raise_lowest, which make their own).
        """
        scenario, data, built = self.scenario, self.data, self.built
        deadline = deadline if deadline is not None else Deadline(scenario.solver.time_limit)
        timings = dict(self.timings)
        impossible = impossible_alone(built)
        if impossible:
            diagnosis = Diagnosis(scenario.name, impossible=impossible)
            raise SolveFailed(f"scenario '{scenario.name}' cannot be met, found before solving:\n{diagnosis.text()}\nNo allocation was written.",
                              status=SolveStatus.INFEASIBLE.value, report=diagnosis.text())
        scope = re_solve_scope(marginal, len(data.projects))
        shared = marginal != "none" and re_solves(built.linear, scenario, scope)
        main = deadline.portion(MAIN_SHARE * deadline.left()) if shared else deadline
        floor: dict[str, object] | None = None
        if scenario.raise_lowest is not None:
            with _timed(timings, "raise_lowest"):
                linear, start, floor = raise_lowest(built.linear, scenario.solver, solve_model, main)
            built = replace(built, linear=linear)
        with _timed(timings, "solve"):
            solution = solve_model(built.linear, scenario.solver, log=log, deadline=main, start=start)
            if solution.status is SolveStatus.INFEASIBLE_OR_UNBOUNDED:
                settle_infeasible_or_unbounded(solution, built.linear, scenario.solver, deadline)
        if solution.status is SolveStatus.INFEASIBLE:
            diagnosis = diagnose(scenario, data, built, partial(solve_model, deadline=deadline))
            raise SolveFailed(f"{failure_message(scenario, solution)}\n{diagnosis.text()}\nNo allocation was written.",
                              status=solution.status.value, report=diagnosis.text())
        if not solution.status.has_solution:
            raise SolveFailed(failure_message(scenario, solution) + (SHARE_NOTE if shared else "")
                              + "".join(f" {note}." for note in deadline.cut_short), status=solution.status.value,
                              progress=progress(built.linear, solution))
        if solution.status is SolveStatus.FEASIBLE and main.expired:
            gap = "gap not measured" if solution.mip_gap is None else f"gap {solution.mip_gap:.2e}"
            deadline.note(f"solve: stopped by the time limit before proving optimality ({gap}).{SHARE_NOTE if shared else ''}")
        if scenario.split == "even":
            with _timed(timings, "split"):
                solution = even_split(built, solution, partial(solve_model, options=scenario.solver), deadline)
        if floor is not None:
            solution = replace(solution, details={**solution.details, "raise_lowest": {"indicator": scenario.raise_lowest, **floor}})
        with _timed(timings, "recover_and_verify"):
            result = make_result(scenario, data, built, solution, timings)
            verify(scenario, data, result.selected, result.money, starts=result.starts, money_by_period=result.money_by_period)
        if marginal != "none":
            with _timed(timings, "marginal"):
                result.marginal = marginal_values(result, solve_model, scope=scope, deadline=deadline)
        result.cut_short = deadline.cut_short
        return result


def build(scenario: Scenario, data: Data | None = None) -> AllocationModel:
    """Read `scenario`'s tables (unless `data` is given), check its declared plans and build its model; nothing is solved."""
    timings: dict[str, float] = {}
    with _timed(timings, "read_and_validate"):
        data = load_data(scenario) if data is None else data
        check_declared_plans(scenario, data)
    with _timed(timings, "build"):
        built = formulate(scenario, data)
    return AllocationModel(scenario, data, built, timings)


def solve(scenario: Scenario, data: Data | None = None, *, log: bool = False, marginal: MarginalMode = "auto") -> Result:
    """:func:`build` then :meth:`AllocationModel.solve`, within ``solver.time_limit`` from now; raise
    :class:`SolveFailed` when there is no allocation to report."""
    deadline = Deadline(scenario.solver.time_limit)
    return build(scenario, data).solve(log=log, marginal=marginal, deadline=deadline)


def settle_infeasible_or_unbounded(solution: Solution, model: LinearModel, options: SolverOptions, deadline: Deadline) -> None:
    """Tell an infeasible model from an unbounded one by re-solving it with a zero objective, which cannot be
    unbounded: no allocation means infeasible, any allocation means unbounded. Updates `solution`'s status
    and message; it stays "infeasible_or_unbounded" when the re-solve settles nothing (time limit, error)."""
    feasibility = solve_model(replace(model, c=np.zeros_like(model.c), offset=0.0), options, deadline=deadline)
    if feasibility.status is SolveStatus.INFEASIBLE:
        solution.status = SolveStatus.INFEASIBLE
    elif feasibility.status.has_solution:
        solution.status = SolveStatus.UNBOUNDED
    solution.message += f"; a re-solve with a zero objective (any allocation at all) ended {feasibility.status.value}"


def progress(model: LinearModel, solution: Solution) -> dict[str, object]:
    """How far a solve that found no allocation got: the model's size, the seconds spent, the best bound proven (the
    dual bound, or LP-first's relaxation bound, in the minimised sense) and what LP-first's stages did."""
    details = solution.details
    lp_bound = details.get("lp_bound")
    return {
        "model_size": {"rows": model.num_rows, "columns": model.num_cols, "nonzeros": int(model.A.nnz),
                       "integer_columns": int(model.integer.sum())},
        "seconds": round(solution.seconds, 3),
        "lp_relaxation_finished": lp_bound is not None if details.get("strategy") == "lp_first" else None,
        "best_bound": solution.dual_bound if solution.dual_bound is not None else lp_bound,
        "incumbent": solution.objective,
        "stages": {key: value for key, value in details.items() if key.startswith("stage") or key == "full_mip"},
        "message": solution.message,
    }


def failure_message(scenario: Scenario, solution: Solution) -> str:
    """One paragraph that says what happened and what to try."""
    limit = f"{scenario.solver.time_limit:g} s"
    status = solution.status
    assert isinstance(status, SolveStatus), status  # a formula allocation never fails
    advice = {
        SolveStatus.INFEASIBLE: "no allocation satisfies every hard rule at once; the diagnosis below says which rules "
                                "collide and what would be enough to resolve it.",
        SolveStatus.UNBOUNDED: "the objective can grow without limit, which means a rule is missing (every project should "
                               "be bounded by its selection); check benefit weights and penalties.",
        SolveStatus.INFEASIBLE_OR_UNBOUNDED: "the model is infeasible or unbounded, and the solver could not tell which. "
                                             "Either no allocation satisfies every hard rule (`allocate explain` says which "
                                             "collide) or a rule is missing so the objective can grow without limit (check "
                                             f"benefit weights and penalties); raising solver.time_limit ({limit}) may let "
                                             "it decide.",
        SolveStatus.NO_SOLUTION: f"the solver reached its limit ({limit}) before finding any allocation. This does not prove "
                                 "the scenario infeasible: raise solver.time_limit or relax solver.mip_rel_gap.",
        SolveStatus.ERROR: "the solver stopped with an error.",
    }[status]
    ending = "" if solution.status is SolveStatus.INFEASIBLE else " No allocation was written."
    return (f"scenario '{scenario.name}' could not be solved ({solution.status.value}; {solution.solver_version} said "
            f"'{solution.message}'): {advice}{ending}")

"""The ``allocate`` command. Every known error becomes one message on stderr and a non-zero exit:
2 bad input, 3 no allocation (infeasible, unbounded, no solution in time, solver error), 4 a failed check."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from allocator.data import load_data
from allocator.errors import AllocatorError, SolveFailed
from allocator.marginal import binding_rules_text
from allocator.rundir import check_run_dir, default_run_dir, write_failure, write_run
from allocator.scenario import Scenario, load_scenario
from allocator.solve import FINITE_DIFFERENCE_LIMIT, MARGINAL_MODES, solve
from allocator.summary import summary


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn an :class:`AllocatorError` into ``error: <message>`` (one line unless it is a report) and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except AllocatorError as exc:
            message = str(exc) if exc.multiline else " ".join(str(exc).split())
            click.echo(f"error: {message}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


def scenario_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--allow-outside-paths", is_flag=True,
                           help="Allow data paths outside the scenario's folder (absolute or via '..').")(command)
    command = click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
                           help="Override a scenario value, e.g. --set sources.central.budget=8亿 (repeatable).")(command)
    return click.argument("scenario_file", type=click.Path(path_type=Path))(command)


def _load(scenario_file: Path, overrides: tuple[str, ...], allow_outside_paths: bool) -> Scenario:
    scenario = load_scenario(scenario_file, list(overrides), allow_outside_paths=allow_outside_paths)
    for key, old, new in scenario.document.overrides:
        click.echo(f"override {key}: {old!r} -> {new!r}", err=True)
    return scenario


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="allocator")
def main() -> None:
    """Plan how funding sources are split across candidate projects.

    Write a scenario (TOML) naming a regions table, a projects table, the funding sources and their
    rules, the targets and the balance between regions; then `allocate run scenario.toml`.
    Money is read as 6亿, 1.3亿, 2615万, ¥14.5亿 or plain yuan, and reported in 万元.
    """


@main.command()
@scenario_options
@click.option("--out", type=click.Path(path_type=Path), help="Run directory to write (default: runs/<scenario>-<time>).")
@click.option("--force", is_flag=True, help="Replace the run directory if it exists.")
@click.option("--solver", help="Override solver.name: highs (default), cbc, glpk or another PuLP solver.")
@click.option("--time-limit", type=float, help="Override solver.time_limit, in seconds.")
@click.option("--log", is_flag=True, help="Show the solver's own log.")
@click.option("--marginal", type=click.Choice(MARGINAL_MODES), default="auto", show_default=True,
              help="Marginal values in marginal.csv: full (duals + finite differences), duals, none; "
                   f"auto = full up to {FINITE_DIFFERENCE_LIMIT:,} candidates.")
@reports_errors
def run(scenario_file: Path, overrides: tuple[str, ...], allow_outside_paths: bool, out: Path | None, force: bool,
        solver: str | None, time_limit: float | None, log: bool, marginal: str) -> None:
    """Solve SCENARIO_FILE and write the allocation and its tables to a run directory."""
    extra = [*overrides, *([f'solver.name="{solver}"'] if solver else []), *([f"solver.time_limit={time_limit}"] if time_limit else [])]
    scenario = _load(scenario_file, tuple(extra), allow_outside_paths)
    out = out or default_run_dir(scenario.path)
    check_run_dir(out, force)
    try:
        result = solve(scenario, log=log, marginal=marginal)
    except SolveFailed as failure:
        write_failure(scenario, failure, out, force=force)
        click.echo(f"diagnosis written to {out / 'diagnosis.md'}", err=True)
        raise
    written = write_run(result, out, force=force)
    click.echo(summary(result))
    click.echo(f"\nwritten to {written}")


@main.command()
@scenario_options
@reports_errors
def validate(scenario_file: Path, overrides: tuple[str, ...], allow_outside_paths: bool) -> None:
    """Check SCENARIO_FILE and its data tables without solving anything."""
    scenario = _load(scenario_file, overrides, allow_outside_paths)
    data = load_data(scenario)
    click.echo(f"{scenario.name}: valid. {len(data.regions):,} regions, {len(data.projects):,} candidate projects, "
               f"{len(scenario.sources)} sources, {len(scenario.indicators)} indicators, {len(scenario.counts)} counts, "
               f"{len(scenario.shares)} share rules.")


@main.command()
@scenario_options
@reports_errors
def explain(scenario_file: Path, overrides: tuple[str, ...], allow_outside_paths: bool) -> None:
    """Say why SCENARIO_FILE cannot be met, or which rules bind its optimum and what each is worth.

    For an infeasible scenario: the colliding rules and the changes that would be enough (exit 3).
    For a feasible one: the binding budgets and rules with their marginal values (see marginal.csv).
    """
    scenario = _load(scenario_file, overrides, allow_outside_paths)
    result = solve(scenario, marginal="full")
    click.echo(summary(result))
    click.echo("")
    click.echo(binding_rules_text(result.marginal))

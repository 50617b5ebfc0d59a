"""The ``allocate`` command. Every known error becomes one message on stderr and a non-zero exit:
2 bad input, 3 no allocation (infeasible, unbounded, no solution in time, solver error; a sweep with none at any point, a
cascade with none in some province), 4 a failed check.

Each command imports what it runs, so that ``allocate --help`` and a mistyped option answer at once
(docs/performance.md, "Start-up").
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from allocator.errors import AllocatorError, InputError, SolveFailed
from allocator.marginal_modes import MARGINAL_MODES, RE_SOLVE_LIMIT, MarginalMode
from allocator.outdir import Target, check, new_file, write_new_file
from allocator.paths import path_problem, shown

if TYPE_CHECKING:
    from allocator.data import Data
    from allocator.scenario import Scenario


#: Above this many candidates `allocate run` skips the workbook and report unless --reports asks for them: writing them
#: costs more than the solve there, and a budget proposal of a million rows is read from the CSVs anyway.
REPORTS_LIMIT = 1_000_000


class _PathAsTyped(click.Path):
    """A path as typed: click.Path would stat it, and a NUL byte in it would end in a traceback; each command
    checks its paths itself and says what is wrong in one line (allocator.paths, allocator.outdir)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        return value if isinstance(value, Path) else Path(value)


PATH = _PathAsTyped()


def _sound(paths: Iterable[Path | None], what: str) -> None:
    """Refuse a path no file system can hold (a NUL byte, a name too long) before anything looks it up."""
    for path in filter(None, paths):
        problem = path_problem(path)
        if problem:
            raise InputError(problem, source=f"{what} {shown(path)}")


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
                           help="Allow data paths and 'extends' outside the scenario's folder (absolute or via '..').")(command)
    command = click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
                           help="Override a scenario value, e.g. --set sources.central.budget=8亿 (repeatable).")(command)
    return click.argument("scenario_file", type=PATH)(command)


def _load(scenario_file: Path, overrides: tuple[str, ...], allow_outside_paths: bool) -> Scenario:
    from allocator.scenario_toml import load_scenario

    scenario = load_scenario(scenario_file, list(overrides), allow_outside_paths=allow_outside_paths)
    for key, old, new in scenario.document.overrides:
        click.echo(f"override {key}: {old!r} -> {new!r}", err=True)
    return scenario


def _echo_budgets(scenario: Scenario, data: Data, *, err: bool) -> None:
    """Every budget as read, in 万元 with where it was given, and a warning if no candidate is affordable."""
    from allocator.scenario_toml import budgets_as_read
    from allocator.summary import unaffordable_warning

    for line in budgets_as_read(scenario):
        click.echo(line, err=err)
    warning = unaffordable_warning(scenario, data)
    if warning:
        click.echo(f"warning: {warning}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="allocator")
def main() -> None:
    """Plan how funding sources are split across candidate projects.

    Write a scenario (TOML) naming a regions table, a projects table, the funding sources and their
    rules, the targets and the balance between regions; then `allocate run scenario.toml`.
    Money is written with its unit (6亿, 1.3亿, 2615万, ¥14.5亿, 3000元) and reported in 万元.
    """


@main.command()
@scenario_options
@click.option("--out", type=PATH, help="Run directory to write (default: runs/<scenario>-<time>).")
@click.option("--force", is_flag=True, help="Replace a run directory already there (only one allocate wrote).")
@click.option("--solver", help="Override solver.name: highs (default), cbc, glpk or another PuLP solver.")
@click.option("--time-limit", type=float, help="Override solver.time_limit, in seconds (above 0).")
@click.option("--log", is_flag=True, help="Show the solver's own log.")
@click.option("--marginal", type=click.Choice(MARGINAL_MODES), default="auto", show_default=True,
              help="Marginal values in marginal.csv: full (duals + a re-solve for every budget, soft target and used-up rule), "
                   f"auto (re-solves for the scenario-wide rules only, up to {RE_SOLVE_LIMIT:,} candidates), duals, none.")
@click.option("--reports/--no-reports", default=None,
              help="Write budget_proposal.xlsx, report.md and report.html (allocate export makes them later). Default: "
                   f"yes up to {REPORTS_LIMIT:,} candidates, no above.")
@click.option("--from", "reference", type=PATH, metavar="RUN_DIR",
              help="Make a previous run the reference plan (stability.reference): its funded projects stay funded "
                   "unless --set stability.keep=false (docs/whatif.md).")
@click.option("--scheduler", metavar="ADDRESS",
              help="Solve the blocks of a model decomposed by blocks (county pooling) on an existing Dask cluster, "
                   "e.g. tcp://10.0.0.5:8786 (default: solver.workers local processes).")
@reports_errors
def run(scenario_file: Path, overrides: tuple[str, ...], allow_outside_paths: bool, out: Path | None, force: bool,
        solver: str | None, time_limit: float | None, log: bool, marginal: MarginalMode, reports: bool | None,
        reference: Path | None, scheduler: str | None) -> None:
    """Solve SCENARIO_FILE and write the allocation and its tables to a run directory."""
    from allocator.rundir import default_run_dir, run_target, write_failure, write_run
    from allocator.solve import solve
    from allocator.summary import summary

    if time_limit is not None and not 0 < time_limit < float("inf"):
        raise InputError(f"must be a number of seconds above 0, got {time_limit:g}", where="--time-limit")
    extra = [*overrides, *([f'solver.name="{solver}"'] if solver else []), *([f"solver.time_limit={time_limit}"] if time_limit is not None else []),
             *([f"stability.reference={json.dumps(str(reference.resolve()))}"] if reference is not None else [])]
    scenario = _load(scenario_file, tuple(extra), allow_outside_paths)
    if scheduler is not None:
        from allocator.cluster import connect

        connect(scheduler).close()  # an unreachable scheduler is refused now, not after the LP relaxation
        scenario = replace(scenario, solver=replace(scenario.solver, scheduler=scheduler))
    target = run_target(scenario, out or default_run_dir(scenario.path), force=force, unique=out is None)
    check(target)  # before solving: a folder that cannot or may not be written is refused now
    try:
        result = solve(scenario, log=log, marginal=marginal)
    except SolveFailed as failure:
        written = write_failure(scenario, failure, target.path, force=force, unique=target.unique)
        click.echo(f"diagnosis written to {written / 'diagnosis.md'}", err=True)
        raise
    candidates = len(result.data.projects)
    if reports is None and candidates > REPORTS_LIMIT:
        click.echo(f"{candidates:,} candidates: the workbook and report are skipped above {REPORTS_LIMIT:,} (--reports writes them; "
                   "allocate export RUN_DIR makes them later)", err=True)
    written = write_run(result, target.path, force=force, unique=target.unique,
                        reports=reports if reports is not None else candidates <= REPORTS_LIMIT)
    _echo_budgets(scenario, result.data, err=True)
    click.echo(summary(result))
    click.echo(f"\nwritten to {written}")


@main.command()
@scenario_options
@click.option("--write-model", type=PATH,
              help="Also build the model and write it as an LP or MPS file (by suffix) for another solver.")
@reports_errors
def validate(scenario_file: Path, overrides: tuple[str, ...], allow_outside_paths: bool, write_model: Path | None) -> None:
    """Check SCENARIO_FILE and its data tables, and build its model, without solving anything."""
    from allocator.data import load_data
    from allocator.solve import build

    if write_model:
        from allocator.backends.highs import MODEL_SUFFIXES

        if write_model.suffix.lower() not in MODEL_SUFFIXES:
            raise InputError(f"--write-model needs a .lp or .mps file name, got '{write_model.name}'")
        new_file(write_model, "--write-model")
    scenario = _load(scenario_file, overrides, allow_outside_paths)
    if scenario.solver.name.lower() != "highs":
        from allocator.backends.pulp import solver_class_name

        solver_class_name(scenario.solver.name)  # an unknown or absent solver, as `run` refuses it
    data = load_data(scenario)
    allocation_model = build(scenario, data)  # the rules' own refusals, as `run` meets them
    click.echo(f"{scenario.name}: valid. {len(data.regions):,} regions, {len(data.projects):,} candidate projects, "
               f"{len(scenario.sources)} sources, {len(scenario.indicators)} indicators, {len(scenario.counts)} counts, "
               f"{len(scenario.shares)} share rules.")
    _echo_budgets(scenario, data, err=False)
    if write_model:
        write_new_file(write_model, allocation_model.write, "--write-model")
        model = allocation_model.linear
        click.echo(f"model written to {write_model}: {model.num_rows:,} rows, {model.num_cols:,} columns "
                   f"({int(model.integer.sum()):,} integer), {model.A.nnz:,} nonzeros")


@main.command()
@scenario_options
@reports_errors
def explain(scenario_file: Path, overrides: tuple[str, ...], allow_outside_paths: bool) -> None:
    """Say why SCENARIO_FILE cannot be met, or which rules shape its plan and what relaxing each is worth.

    For an infeasible scenario: the colliding rules and the changes that would be enough (exit 3).
    For a feasible one: the rules that bind, ranked by what relaxing each by one step would gain, each with the
    --set (or table cell) that relaxes it; rules that bind only together; unmet soft targets and what meeting them
    would cost. Nothing is written: `allocate run --marginal full` writes every rule's row to marginal.csv (docs/outputs.md).
    """
    from allocator.explain import explanation
    from allocator.solve import solve, solve_model
    from allocator.summary import summary

    scenario = _load(scenario_file, overrides, allow_outside_paths)
    result = solve(scenario, marginal="full")
    click.echo(summary(result))
    click.echo("")
    click.echo(explanation(result, solve_model))


@main.command("compare")
@click.argument("runs", nargs=-1, required=True, type=PATH)
@click.option("--out", type=PATH, help="Directory for the comparison (default: runs/compare-<time>).")
@click.option("--force", is_flag=True, help="Replace a comparison already in --out (only one allocate wrote).")
@click.option("--label", "labels", multiple=True, help="Name the runs, in order (default: their scenario names).")
@reports_errors
def compare_command(runs: tuple[Path, ...], out: Path | None, force: bool, labels: tuple[str, ...]) -> None:
    """Put RUNS side by side: run directories or scenario files (solved now), the first as the baseline.

    Writes comparison.html, comparison.md and comparison.xlsx (in Chinese, for a proposal), the CSVs
    comparison.csv (headline figures and differences), by_zone.csv, by_province.csv, projects.csv
    (projects funded in one run and not another) and churn.csv, and prints the headline table.
    """
    from allocator.compare import compare, default_compare_dir
    from allocator.report.comparison import terminal_text

    if len(runs) < 2:
        raise InputError("compare needs at least two run directories or scenario files")
    if labels and len(labels) != len(runs):
        raise InputError(f"--label was given {len(labels)} times for {len(runs)} runs; name every run or none")
    repeated = next((label for label in labels if labels.count(label) > 1), None)
    if repeated is not None:
        raise InputError(f"'{repeated}' is given to more than one run; each run needs a label of its own", where="--label")
    _sound(runs, "RUNS")
    target = Target(out or default_compare_dir(), kind="compare", force=force, unique=out is None, inputs=runs)
    check(target)
    for item in runs:
        if not item.is_dir():
            click.echo(f"solving {item} ...", err=True)
    comparison = compare(dict(zip(labels, runs)) if labels else list(runs), out=target.path, force=force, unique=target.unique)
    click.echo(terminal_text(comparison))
    click.echo(f"\nwritten to {comparison.out} (comparison.html, comparison.xlsx, comparison.md and the CSVs)")


@main.command("sweep")
@scenario_options
@click.option("--vary", "varies", multiple=True, required=True, metavar="KEY=START:STOP:COUNT | KEY=A,B,C",
              help="A key to vary: a linear range (money with units, e.g. sources.central.budget=4亿:10亿:7) or a list. "
                   "Twice for a grid.")
@click.option("--workers", type=click.IntRange(min=1), help="Processes to run at once (default: one per CPU).")
@click.option("--scheduler", metavar="ADDRESS", help="Run the points on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 "
                                                     "(each point on its own: no warm starts between points).")
@click.option("--out", type=PATH, help="Sweep directory (default: runs/sweep-<scenario>-<time>).")
@click.option("--force", is_flag=True, help="Replace a sweep directory already there (only one allocate wrote).")
@reports_errors
def sweep_command(scenario_file: Path, overrides: tuple[str, ...], allow_outside_paths: bool, varies: tuple[str, ...],
                  workers: int | None, scheduler: str | None, out: Path | None, force: bool) -> None:
    """Solve SCENARIO_FILE at every value of the --vary keys, the points side by side (--workers, or --scheduler).

    Writes sweep.csv (one row per point: varied values, status, every headline figure), sweep.html and
    sweep.md (the planner's tables, in the scenario's language), sweep.png (objective, projects, money
    and indicators against the first key) and each point's run under runs/. The terminal shows the main
    figures. Points with no allocation are rows with their status; they do not stop the sweep.
    """
    from allocator.rundir import inputs_of
    from allocator.sweep import checked_points, default_sweep_dir, parse_vary, sweep

    scenario = _load(scenario_file, overrides, allow_outside_paths)
    axes = [parse_vary(text) for text in varies]
    checked = checked_points(scenario, axes)  # every point is checked, once, before the disk is touched
    count = len(checked)
    target = Target(out or default_sweep_dir(scenario.path), kind="sweep", force=force, unique=out is None, inputs=inputs_of(scenario))
    check(target)
    with click.progressbar(length=count, label=f"solving {count} points", file=sys.stderr) as bar:
        result = sweep(scenario, axes, out=target.path, force=force, unique=target.unique, workers=workers, scheduler=scheduler,
                       on_done=lambda i, status: bar.update(1), checked=checked)
    click.echo(result.text())
    if result.failed:
        click.echo(f"\n{len(result.failed)} of {count} points found no allocation (see the status column and their runs' diagnosis.md)")
    click.echo(f"\nwritten to {result.out} (sweep.csv, sweep.md, sweep.png, sweep.html, runs/)")
    if len(result.failed) == count:
        click.echo("error: no point of the sweep found an allocation", err=True)
        sys.exit(3)  # as a run with no allocation: a script must not take the sweep for a result


@main.command("baseline")
@scenario_options
@click.option("--method", type=click.Choice(["factor"]), default="factor", show_default=True,
              help="factor: the formula method (因素法) of the scenario's [baseline] table.")
@click.option("--out", type=PATH, help="Run directory to write (default: runs/<scenario>-factor-<time>).")
@click.option("--force", is_flag=True, help="Replace a run directory already there (only one allocate wrote).")
@reports_errors
def baseline_command(scenario_file: Path, overrides: tuple[str, ...], allow_outside_paths: bool, method: str,
                     out: Path | None, force: bool) -> None:
    """Allocate SCENARIO_FILE by the formula planners use today, not by optimising, and write a run directory.

    Shares of central (and lottery) money per province (or zone/region) come from weighted factors of
    the regions table; local money follows the matching rule; projects are then funded in priority
    order within each share. The rules it breaks are listed here, in report.md and in the workbook.
    Compare it with the optimizer: `allocate compare RUN_DIR SCENARIO_FILE`.
    """
    from allocator.baseline import allocate
    from allocator.rundir import default_run_dir, run_target, write_run
    from allocator.summary import summary

    scenario = _load(scenario_file, overrides, allow_outside_paths)
    target = run_target(scenario, out or default_run_dir(Path(f"{scenario.path.stem}-{method}")), force=force, unique=out is None)
    check(target)
    result = allocate(scenario, method)
    written = write_run(result, target.path, force=force, unique=target.unique,
                        extra={"baseline_shares": result.solution.details["shares"]})
    click.echo(summary(result))
    click.echo("")
    click.echo(result.solution.message)
    click.echo(f"\nwritten to {written} (with baseline_shares.csv)")


@main.command("cascade")
@scenario_options
@click.option("--out", type=PATH, help="Run directory to write (default: runs/<scenario>-cascade-<time>).")
@click.option("--force", is_flag=True, help="Replace a run directory already there (only one allocate wrote).")
@click.option("--workers", type=click.IntRange(1, 256), help="Provinces solved at once, each in its own process (default: one per CPU).")
@reports_errors
def cascade_command(scenario_file: Path, overrides: tuple[str, ...], allow_outside_paths: bool, out: Path | None, force: bool,
                    workers: int | None) -> None:
    """Allocate SCENARIO_FILE as two levels of government do: central and lottery money split between provinces by the
    [baseline] factors, then each province chooses its projects with the optimizer and its share.

    Writes a run directory like `allocate run` (with cascade.csv: each province's money and result, and each province's
    own run directory in runs/) and lists the national rules the provinces' plans together break. A province whose solve
    finds no allocation is named with why, its diagnosis is written in runs/<province>/diagnosis.md, and the command exits
    3: the plan is incomplete. Compare it with the national optimum:
    `allocate compare RUN_DIR SCENARIO_FILE` (the price of deciding in two stages).
    """
    from allocator.cascade import cascade
    from allocator.rundir import default_run_dir, run_target, write_run
    from allocator.runformat.names import DIAGNOSIS
    from allocator.summary import summary

    scenario = _load(scenario_file, overrides, allow_outside_paths)
    target = run_target(scenario, out or default_run_dir(Path(f"{scenario.path.stem}-cascade")), force=force, unique=out is None)
    check(target)
    done = cascade(scenario, workers=workers)
    result = done.result
    written = write_run(result, target.path, force=force, unique=target.unique, extra={"cascade": result.solution.details["provinces"]},
                        runs=done.provinces, failures={province: (failed.scenario, failed.failure()) for province, failed in done.failed.items()})
    click.echo(summary(result))
    click.echo("")
    click.echo(result.solution.message)
    click.echo(f"\nwritten to {written} (with cascade.csv, and each province's own run in runs/)")
    if done.failed:
        for province, failed in done.failed.items():
            click.echo(f"\n{province} found no allocation ({failed.status}); diagnosis written to "
                       f"{written / 'runs' / province / DIAGNOSIS}:\n{failed.report}", err=True)
        provinces = "、".join(done.failed)
        click.echo(f"error: the plan is incomplete: {len(done.failed)} of {len(done.failed) + len(done.provinces)} provinces "
                   f"found no allocation ({provinces}); their projects are not funded", err=True)
        sys.exit(3)  # as a run with no allocation: a script must not take a plan missing a province for the whole plan


@main.command("export")
@click.argument("run_dir", type=PATH)
@click.option("--format", "fmt", type=click.Choice(["xlsx", "md", "html", "all"]), default="all", show_default=True,
              help="xlsx: budget_proposal.xlsx; md/html: report.md/report.html; all: every one.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Headers and labels in Chinese or English (English files are named *_en.*).")
@click.option("--out", type=PATH, help="Folder to write into (default: RUN_DIR itself).")
@reports_errors
def export_command(run_dir: Path, fmt: str, lang: str, out: Path | None) -> None:
    """Make the budget-proposal workbook and the report of a finished run directory (docs/outputs.md)."""
    from allocator.report import export

    _sound([run_dir], "RUN_DIR")
    for path in export(run_dir, fmt, lang, out):
        click.echo(f"written {path}")


@main.command("simulate")
@click.argument("target", type=PATH, metavar="RUN_DIR|SCENARIO_FILE")
@click.option("--draws", type=click.IntRange(min=1), default=1000, show_default=True, help="How many draws of the uncertain inputs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed: the same seed gives the same draws on any number of workers.")
@click.option("--robust", is_flag=True, help="Also solve a plan protected against matching shortfall ([uncertainty] robust_quantile) "
                                             "and replay both plans on the same draws.")
@click.option("--workers", type=click.IntRange(min=1), help="Local processes (default: one per CPU; 1 runs in this process).")
@click.option("--scheduler", metavar="ADDRESS", help="Run the draws on an existing Dask cluster, e.g. tcp://10.0.0.5:8786.")
@click.option("--scenario", "scenario_file", type=PATH,
              help="For a RUN_DIR: read the [uncertainty] (and the whole scenario) from this file instead of the run's own.")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE", help="Override a scenario value (repeatable).")
@click.option("--allow-outside-paths", is_flag=True, help="Allow data paths and 'extends' outside the scenario's folder.")
@click.option("--out", type=PATH, help="Output directory (default: runs/simulate-<name>-<time>).")
@click.option("--force", is_flag=True, help="Replace a simulation already in --out (only one allocate wrote).")
@reports_errors
def simulate_command(target: Path, draws: int, seed: int, robust: bool, workers: int | None, scheduler: str | None,
                     scenario_file: Path | None, overrides: tuple[str, ...], allow_outside_paths: bool, out: Path | None,
                     force: bool) -> None:
    """Replay a plan (RUN_DIR's allocation, or SCENARIO_FILE solved now) under the scenario's [uncertainty].

    Writes draws.csv (one row per plan and draw), summary.csv (P10/P50/P90 of projects completed,
    stranded money and every indicator against its target), regions_at_risk.csv, simulation.png and
    summary.md. See docs/simulation.md.
    """
    if seed < 0:
        raise InputError(f"must be a whole number of 0 or more, got {seed}", where="--seed")
    from datetime import datetime

    from allocator.simulate import load_plan, robust_plan, simulate

    _sound([target, scenario_file], "the input")
    default = Path("runs") / f"simulate-{target.stem if target.is_file() else target.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    output = Target(out or default, kind="simulate", force=force, unique=out is None,
                    inputs=(target, *([scenario_file] if scenario_file else [])))
    check(output)
    if not target.is_dir():
        click.echo(f"solving {target} ...", err=True)
    scenario, data, plan = load_plan(target, overrides, scenario_file=scenario_file, allow_outside_paths=allow_outside_paths,
                                     robust=robust)
    plans, factors = [plan], None
    if robust:
        assert scenario.uncertainty is not None  # load_plan refuses a scenario without one
        click.echo(f"solving the robust plan (q = {scenario.uncertainty.robust_quantile:g}) ...", err=True)
        robust_one, factors = robust_plan(scenario, data, plan)  # from the nominal plan when it is feasible for it
        plans.append(robust_one)
    label = f"{draws:,} draws x {len(plans)} plan{'s' if len(plans) > 1 else ''}"
    with click.progressbar(length=draws, label=label, file=sys.stderr) as bar:
        result = simulate(scenario, plans, data, draws=draws, seed=seed, workers=workers, scheduler=scheduler,
                          on_done=bar.update, robust_factors=factors)
    written = result.write(output.path, force=force, unique=output.unique)
    click.echo(result.markdown())
    click.echo(f"\nwritten to {written} (draws.csv, summary.csv, regions_at_risk.csv, simulation.png, summary.md)")


@main.command("import")
@click.argument("workbook", type=PATH)
@click.option("--sheet", help="The sheet to read (default: the only one with a header of application columns).")
@click.option("--map", "mapping_file", type=PATH, metavar="MAPPING.toml",
              help="Header names, type words, places and the money unit to add to or override the built-in ones (docs/import.md).")
@click.option("--out", type=PATH, required=True, help="The projects table to write (.csv); the report goes beside it (.import.md).")
@click.option("--force", is_flag=True, help="Replace the table and report if they are already there.")
@click.option("--skip-bad", is_flag=True, help="Write the rows without problems and list the others in the report (default: exit 2).")
@reports_errors
def import_command(workbook: Path, sheet: str | None, mapping_file: Path | None, out: Path, force: bool, skip_bad: bool) -> None:
    """Read an application workbook (申报汇总表) into a projects table, with a report of every decision (docs/import.md)."""
    from allocator.importing import check_outputs, import_workbook, write_import
    from allocator.importing.report import report

    _sound([workbook, mapping_file, out], "the path")
    check_outputs(out, force=force, inputs=(workbook, *([mapping_file] if mapping_file else [])))
    imported = import_workbook(workbook, sheet=sheet, mapping_file=mapping_file, skip_bad=skip_bad)
    text = report(imported)
    click.echo(text)
    if imported.sheet.hidden:
        from allocator.importing.report import hidden_rows

        click.echo(f"warning: {workbook}: sheet {imported.sheet.name}: {hidden_rows(imported.sheet.hidden)}", err=True)
    for check_ in imported.rows.checks:
        if not check_.agrees:
            click.echo(f"warning: {workbook}: sheet {imported.sheet.name}, row {check_.row} ({check_.label}), column {check_.column}: "
                       f"stated {check_.stated:,.2f}, the detail rows add up to {check_.summed:,.2f} "
                       f"(difference {check_.difference:+,.2f}{'万元' if check_.money else ''})", err=True)
    bad = sorted(imported.rows.bad_rows)
    if bad and not skip_bad:
        raise InputError(f"{len(bad)} row{'s' if len(bad) > 1 else ''} ({', '.join(map(str, bad[:10]))}{' …' if len(bad) > 10 else ''}) "
                         f"{'have' if len(bad) > 1 else 'has'} problems, listed above; nothing written: fix them (or map them with --map), or pass --skip-bad",
                         source=str(workbook))
    if not imported.written:
        raise InputError("every project row has a problem (listed above); nothing written", source=str(workbook))
    for path in write_import(imported, out, text):
        click.echo(f"written {path}")


@main.command("init")
@click.argument("folder", type=PATH)
@click.option("--province", "provinces", multiple=True, metavar="NAME",
              help="A province whose counties the starter covers (浙江省 or 浙江; repeatable; default: all).")
@click.option("--from", "source", type=PATH, default=None, metavar="SCENARIO.toml",
              help="Take the types, sources, targets, balance rules and tables of this scenario, cut to the provinces.")
@reports_errors
def init_command(folder: Path, provinces: tuple[str, ...], source: Path | None) -> None:
    """Write a starter FOLDER: a commented scenario.toml, regions.csv, an application template with drop-downs
    (projects_template.xlsx) and its example rows imported as projects.csv, so `allocate run` works at once (docs/import.md)."""
    from allocator.importing.starter import write_starter

    _sound([folder], "FOLDER")
    _sound([source], "--from")
    for path in write_starter(folder, provinces, source):
        click.echo(f"written {path}")
    click.echo(f"\nnext: fill in {folder / 'projects_template.xlsx'}, then\n"
               f"  allocate import {folder / 'projects_template.xlsx'} --out {folder / 'projects.csv'} --force\n"
               f"  allocate run {folder / 'scenario.toml'}")


@main.command("serve")
@click.option("--workspace", type=PATH, default=Path("."), show_default=True,
              help="The folder of scenarios (*.toml) and runs (runs/) the workbench may see; nothing outside it is served.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="The port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to bind (default: this machine only).")
@reports_errors
def serve_command(workspace: Path, port: int, host: str) -> None:
    """The workbench in the browser: open a scenario, change budgets and targets, solve, compare (docs/workbench.md)."""
    from allocator.serve.app import serve

    _sound([workspace], "--workspace")
    serve(workspace, host=host, port=port, announce=lambda address: click.echo(f"allocate workbench: {address}  (Ctrl+C stops it)"))

"""Budget-proposal outputs of a run: ``budget_proposal.xlsx``, ``report.md`` and ``report.html``.

``write_reports`` is called by :func:`allocator.rundir.write_run` for every run; ``export`` makes the
same files later from a run directory (``allocate export RUN_DIR``)."""

from __future__ import annotations

import os
from pathlib import Path

from allocator.errors import InputError, InternalError
from allocator.outdir import Target, exported
from allocator.report.document import write_report
from allocator.report.workbook import write_workbook
from allocator.runformat.names import WORKBOOK, report_file
from allocator.runformat.run import Run, read_run

FORMATS = ("xlsx", "md", "html", "all")

__all__ = ["FORMATS", "export", "write_report", "write_reports", "write_workbook"]


def write_reports(run: Run, folder: Path, lang: str = "zh") -> list[Path]:
    """Every budget-proposal output of a run being written into `folder` (its run directory)."""
    return [write_workbook(run, Path(folder) / report_file(WORKBOOK, lang), lang), *write_report(run, Path(folder), lang)]


def export(run_dir: Path, fmt: str = "all", lang: str = "zh", out: Path | None = None) -> list[Path]:
    """Make the budget-proposal outputs of a finished run directory, into `out` (default: the run directory).

    `out` must be new, empty, the run directory or a folder of earlier exports (allocator.outdir.exported).
    An English export gets ``_en`` before the suffix so it never replaces the Chinese one written by the run."""
    if fmt not in FORMATS:
        raise InternalError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    run = read_run(run_dir)
    if not run.has_allocation or not len(run.allocation.columns):
        raise InputError(f"{run_dir} holds no allocation (status {run.status}): see its diagnosis.md")
    folder = Path(out) if out else Path(run_dir)
    if out is None and folder.is_symlink():  # a link to a run: write into the run itself
        folder = Path(os.path.realpath(folder))
    written: list[Path] = []
    with exported(Target(folder, kind="export", option="--out" if out else "RUN_DIR"), Path(run_dir)) as staging:  # each file appears whole, or not at all
        if fmt in ("xlsx", "all"):
            written.append(write_workbook(run, staging / report_file(WORKBOOK, lang), lang))
        if fmt in ("md", "html", "all"):
            written += write_report(run, staging, lang, markdown=fmt in ("md", "all"), html_=fmt in ("html", "all"))
    return [folder / path.name for path in written]

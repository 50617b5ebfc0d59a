"""Budget-proposal outputs of a run: ``budget_proposal.xlsx``, ``report.md`` and ``report.html``.

``write_reports`` is called by :func:`allocator.rundir.write_run` for every run; ``export`` makes the
same files later from a run directory (``allocate export RUN_DIR``)."""

from __future__ import annotations

import os
from pathlib import Path

from allocator.outdir import Target, exported
from allocator.report.document import REPORT_HTML, REPORT_MD, write_report
from allocator.report.source import RunData, read_run_dir
from allocator.report.workbook import WORKBOOK_NAME, write_workbook

FORMATS = ("xlsx", "md", "html", "all")

__all__ = ["FORMATS", "REPORT_HTML", "REPORT_MD", "WORKBOOK_NAME", "RunData", "export", "read_run_dir", "write_reports",
           "write_report", "write_workbook"]


def write_reports(result: object, manifest: dict[str, object], folder: Path, lang: str = "zh") -> list[Path]:
    """Every budget-proposal output of a result being written into `folder` (its run directory)."""
    run = RunData.from_result(result, manifest)
    return [write_workbook(run, Path(folder) / WORKBOOK_NAME, lang), *write_report(run, Path(folder), lang)]


def export(run_dir: Path, fmt: str = "all", lang: str = "zh", out: Path | None = None) -> list[Path]:
    """Make the budget-proposal outputs of a finished run directory, into `out` (default: the run directory).

    `out` must be new, empty, the run directory or a folder of earlier exports (allocator.outdir.exported).
    An English export gets ``_en`` before the suffix so it never replaces the Chinese one written by the run."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    run = read_run_dir(Path(run_dir))
    folder = Path(out) if out else Path(run_dir)
    if out is None and folder.is_symlink():  # a link to a run: write into the run itself
        folder = Path(os.path.realpath(folder))
    suffix = "" if lang == "zh" else f"_{lang}"
    written: list[Path] = []
    with exported(Target(folder, kind="export"), Path(run_dir)) as staging:  # each file appears whole, or not at all
        if fmt in ("xlsx", "all"):
            written.append(write_workbook(run, staging / f"budget_proposal{suffix}.xlsx", lang))
        if fmt in ("md", "html", "all"):
            written += write_report(run, staging, lang, markdown=fmt in ("md", "all"), html_=fmt in ("html", "all"), suffix=suffix)
    return [folder / path.name for path in written]

"""What the files of a run directory are called (no other import: allocator.outdir reads these at start-up)."""

from __future__ import annotations

MANIFEST = "manifest.json"
#: A run that found no allocation has this and the manifest, and nothing else.
DIAGNOSIS = "diagnosis.md"
#: The tables every run with an allocation has, in the order they are written.
TABLES = ("allocation", "by_source", "by_zone", "by_province", "by_region", "by_type", "indicators")
#: Tables a run has only sometimes: marginal values (unless --marginal none), phasing by year, equity (with residents).
OPTIONAL_TABLES = ("marginal", "by_year", "equity")
#: The shares of the formula baseline (``allocate baseline``), beside its tables.
BASELINE_SHARES = "baseline_shares"
#: The budget-proposal outputs (allocator.report); an export in another language adds ``_<lang>`` to the stem.
WORKBOOK, REPORT_MD, REPORT_HTML = "budget_proposal.xlsx", "report.md", "report.html"
REPORTS = (WORKBOOK, REPORT_MD, REPORT_HTML)
#: What every run's manifest.json holds.
MANIFEST_REQUIRED = ("scenario", "status", "versions", "created")
#: The languages of headers, labels and reports (Chinese first: its files carry no suffix).
LANGUAGES = ("zh", "en")


def table_file(table: str) -> str:
    """The file a table is written to: ``allocation`` -> ``allocation.csv``."""
    return f"{table}.csv"


def report_file(name: str, lang: str = "zh") -> str:
    """The file of a report in `lang`: ``report.md`` in Chinese, ``report_en.md`` in English."""
    stem, dot, suffix = name.rpartition(".")
    return name if lang == "zh" else f"{stem}_{lang}{dot}{suffix}"


#: Every file a run directory may hold apart from its reports.
#: Each province's money and result of a two-stage allocation (``allocate cascade``), beside its tables.
CASCADE = "cascade"
RUN_FILES = frozenset({MANIFEST, DIAGNOSIS, *(table_file(t) for t in (*TABLES, *OPTIONAL_TABLES, BASELINE_SHARES, CASCADE))})

"""The format of a run directory, in one place: what its files are called (:mod:`.names`), how a table
is written to CSV and read back (:mod:`.tables`), what ``manifest.json`` holds (:mod:`.manifest`), a run
in memory and how it is read back (:mod:`.run`), and how a cell is parsed and shown (:mod:`.cells`,
:mod:`.markdown`).

Everything that writes or reads a run (allocator.rundir, allocator.report, compare, sweep, simulate)
goes through here; this package depends on nothing else in allocator but its errors.
"""

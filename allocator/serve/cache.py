"""What the workbench keeps in memory between solves, so that a re-solve does not read the same files again: the data
tables a worker process has read (:class:`TableCache`) and the runs the server has read for a page (:class:`RunCache`).

Both are keyed by each file's :func:`stamp` (device, inode, size, modification and change times, in nanoseconds), taken
when it is used: a file changed on disk in any way (rewritten, replaced, touched back to its old time) has a new stamp
and is read again, so nothing stale is ever served. Each keeps a few entries, the least recently used going first."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

import pandas as pd

from allocator.data import TableFile, read_table
from allocator.runformat.names import MANIFEST, OPTIONAL_TABLES, TABLES, table_file
from allocator.runformat.run import Run, read_run

Stamp = tuple[int, int, int, int, int]
T = TypeVar("T")


def stamp(path: Path) -> Stamp | None:
    """What identifies `path`'s content on disk (None when there is no file): any change to the file changes it (its
    change time cannot be set back)."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns


class Recent(Generic[T]):
    """The `size` most recently used values, by key (thread-safe: the server reads runs in its thread pool)."""

    def __init__(self, size: int):
        self.size = size
        self._values: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> T | None:
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: Hashable, value: T) -> None:
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.size:
                self._values.popitem(last=False)


Table = tuple[pd.DataFrame, TableFile]


class TableCache:
    """:func:`allocator.data.read_table` with memory: a table read before, unchanged since, is not read again. Each call
    returns its own copy of the frame, since checking it against a scenario changes it."""

    def __init__(self, read: Callable[[Path], Table], size: int = 8):
        self.read = read
        self.tables: Recent[Table] = Recent(size)

    def __call__(self, path: Path) -> Table:
        key = (str(Path(path).resolve()), stamp(path))
        if key[1] is None:
            return self.read(path)  # missing or unreadable: the reader says so, naming the file
        found = self.tables.get(key)
        if found is None:
            found = self.read(path)
            if stamp(path) == key[1]:  # not changed while it was read
                self.tables.put(key, found)
        frame, file = found
        return frame.copy(deep=True), file


#: The tables a worker process has read (allocator.serve.worker passes it to load_data).
TABLES_READ = TableCache(read_table)


class RunCache:
    """Runs read back (:func:`allocator.runformat.run.read_run`), by folder and the stamps of its manifest and tables."""

    def __init__(self, size: int = 8):
        self.runs: Recent[Run] = Recent(size)

    def read(self, folder: Path) -> Run:
        """The run in `folder`, read again when any of its files changed (or appeared, or went)."""
        key = _run_key(folder)
        run = self.runs.get(key)
        if run is None:
            run = read_run(folder)
            if _run_key(folder) == key:  # not changed while it was read
                self.runs.put(key, run)
        return run


def _run_key(folder: Path) -> tuple[str, tuple[Stamp | None, ...]]:
    files = [folder / MANIFEST, *(folder / table_file(name) for name in (*TABLES, *OPTIONAL_TABLES))]
    return str(folder), tuple(stamp(f) for f in files)

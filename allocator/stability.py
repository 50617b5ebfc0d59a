"""A previous plan as the reference of this one (``[stability]`` or ``allocate run --from RUN_DIR``).

The reference is read from a run directory's allocation.csv and matched to the projects table by
project_id. What it does in the model (keep every project it funds, or pay for each project added or
dropped) is in :mod:`allocator.model.status`; the churn between two runs is in :mod:`allocator.compare`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from allocator.errors import InputError
from allocator.scenario import Stability

if TYPE_CHECKING:
    from allocator.data import Data

#: Project ids named in the note about reference projects missing from the table.
MISSING_SHOWN = 5


@dataclass(frozen=True)
class ReferencePlan:
    """The reference run's selection on this projects table."""

    path: Path
    funded: np.ndarray  # per project of this table: funded in the reference
    missing: tuple[str, ...]  # projects funded in the reference that this table lacks

    @property
    def notes(self) -> tuple[str, ...]:
        if not self.missing:
            return ()
        shown = ", ".join(self.missing[:MISSING_SHOWN]) + (", ..." if len(self.missing) > MISSING_SHOWN else "")
        return (f"{len(self.missing)} project(s) funded in the reference plan {self.path} are not in the projects table "
                f"and cannot be kept: {shown}",)


def load_reference(stability: Stability, data: Data) -> ReferencePlan | None:
    """The reference plan of `stability` matched to `data`'s projects; None without a reference."""
    if stability.reference is None:
        return None
    funded_ids = reference_funded_ids(stability.reference)
    ids = data.projects["project_id"].astype(str).to_numpy(dtype=object)
    funded = np.isin(ids, list(funded_ids))
    missing = tuple(sorted(funded_ids - set(ids)))
    return ReferencePlan(path=stability.reference, funded=funded, missing=missing)


def reference_funded_ids(path: Path) -> set[str]:
    """The project ids a run directory's allocation funds (selected above one half: a part-funded project counts)."""
    from allocator.runformat.run import read_run

    if not (path / "manifest.json").is_file():
        raise InputError(f"the reference plan {path} is not a run directory (no manifest.json)", where="stability.reference")
    run = read_run(path)
    if not run.has_allocation:
        raise InputError(f"the reference run {path} has no allocation (status {run.status})", where="stability.reference")
    allocation = run.allocation
    return set(allocation.loc[allocation["selected"].astype(float) > 0.5, "project_id"].astype(str))

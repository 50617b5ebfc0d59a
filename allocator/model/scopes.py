"""The groups a rule can act on: the nation, each zone, each province, each region."""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocator.data import Data


def region_groups(data: Data, scope: str) -> tuple[np.ndarray, np.ndarray]:
    """For each region, its group under `scope`; and the groups' labels (sorted, deterministic)."""
    regions = data.regions
    if scope == "national":
        return np.zeros(len(regions), dtype=np.int64), np.array(["national"], dtype=object)
    if scope == "region":
        return np.arange(len(regions), dtype=np.int64), regions["region_id"].to_numpy(dtype=object)
    codes, labels = pd.factorize(regions[scope], sort=True)
    return codes.astype(np.int64), np.asarray(labels, dtype=object)


def project_groups(data: Data, scope: str) -> tuple[np.ndarray, np.ndarray]:
    """For each project, its group under `scope`, and the groups' labels."""
    of_region, labels = region_groups(data, scope)
    return of_region[data.projects["region"].to_numpy()], labels


def member_mask(labels: np.ndarray, members: tuple[str, ...]) -> np.ndarray:
    return np.isin(labels, list(members))

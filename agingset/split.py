"""Group train/test split: a cell design's trajectories and spectra stay on one side."""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from .params import SplitConfig


def group_split(rows: pd.DataFrame, config: SplitConfig, seed: int, group: str = "cell_design_id") -> pd.DataFrame:
    """``rows`` (one per sample_id, snapshot) with a ``split`` column in {train, test}."""
    rows = rows.sort_values(["sample_id", "snapshot"]).reset_index(drop=True)
    splitter = GroupShuffleSplit(n_splits=1, test_size=config.test_fraction, random_state=seed)
    if rows[group].nunique() < 2:
        raise ValueError(f"a group split needs at least 2 distinct {group} values among usable rows")
    train_index, _ = next(splitter.split(rows, groups=rows[group]))
    rows["split"] = "test"
    rows.loc[train_index, "split"] = "train"
    return rows


def leakage(split: pd.DataFrame, group: str) -> int:
    """Number of ``group`` values found on more than one side of the split."""
    sides = split.groupby(group)["split"].nunique()
    return int((sides > 1).sum())

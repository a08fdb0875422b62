"""Leakage-free splits: a cell design's trajectories, snapshots and spectra stay on one side.

Each group (cell design) gets a seeded pseudo-random number from a hash of its id, so its
side does not depend on row order or on which other groups exist: growing the dataset
(``samples``) keeps every existing cell design on the side it had.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from .catalog import GROUP, KEYS
from .params import OodRegion, SplitConfig

SIDES = ("train", "validation", "test")
EXCLUDED = "excluded"  # rows of a cell design that also has held-out (OOD) rows: used nowhere


def _unit_hash(value: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{value}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _assign_groups(groups: list[str], fractions: dict[str, float], seed: int) -> dict[str, str]:
    """Side per group: the side whose share of [0, 1) holds the group's hash, the rest train.

    In a small dataset every hash may fall outside train: the group with the highest hash
    then trains (if its side keeps another group). A side with a positive fraction that no
    hash fell into gets the train group with the lowest hash; train must keep at least one group.
    """
    ranked = sorted(groups, key=lambda group: (_unit_hash(group, seed), group))
    sides = {group: "train" for group in groups}
    low = 0.0
    for side, fraction in fractions.items():
        for group in ranked:
            if low <= _unit_hash(group, seed) < low + fraction:
                sides[group] = side
        low += fraction
    if "train" not in sides.values():
        shared = [group for group in reversed(ranked) if list(sides.values()).count(sides[group]) > 1]
        if shared:
            sides[shared[0]] = "train"
    for side, fraction in fractions.items():
        if fraction > 0 and side not in sides.values():
            candidates = [group for group in ranked if sides[group] == "train"]
            if len(candidates) < 2:
                raise ValueError(f"{len(groups)} cell designs are too few for a {side} part and a train part")
            sides[candidates[0]] = side
    if "train" not in sides.values():
        raise ValueError(f"{len(groups)} cell designs leave none for training")
    return sides


def in_region(values: pd.Series, region: OodRegion) -> pd.Series:
    if region.above is not None:
        return values > region.above
    if region.below is not None:
        return values < region.below
    return values.isin(region.levels)


def group_split(rows: pd.DataFrame, config: SplitConfig, seed: int, group: str = GROUP) -> pd.DataFrame:
    """``rows`` (one per sample_id, snapshot) with ``split`` in train/validation/test by whole groups."""
    rows = rows.sort_values(KEYS).reset_index(drop=True)
    groups = sorted(rows[group].unique())
    if len(groups) < 2:
        raise ValueError(f"a group split needs at least 2 distinct {group} values among usable rows")
    sides = _assign_groups(groups, {"test": config.test_fraction, "validation": config.validation_fraction}, seed)
    rows["split"] = rows[group].map(sides)
    return rows


def ood_split(
    rows: pd.DataFrame, design: pd.DataFrame, config: SplitConfig, seed: int, group: str = GROUP
) -> pd.DataFrame:
    """Hold out the region ``config.ood`` of the design space as the test part.

    A cell design with samples both inside and outside the region (the region is a
    protocol, e.g. a temperature) would straddle the split: its rows outside the region
    are marked ``excluded`` so that test cell designs are never seen in training.
    """
    region = config.ood
    rows = rows.sort_values(KEYS).reset_index(drop=True)
    held_out_samples = set(design.loc[in_region(design[region.column], region), "sample_id"])
    held_out = rows["sample_id"].isin(held_out_samples)
    held_out_groups = set(rows.loc[held_out, group])
    rows["split"] = np.where(held_out, "test", np.where(rows[group].isin(held_out_groups), EXCLUDED, "train"))
    train_groups = sorted(rows.loc[rows["split"] == "train", group].unique())
    if not held_out_groups or not train_groups:
        raise ValueError(
            f"split.ood ({region.column}) leaves {len(held_out_groups)} cell designs held out and "
            f"{len(train_groups)} for training; both must be at least 1"
        )
    if config.validation_fraction > 0:
        sides = _assign_groups(train_groups, {"validation": config.validation_fraction}, seed)
        in_train = rows["split"] == "train"
        rows.loc[in_train, "split"] = rows.loc[in_train, group].map(sides)
    return rows


def split_rows(rows: pd.DataFrame, design: pd.DataFrame, config: SplitConfig, seed: int) -> pd.DataFrame:
    if config.method == "ood":
        return ood_split(rows, design, config, seed)
    return group_split(rows, config, seed)


def leakage(split: pd.DataFrame, keys: str | list[str]) -> int:
    """Number of ``keys`` values found on more than one used side of the split."""
    used = split[split["split"] != EXCLUDED]
    sides = used.groupby(keys)["split"].nunique()
    return int((sides > 1).sum())


def split_metrics(split: pd.DataFrame, group: str = GROUP) -> dict:
    """Sizes per side and the leakage counts, which must all be 0."""
    metrics: dict = {}
    for side in (*SIDES, EXCLUDED):
        part = split[split["split"] == side]
        metrics[f"rows_{side}"] = len(part)
        metrics[f"samples_{side}"] = int(part["sample_id"].nunique())
        metrics[f"groups_{side}"] = int(part[group].nunique())
    metrics["leakage_groups"] = leakage(split, group)
    metrics["leakage_samples"] = leakage(split, "sample_id")
    metrics["leakage_spectra"] = leakage(split, KEYS)
    return metrics

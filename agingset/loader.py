"""Load a built dataset, or any committed version of it, as model-ready arrays.

```python
from agingset.loader import load_dataset

train = load_dataset(".", split="train", targets=["soh"])   # the working copy
test = load_dataset("v1.0", split="test", targets=["soh"])  # a git tag/commit, read through dvc.api
```

Rows are the usable (sample_id, snapshot) rows of the split file, in its order.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .catalog import CHECKED_SPECTRA, CURVES, FEATURES, KEYS, LABEL_COLUMNS, LABELS, SPECTRA, SPLIT
from .noise import feature_views
from .quality import mask_unusable_spectra

# Spectra of one snapshot at several conditions are stacked in this order.
SPECTRUM_CONDITIONS = ("temperature_c", "soc")


@dataclass(frozen=True)
class Dataset:
    """One split of the dataset; row i of every member describes the same (sample_id, snapshot)."""

    features: pd.DataFrame  # x: numeric model inputs
    targets: pd.DataFrame  # y: the requested labels
    meta: pd.DataFrame  # keys, split group, RUL source and m_* provenance
    frequencies_hz: np.ndarray
    spectra: np.ndarray  # complex Z [ohm]: (rows, frequencies), or (rows, conditions, frequencies)
    curves: list[np.ndarray] | None  # per row, (points, 2): discharged A.h and voltage of the C/5 RPT

    def __len__(self) -> int:
        return len(self.meta)


class DatasetError(ValueError):
    """The requested dataset, split or target does not exist."""


def _reader(path_or_rev: str, repo: str):
    local = Path(path_or_rev)
    if local.is_dir():

        def read(path: str) -> pd.DataFrame:
            if not (local / path).exists():
                raise DatasetError(
                    f"{local / path} not found: build the dataset first (`dvc repro` or `agingset run`)"
                )
            return pd.read_parquet(local / path)

        return read

    import dvc.api

    def read_revision(path: str) -> pd.DataFrame:
        try:
            with dvc.api.open(path, repo=repo, rev=path_or_rev, mode="rb") as handle:
                return pd.read_parquet(io.BytesIO(handle.read()))
        except Exception as err:  # dvc raises many types: unknown revision, missing cache, no repo
            raise DatasetError(f"cannot read {path} at revision {path_or_rev!r} of {repo}: {err}") from None

    return read_revision


def _spectra_array(spectra: pd.DataFrame, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Spectra aligned with ``rows``; NaN where a snapshot has none (a failed spectrum)."""
    if "solver_status" in spectra:
        spectra = spectra[spectra["solver_status"] == "ok"]
    frequencies = np.sort(spectra["frequency_hz"].unique())
    conditions = [column for column in SPECTRUM_CONDITIONS if column in spectra]
    per_snapshot = spectra.drop_duplicates([*KEYS, *conditions]).groupby(KEYS).size()
    count = int(per_snapshot.max()) if len(per_snapshot) else 1
    result = np.full((len(rows), count, len(frequencies)), np.nan + 1j * np.nan)
    position = {key: index for index, key in enumerate(zip(rows["sample_id"], rows["snapshot"]))}
    ordered = spectra.sort_values([*KEYS, *conditions, "frequency_hz"])
    for key, group in ordered.groupby(KEYS, sort=False):
        row = position.get(key)
        if row is None:
            continue
        for slot, (_, condition) in enumerate(
            group.groupby(conditions, sort=True) if conditions else [(0, group)]
        ):
            columns = np.searchsorted(frequencies, condition["frequency_hz"].to_numpy())
            result[row, slot, columns] = (
                condition["z_re_ohm"].to_numpy() + 1j * condition["z_im_ohm"].to_numpy()
            )
    return frequencies, result[:, 0, :] if count == 1 else result


def _curves_list(curves: pd.DataFrame, rows: pd.DataFrame) -> list[np.ndarray]:
    grouped = {key: group for key, group in curves.sort_values([*KEYS, "time_s"]).groupby(KEYS)}
    empty = np.empty((0, 2))
    return [
        grouped[key][["discharged_ah", "voltage_v"]].to_numpy() if key in grouped else empty
        for key in zip(rows["sample_id"], rows["snapshot"])
    ]


def load_dataset(
    path_or_rev: str = ".",
    split: str | None = "train",
    targets: list[str] | None = None,
    *,
    repo: str = ".",
    curves: bool = False,
    observables: str = "clean",
) -> Dataset:
    """The rows of one split (``"train"``, ``"test"``, or ``None`` for all usable rows).

    ``path_or_rev`` is a directory holding ``data/`` (the project root, or an ``agingset run``
    output), or else a git revision of the DVC project ``repo`` read through ``dvc.api``.
    ``targets`` defaults to every label column present; ``curves=True`` also returns the RPT
    discharge curves. ``observables``: ``"clean"`` (the simulator's exact values), ``"noisy"``
    (each observable replaced by its instrument-noisy ``noisy_`` twin where it has one), or
    ``"all"`` (both side by side).
    """
    if observables not in ("clean", "noisy", "all"):
        raise DatasetError(f"unknown observables {observables!r}; allowed: clean, noisy, all")
    read = _reader(str(path_or_rev), repo)
    rows = read(SPLIT)
    if split is not None:
        sides = sorted(rows["split"].unique())
        if split not in sides:
            raise DatasetError(f"unknown split {split!r}; allowed: {', '.join(sides)} or None")
        rows = rows[rows["split"] == split]
    rows = rows.reset_index(drop=True)
    labels = rows[KEYS].merge(read(LABELS), on=KEYS, how="left", validate="one_to_one")
    features = rows[KEYS].merge(read(FEATURES), on=KEYS, how="left", validate="one_to_one")
    features = mask_unusable_spectra(features, read(CHECKED_SPECTRA))
    available = [column for column in LABEL_COLUMNS if column in labels]
    targets = available if targets is None else list(targets)
    unknown = [target for target in targets if target not in labels]
    if unknown:
        raise DatasetError(f"unknown targets {unknown}; allowed: {', '.join(available)}")
    meta_columns = [
        c
        for c in labels.columns
        if c in (*KEYS, "cycle", "cell_design_id", "rul80_source") or c.startswith("m_")
    ]
    meta = labels[meta_columns].assign(split=rows["split"].to_numpy())
    frequencies, spectra = _spectra_array(read(SPECTRA), rows)
    numeric = features.drop(columns=KEYS).select_dtypes("number")
    if observables != "all":
        views = feature_views(list(numeric.columns))
        if observables not in views:
            raise DatasetError("this dataset has no noisy_ observables (built without the noise model)")
        numeric = numeric[views[observables]]
    return Dataset(
        features=numeric,
        targets=labels[targets],
        meta=meta,
        frequencies_hz=frequencies,
        spectra=spectra,
        curves=_curves_list(read(CURVES), rows) if curves else None,
    )

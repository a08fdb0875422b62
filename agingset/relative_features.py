"""Features relative to each cell's first RPT: what transfers across cells of one product.

A user of the dataset has each real cell's own first measurement (fresh, or its first test) and the
later ones. A resistance or |Z| in a frequency band divided by the cell's own first value, and an
ICA/DVA peak's shift from its first position, cancel much of what differs between fresh cells of one
product (contact resistance, electrode loading, the fixture) and keep what aging changes. Named
``rel_<feature>`` (ratio to the first snapshot) and ``shift_<feature>`` (difference from it), beside
the absolute features, for the clean and the instrument-noisy observables alike (``noisy_rel_...``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .noise import NOISY_PREFIX

# Resistances read off a spectrum (intercept, arc width; the circuit's series and charge-transfer parts).
RATIO_FEATURE = re.compile(r"^eis_(r0|rct|ecm_r0|ecm_rct)_ohm_(soc\d+_t-?\d+c)$")
# |Z| bands: the ohmic/contact end, the charge-transfer arc, the diffusion tail.
BANDS_HZ = (100.0, 1.0, 0.1)
RAW_RE = re.compile(r"^z_re_ohm_at_(?P<frequency>[0-9.e+-]+)hz_(?P<suffix>soc\d+_t-?\d+c)$")
SHIFT_FEATURE = re.compile(r"^(ica|dva)_peak\d+_position$")


def _band_columns(columns) -> dict[str, tuple[str, str]]:
    """``abs_z_at_<band>hz_<suffix>`` -> (re column, im column) of the grid frequency nearest each band (log f)."""
    grids: dict[str, list[tuple[float, str]]] = {}
    for column in columns:
        match = RAW_RE.match(column)
        if match:
            grids.setdefault(match["suffix"], []).append((float(match["frequency"]), column))
    bands = {}
    for suffix, points in grids.items():
        frequencies = np.array([frequency for frequency, _ in points])
        for band in BANDS_HZ:
            re_column = points[int(np.argmin(np.abs(np.log10(frequencies / band))))][1]
            bands[f"abs_z_at_{band:g}hz_{suffix}"] = (re_column, re_column.replace("z_re_ohm", "z_im_ohm", 1))
    return bands


def _relative(features: pd.DataFrame, prefix: str) -> dict[str, np.ndarray]:
    """The relative features of the observables named ``prefix + name``, aligned with ``features``' rows."""
    names = [column.removeprefix(prefix) for column in features.columns if column.startswith(prefix)]
    if prefix == "":
        names = [name for name in names if not name.startswith(NOISY_PREFIX)]
    values = {name: features[prefix + name].to_numpy(dtype=float) for name in names if RATIO_FEATURE.match(name) or SHIFT_FEATURE.match(name)}
    for band, (re_column, im_column) in _band_columns(names).items():
        if im_column in names:
            values[band] = np.hypot(features[prefix + re_column].to_numpy(dtype=float), features[prefix + im_column].to_numpy(dtype=float))
    # Each row's reference: its sample's first snapshot (the lowest number), NaN where that one lacks the value.
    first = features.groupby("sample_id")["snapshot"].transform("min").to_numpy() == features["snapshot"].to_numpy()
    reference_row = pd.Series(np.flatnonzero(first), index=features["sample_id"].to_numpy()[first])
    rows = reference_row.loc[features["sample_id"].to_numpy()].to_numpy()
    relative = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, value in values.items():
            if SHIFT_FEATURE.match(name):
                relative[f"{prefix}shift_{name}"] = value - value[rows]
            else:
                relative[f"{prefix}rel_{name}"] = value / value[rows]
    return relative


def with_relative_features(features: pd.DataFrame) -> pd.DataFrame:
    """``features`` (one row per (sample_id, snapshot)) with the relative features appended."""
    if features.empty:
        return features
    relative = {**_relative(features, ""), **_relative(features, NOISY_PREFIX)}
    return pd.concat([features, pd.DataFrame(relative, index=features.index)], axis=1)

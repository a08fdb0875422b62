"""Observable features x per (sample_id, snapshot): protocol, RPT voltage curve, impedance.

Spectrum features live in :mod:`agingset.impedance_features`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .catalog import KEYS
from .ica import differential_voltage, incremental_capacity, peak_features
from .impedance_features import impedance_features
from .noise import NOISY_PREFIX, NoiseLevels, noisy_curves
from .params import PROTOCOL_FIELDS, Params, VoltageGrid
from .relative_features import with_relative_features


def capacity_at_voltages(voltage_v: np.ndarray, discharged_ah: np.ndarray, grid_v: np.ndarray) -> np.ndarray:
    """Discharged capacity at which a discharge curve passes each grid voltage.

    The running minimum makes voltage monotonic (a relaxation blip at the start of a
    discharge would otherwise make the inverse ambiguous).
    """
    monotonic = np.minimum.accumulate(voltage_v)
    order = np.argsort(monotonic, kind="stable")
    return np.interp(grid_v, monotonic[order], discharged_ah[order], left=np.nan, right=0.0)


def _curves_by_snapshot(curves: pd.DataFrame):
    """(sample_id, snapshot, discharged_ah, voltage_v) per snapshot in key order, rows in stored
    order: numpy slices of one sorted copy (a pandas group per snapshot cost ~1 ms each)."""
    ordered = curves.sort_values(KEYS, kind="stable")
    samples, snapshots = ordered["sample_id"].to_numpy(), ordered["snapshot"].to_numpy()
    capacity, voltage = ordered["discharged_ah"].to_numpy(dtype=float), ordered["voltage_v"].to_numpy(dtype=float)
    starts = np.flatnonzero(np.r_[True, (samples[1:] != samples[:-1]) | (snapshots[1:] != snapshots[:-1])])
    for start, end in zip(starts, [*starts[1:], len(ordered)]):
        yield samples[start], snapshots[start], capacity[start:end], voltage[start:end]


def curve_features(curves: pd.DataFrame, grid: VoltageGrid) -> pd.DataFrame:
    grid_v = np.linspace(grid.v_min, grid.v_max, grid.points)
    names = [f"rpt_q_ah_at_{v:.3f}v" for v in grid_v]
    rows = [
        {"sample_id": sample_id, "snapshot": snapshot, **dict(zip(names, capacity_at_voltages(voltage, capacity, grid_v)))}
        for sample_id, snapshot, capacity, voltage in _curves_by_snapshot(curves)
    ]
    return pd.DataFrame(rows, columns=KEYS + names)


# ICA/DVA of the C/5 RPT discharge (method in agingset.ica): the two most prominent dQ/dV
# peaks (graphite/NMC staging) and dV/dQ peaks (electrode-stoichiometry landmarks).
ICA_PEAKS = 2
DVA_PEAKS = 2


def ica_dva_features(curves: pd.DataFrame) -> pd.DataFrame:
    """Peak positions and heights of dQ/dV (in V) and dV/dQ (in A.h) per snapshot."""
    rows = []
    for sample_id, snapshot, capacity, voltage in _curves_by_snapshot(curves):
        row = {"sample_id": sample_id, "snapshot": snapshot}
        try:
            row.update(peak_features(*incremental_capacity(capacity, voltage), ICA_PEAKS, "ica"))
            row.update(peak_features(*differential_voltage(capacity, voltage), DVA_PEAKS, "dva"))
        except ValueError:  # too short a curve to differentiate: the peaks stay missing
            pass
        rows.append(row)
    return pd.DataFrame(rows) if rows else curves[KEYS].iloc[:0]


def curve_observables(curves: pd.DataFrame, grid: VoltageGrid) -> pd.DataFrame:
    """Every feature of the RPT discharge curve: capacity on the voltage grid, ICA/DVA peaks."""
    return curve_features(curves, grid).merge(ica_dva_features(curves), on=KEYS, how="left")


def noisy_curve_features(curves: pd.DataFrame, grid: VoltageGrid, levels: NoiseLevels, seed: int) -> pd.DataFrame:
    """The curve features of the curves as a cycler records them (:mod:`agingset.noise`),
    named ``noisy_<clean name>``; one row per (sample_id, snapshot)."""
    observed = curve_observables(noisy_curves(curves, levels, seed), grid)
    return observed.rename(columns={c: f"{NOISY_PREFIX}{c}" for c in observed.columns if c not in KEYS})


def protocol_features(design: pd.DataFrame) -> pd.DataFrame:
    """The cycling protocol as the experimenter set it, plus the voltage window it spans."""
    protocol = design[["sample_id", *PROTOCOL_FIELDS]].copy()
    protocol["voltage_window_v"] = protocol["upper_voltage_v"] - protocol["lower_voltage_v"]
    return protocol


def build_features(
    design: pd.DataFrame,
    curves: pd.DataFrame,
    spectra: pd.DataFrame,
    per_spectrum: pd.DataFrame,
    grid: VoltageGrid,
) -> pd.DataFrame:
    """x per snapshot; ``per_spectrum`` is :func:`agingset.impedance_features.spectrum_feature_table` of ``spectra``."""
    protocol = protocol_features(design)
    features = curve_features(curves, grid).merge(protocol, on="sample_id", how="left")
    features = features.merge(ica_dva_features(curves), on=KEYS, how="left")
    features = features.merge(impedance_features(spectra, per_spectrum), on=KEYS, how="left")
    ordered = KEYS + list(protocol.columns[1:])
    return features[ordered + [c for c in features.columns if c not in ordered]]


def dataset_features(
    design: pd.DataFrame,
    curves: pd.DataFrame,
    spectra: pd.DataFrame,
    per_spectrum: pd.DataFrame,
    noisy_spectra: pd.DataFrame,
    noisy_per_spectrum: pd.DataFrame,
    params: Params,
) -> pd.DataFrame:
    """x per snapshot (:func:`build_features`) and beside it the same observables as instruments record them
    (``noisy_`` prefix): the curves noised here, the spectra by the caller (``noisy_spectra``, whose
    :func:`agingset.impedance_features.spectrum_feature_table` is ``noisy_per_spectrum``); then each cell's
    features relative to its first RPT (:mod:`agingset.relative_features`)."""
    grid = params.labels.voltage_grid
    features = build_features(design, curves, spectra, per_spectrum, grid)
    noisy_curve_table = noisy_curve_features(curves, grid, params.noise, params.seed)
    noisy_impedance = impedance_features(noisy_spectra, noisy_per_spectrum)
    noisy_impedance = noisy_impedance.rename(columns={c: f"{NOISY_PREFIX}{c}" for c in noisy_impedance if c not in KEYS})
    features = features.merge(noisy_curve_table, on=KEYS, how="left").merge(noisy_impedance, on=KEYS, how="left")
    return with_relative_features(features)

"""Observable features x per (sample_id, snapshot): protocol, RPT voltage curve, impedance."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .params import PROTOCOL_FIELDS, VoltageGrid

KEYS = ["sample_id", "snapshot"]


def capacity_at_voltages(voltage_v: np.ndarray, discharged_ah: np.ndarray, grid_v: np.ndarray) -> np.ndarray:
    """Discharged capacity at which a discharge curve passes each grid voltage.

    The running minimum makes voltage monotonic (a relaxation blip at the start of a
    discharge would otherwise make the inverse ambiguous).
    """
    monotonic = np.minimum.accumulate(voltage_v)
    order = np.argsort(monotonic, kind="stable")
    return np.interp(grid_v, monotonic[order], discharged_ah[order], left=np.nan, right=0.0)


def curve_features(curves: pd.DataFrame, grid: VoltageGrid) -> pd.DataFrame:
    grid_v = np.linspace(grid.v_min, grid.v_max, grid.points)
    names = [f"rpt_q_ah_at_{v:.3f}v" for v in grid_v]
    rows = []
    for (sample_id, snapshot), curve in curves.groupby(KEYS, sort=True):
        q = capacity_at_voltages(curve["voltage_v"].to_numpy(), curve["discharged_ah"].to_numpy(), grid_v)
        rows.append({"sample_id": sample_id, "snapshot": snapshot, **dict(zip(names, q))})
    return pd.DataFrame(rows, columns=KEYS + names)


def spectrum_features(frequency_hz: np.ndarray, z_re: np.ndarray, z_im: np.ndarray) -> dict[str, float]:
    """High-frequency intercept, charge-transfer arc width and apex, low-frequency tail slope."""
    order = np.argsort(frequency_hz)[::-1]
    f, re, minus_im = frequency_hz[order], z_re[order], -z_im[order]
    # Arc apex: the largest -Z_im before the spectrum turns into the diffusion tail.
    minima = [i for i in range(1, len(f) - 1) if minus_im[i] <= minus_im[i - 1] and minus_im[i] < minus_im[i + 1]]
    arc_end = minima[0] if minima else len(f) - 1
    apex = int(np.argmax(minus_im[: arc_end + 1]))
    r0 = float(re[0])
    tail = slice(max(arc_end, len(f) - 3), len(f))
    tail_slope = (
        float(np.polyfit(re[tail], minus_im[tail], 1)[0]) if len(re[tail]) >= 2 and np.ptp(re[tail]) > 0 else np.nan
    )
    return {
        "eis_r0_ohm": r0,
        "eis_rct_ohm": float(re[arc_end] - r0),
        "eis_apex_hz": float(f[apex]),
        "eis_apex_minus_zim_ohm": float(minus_im[apex]),
        "eis_tail_slope": tail_slope,
    }


def impedance_features(spectra: pd.DataFrame) -> pd.DataFrame:
    """Summary features and the raw spectrum (Re, Im per grid frequency) per snapshot."""
    rows = []
    for (sample_id, snapshot), spectrum in spectra.groupby(KEYS, sort=True):
        spectrum = spectrum.sort_values("frequency_hz")
        f = spectrum["frequency_hz"].to_numpy()
        re, im = spectrum["z_re_ohm"].to_numpy(), spectrum["z_im_ohm"].to_numpy()
        row = {"sample_id": sample_id, "snapshot": snapshot}
        if np.all(np.isfinite(re)) and np.all(np.isfinite(im)):
            row.update(spectrum_features(f, re, im))
        for index, frequency in enumerate(f):
            row[f"z_re_ohm_at_{frequency:.4g}hz"] = re[index]
            row[f"z_im_ohm_at_{frequency:.4g}hz"] = im[index]
        rows.append(row)
    return pd.DataFrame(rows)


def protocol_features(design: pd.DataFrame) -> pd.DataFrame:
    """The cycling protocol as the experimenter set it, plus the voltage window it spans."""
    protocol = design[["sample_id", *PROTOCOL_FIELDS]].copy()
    protocol["voltage_window_v"] = protocol["upper_voltage_v"] - protocol["lower_voltage_v"]
    return protocol


def build_features(
    design: pd.DataFrame, curves: pd.DataFrame, spectra: pd.DataFrame, grid: VoltageGrid
) -> pd.DataFrame:
    protocol = protocol_features(design)
    features = curve_features(curves, grid).merge(protocol, on="sample_id", how="left")
    features = features.merge(impedance_features(spectra), on=KEYS, how="left")
    ordered = KEYS + list(protocol.columns[1:])
    return features[ordered + [c for c in features.columns if c not in ordered]]

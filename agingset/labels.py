"""Hidden-state labels y per (sample_id, snapshot), from the RPT measurements."""

from __future__ import annotations

import numpy as np
import pandas as pd

RUL_SIMULATED, RUL_EXTRAPOLATED, RUL_CENSORED = "simulated", "extrapolated", "censored"

LABEL_COLUMNS = [
    "soh",
    "lli_pct",
    "lam_ne_pct",
    "lam_pe_pct",
    "li_lost_plating_mol",
    "capacity_lost_sei_ah",
    "capacity_lost_sei_cracks_ah",
    "capacity_lost_plating_ah",
    "resistance_ohm",
    "rul80_cycles",
]


def _end_of_life_cycle(cycles: np.ndarray, soh: np.ndarray, eol_soh: float) -> tuple[float, str]:
    """Cycle at which SOH first reaches ``eol_soh``, interpolated between snapshots.

    Where the trajectory never reaches it, a linear extrapolation of the last two
    snapshots is trusted only up to the simulated span again; beyond that the RUL is
    censored at the last simulated cycle.
    """
    below = np.flatnonzero(soh <= eol_soh)
    if below.size:
        k = below[0]
        if k == 0:
            return float(cycles[0]), RUL_SIMULATED
        fraction = (soh[k - 1] - eol_soh) / (soh[k - 1] - soh[k])
        return float(cycles[k - 1] + fraction * (cycles[k] - cycles[k - 1])), RUL_SIMULATED
    if len(cycles) >= 2:
        slope = (soh[-1] - soh[-2]) / (cycles[-1] - cycles[-2])
        if slope < 0:
            crossing = cycles[-1] + (eol_soh - soh[-1]) / slope
            if crossing - cycles[-1] <= cycles[-1] - cycles[0]:
                return float(crossing), RUL_EXTRAPOLATED
    return float(cycles[-1]), RUL_CENSORED


def build_labels(snapshots: pd.DataFrame, eol_soh: float) -> pd.DataFrame:
    """SOH from measured RPT capacity, degradation modes, resistance and RUL-to-EOL."""
    frames = []
    for sample_id, trajectory in snapshots.groupby("sample_id", sort=False):
        trajectory = trajectory.sort_values("snapshot")
        capacity = trajectory["rpt_capacity_ah"].to_numpy()
        soh = capacity / capacity[0]
        cycles = trajectory["cycle"].to_numpy(dtype=float)
        eol_cycle, source = _end_of_life_cycle(cycles, soh, eol_soh)
        frame = trajectory[["sample_id", "snapshot", "cycle", "rpt_capacity_ah"]].copy()
        frame["soh"] = soh
        for column in LABEL_COLUMNS:
            if column in trajectory:
                frame[column] = trajectory[column].to_numpy()
        frame["resistance_ohm"] = trajectory["pulse_resistance_ohm"].to_numpy()
        frame["rul80_cycles"] = np.maximum(eol_cycle - cycles, 0.0)
        frame["rul80_source"] = source
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)

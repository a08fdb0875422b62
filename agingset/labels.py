"""Hidden-state labels y per (sample_id, snapshot), from the RPT measurements, and the flat
provenance columns (``m_*``) that travel with them.

End of life, RUL and the knee are properties of a whole trajectory; they are computed
once per sample and repeated on its snapshot rows. Methods are documented in
docs/physics.md (labels).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .catalog import (
    AGE_COLUMNS,
    DEGRADATION_COLUMNS,
    LABEL_COLUMNS,
    RUL_CENSORED,
    RUL_EXTRAPOLATED,
    RUL_SIMULATED,
)
from .design import cell_parameter_columns
from .noise import sample_offsets
from .params import LabelsConfig, NoiseConfig, Params


@dataclass(frozen=True)
class EndOfLife:
    """First cycle with SOH <= eol_soh (NaN when censored) and how it was found."""

    cycle: float
    source: str


def power_law_crossing(cycles: np.ndarray, soh: np.ndarray, eol_soh: float, fit_points: int) -> float:
    """Cycle where the power law 1 - SOH = a N^b through the last RPTs reaches ``eol_soh``.

    The fit is least squares in log-log space over the last ``fit_points`` snapshots
    after cycle 0 that show fade; it follows both decelerating (SEI, b < 1) and
    accelerating (plating, LAM, b > 1) trajectories. NaN when it cannot be fitted or
    does not fade.
    """
    usable = (cycles > 0) & (soh < 1.0)
    n, fade = cycles[usable][-fit_points:], 1.0 - soh[usable][-fit_points:]
    if len(n) < 2:
        return np.nan
    exponent, log_prefactor = np.polyfit(np.log(n), np.log(fade), 1)
    if not exponent > 0:
        return np.nan
    return float(np.exp((np.log(1.0 - eol_soh) - log_prefactor) / exponent))


def end_of_life(cycles: np.ndarray, soh: np.ndarray, config: LabelsConfig) -> EndOfLife:
    """Simulated crossing (linear between RPTs), else a power-law extrapolation trusted
    up to ``rul_extrapolation_limit_cycles`` past the horizon, else censored."""
    eol_soh = config.eol_soh
    below = np.flatnonzero(soh <= eol_soh)
    if below.size:
        k = below[0]
        if k == 0:
            return EndOfLife(float(cycles[0]), RUL_SIMULATED)
        fraction = (soh[k - 1] - eol_soh) / (soh[k - 1] - soh[k])
        return EndOfLife(float(cycles[k - 1] + fraction * (cycles[k] - cycles[k - 1])), RUL_SIMULATED)
    crossing = power_law_crossing(cycles, soh, eol_soh, config.rul_fit_points)
    if np.isfinite(crossing) and crossing - cycles[-1] <= config.rul_extrapolation_limit_cycles:
        return EndOfLife(crossing, RUL_EXTRAPOLATED)
    return EndOfLife(np.nan, RUL_CENSORED)


@dataclass(frozen=True)
class Knee:
    cycle: float
    capacity_retention: float


def knee_point(
    cycles: np.ndarray, capacity: np.ndarray, min_slope_ratio: float, margin: int = 3
) -> Knee | None:
    """Knee of a capacity-vs-cycle curve by a Bacon-Watts fit, or None where there is none.

    The Bacon-Watts model y = a0 + a1 (x - x1) + a2 (x - x1) tanh((x - x1) / g) is used
    in its sharp limit (g -> 0): two straight lines joined at x1, slopes a1 - a2 before
    and a1 + a2 after. x1 is chosen by least squares over the interior cycles (``margin``
    points from each end). A knee exists where capacity falls after x1 at least
    ``min_slope_ratio`` times faster than before (Fermín-Cueto et al. 2020, Energy & AI 1,
    100006). Capacity retention is relative to the first cycle.
    """
    if len(cycles) < 2 * margin + 1:
        return None
    retention = capacity / capacity[0]
    best = None
    for x1 in cycles[margin:-margin]:
        basis = np.column_stack([np.ones_like(cycles), cycles - x1, np.abs(cycles - x1)])
        coefficients, *_ = np.linalg.lstsq(basis, retention, rcond=None)
        sse = float(np.sum((basis @ coefficients - retention) ** 2))
        if best is None or sse < best[0]:
            best = (sse, x1, coefficients)
    _, x1, (a0, a1, a2) = best
    before, after = a1 - a2, a1 + a2
    if after < 0 and after <= min_slope_ratio * min(before, 0.0):
        return Knee(float(x1), float(a0))
    return None


def _trajectory_labels(trajectory: pd.DataFrame, cycle_capacity: pd.DataFrame | None, config: LabelsConfig):
    trajectory = trajectory.sort_values("snapshot")
    capacity = trajectory["rpt_capacity_ah"].to_numpy()
    soh = capacity / capacity[0]
    cycles = trajectory["cycle"].to_numpy(dtype=float)
    eol = end_of_life(cycles, soh, config)
    knee = None
    if cycle_capacity is not None and len(cycle_capacity):
        # The first cycle after an RPT starts from the RPT's full 4.2 V charge, not from the
        # protocol's window, and the first after a jump relaxes the extrapolated state: either
        # would put a tooth in the curve.
        # (`after_jump` is object-typed once a failed sample's empty table joins the concatenation.)
        on_curve = (cycle_capacity["cycle_in_block"] > 1) & ~cycle_capacity["after_jump"].astype(bool)
        cycle_capacity = cycle_capacity[on_curve].sort_values("cycle")
        knee = knee_point(
            cycle_capacity["cycle"].to_numpy(dtype=float),
            cycle_capacity["discharge_capacity_ah"].to_numpy(),
            config.knee_min_slope_ratio,
        )

    frame = trajectory[["sample_id", "snapshot", "cycle", "rpt_capacity_ah"]].copy()
    frame["soh"] = soh
    for column in (*AGE_COLUMNS, *DEGRADATION_COLUMNS):
        frame[column] = trajectory[column].to_numpy() if column in trajectory else np.nan
    frame["resistance_ohm"] = trajectory["pulse_resistance_ohm"].to_numpy()
    frame["eol_cycle"] = eol.cycle
    # A censored RUL is unknown, not a number: only its lower bound (the cycles left in
    # the simulated horizon) is stored.
    frame["rul80_cycles"] = np.maximum(eol.cycle - cycles, 0.0)
    frame["rul80_lower_bound"] = np.where(
        np.isfinite(frame["rul80_cycles"]), frame["rul80_cycles"], cycles[-1] - cycles
    )
    frame["rul80_source"] = eol.source
    frame["knee_cycle"] = knee.cycle if knee else np.nan
    frame["knee_capacity_retention"] = knee.capacity_retention if knee else np.nan
    return frame


def build_labels(snapshots: pd.DataFrame, cycles: pd.DataFrame, config: LabelsConfig) -> pd.DataFrame:
    """One row per (sample_id, snapshot) of every sample that has measurements."""
    columns = ["sample_id", "snapshot", "cycle", "rpt_capacity_ah", *LABEL_COLUMNS, "rul80_source"]
    if snapshots.empty:
        return pd.DataFrame(columns=columns)
    per_sample_cycles = dict(tuple(cycles.groupby("sample_id"))) if not cycles.empty else {}
    frames = [
        _trajectory_labels(trajectory, per_sample_cycles.get(sample_id), config)
        for sample_id, trajectory in snapshots.groupby("sample_id", sort=True)
    ]
    return pd.concat(frames, ignore_index=True)[columns]


def sample_summary(status: pd.DataFrame, labels: pd.DataFrame, metadata: pd.DataFrame) -> pd.DataFrame:
    """One row per sample, whatever its status: why it has (or has no) labels, its end of
    life, knee and the hash of its m_i record."""
    per_sample = labels.groupby("sample_id").agg(
        eol_cycle=("eol_cycle", "first"),
        rul80_source=("rul80_source", "first"),
        knee_cycle=("knee_cycle", "first"),
        final_soh=("soh", "last"),
    )
    summary = status.merge(per_sample.reset_index(), on="sample_id", how="left")
    if not metadata.empty:
        summary = summary.merge(metadata[["sample_id", "metadata_sha256"]], on="sample_id", how="left")
        summary = summary.merge(reference_range_columns(metadata), on="sample_id", how="left")
    return summary.sort_values("sample_id", ignore_index=True)


def reference_range_columns(metadata: pd.DataFrame) -> pd.DataFrame:
    """Per sample, from its m_i: whether its cycling (``aging_reference_cycling``) and its storage
    (``aging_reference_calendar``, missing without storage) lie inside the measured LG M50 fade the
    degradation rates were fitted to, and what lies outside (``aging_reference_outside``, "; "-joined)."""
    rows = []
    for sample_id, text in zip(metadata["sample_id"], metadata["metadata_json"]):
        reference = json.loads(text).get("aging_reference", {})
        rows.append(
            {
                "sample_id": sample_id,
                "aging_reference_cycling": reference.get("cycling_inside"),
                "aging_reference_calendar": reference.get("calendar_inside"),
                "aging_reference_outside": "; ".join(reference.get("outside", [])),
            }
        )
    return pd.DataFrame(rows, columns=["sample_id", "aging_reference_cycling", "aging_reference_calendar", "aging_reference_outside"])


# ---- m: provenance columns beside the labels ------------------------------------------------------


def provenance_columns(design: pd.DataFrame, metadata: dict) -> pd.DataFrame:
    """A flat summary of m per sample, prefixed ``m_`` (the full record is metadata.jsonl)."""
    m = design[["sample_id", *cell_parameter_columns(design)]].copy()
    m.columns = ["sample_id"] + [f"m_{name}" for name in m.columns[1:]]
    m["m_model_family"] = metadata["model"]["family"]
    m["m_parameter_set"] = metadata["model"]["parameter_set"]
    m["m_model_options"] = json.dumps(metadata["model"]["options"], sort_keys=True)
    m["m_var_pts"] = json.dumps(metadata["model"]["var_pts"], sort_keys=True)
    m["m_solver"] = metadata["solver"]["name"]
    m["m_rtol"] = metadata["solver"]["rtol"]
    m["m_atol"] = metadata["solver"]["atol"]
    m["m_pybamm_version"] = metadata["versions"]["pybamm"]
    m["m_seed"] = metadata["seed"]
    return m


def noise_provenance(sample_ids, noise: NoiseConfig, seed: int) -> pd.DataFrame:
    """The noise levels and the current offset each sample's noisy observables carry (``m_noise_*``)."""
    m = sample_offsets(sample_ids, noise, seed).rename(columns={"current_offset_a": "m_noise_current_offset_drawn_a"})
    for name, value in noise.model_dump().items():
        m[f"m_noise_{name}"] = value
    return m


# ---- the labels stage's tables ---------------------------------------------------------------


def dataset_labels(
    design: pd.DataFrame, aging: dict[str, pd.DataFrame], run_metadata: dict, params: Params
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The labels table and :func:`sample_summary`, from the design, the aging stage's tables
    (``snapshots``, ``cycles``, ``status``, ``metadata``) and its metadata.json: y per snapshot, then
    the sample's cell design, its ``m_*`` provenance, the hash of its m_i record and the noise its
    noisy observables carry."""
    labels = build_labels(aging["snapshots"], aging["cycles"], params.labels)
    labels = labels.merge(design[["sample_id", "cell_design_id"]], on="sample_id", how="left")
    labels = labels.merge(provenance_columns(design, run_metadata), on="sample_id", how="left")
    labels = labels.merge(aging["metadata"][["sample_id", "metadata_sha256"]], on="sample_id", how="left")
    labels = labels.merge(noise_provenance(labels["sample_id"], params.noise, params.seed), on="sample_id", how="left")
    return labels, sample_summary(aging["status"], labels, aging["metadata"])


def metadata_jsonl(metadata: pd.DataFrame) -> str:
    """m_i as JSON lines (metadata.jsonl): one object per sample, sorted by sample_id, with the sha256 that
    labels and samples carry."""
    return "".join(
        json.dumps(
            {"sample_id": row.sample_id, "sha256": row.metadata_sha256, "m": json.loads(row.metadata_json)},
            sort_keys=True,
        )
        + "\n"
        for row in metadata.sort_values("sample_id").itertuples()
    )

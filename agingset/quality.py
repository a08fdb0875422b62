"""Per-row quality flags and dataset-level quality metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .params import ValidateConfig

CORE_LABELS = ["soh", "lli_pct", "lam_ne_pct", "lam_pe_pct", "resistance_ohm"]


def flag_rows(
    design: pd.DataFrame,
    status: pd.DataFrame,
    labels: pd.DataFrame,
    spectra: pd.DataFrame,
    config: ValidateConfig,
) -> pd.DataFrame:
    """One row per (sample_id, snapshot) with a boolean column per flag and ``usable``."""
    rows = labels[["sample_id", "snapshot"]].copy()
    rows = rows.merge(status[["sample_id", "status"]], on="sample_id", how="left")
    rows["flag_solver_status"] = rows["status"] != "ok"

    values = labels[CORE_LABELS]
    rows["flag_missing_label"] = values.isna().any(axis=1).to_numpy()
    numeric = labels.select_dtypes("number")
    rows["flag_non_finite"] = (~np.isfinite(numeric.fillna(0.0))).any(axis=1).to_numpy()
    soh = labels["soh"]
    rows["flag_soh_out_of_bounds"] = ~((soh > 0) & (soh <= config.soh_max)).to_numpy()
    noise = config.numerical_noise_pct
    rows["flag_negative_degradation"] = (
        (labels[["lli_pct", "lam_ne_pct", "lam_pe_pct"]] < -noise).any(axis=1).to_numpy()
    )

    duplicated_designs = design.loc[design["sample_id"].duplicated(keep="first"), "sample_id"]
    rows["flag_duplicate_sample"] = rows["sample_id"].isin(set(duplicated_designs))

    keys = ["sample_id", "snapshot"]
    # A snapshot has one spectrum per (temperature, SOC): duplicates are within one spectrum.
    duplicated = spectra.duplicated(keys + ["temperature_c", "soc", "frequency_hz"])
    per_spectrum = spectra.assign(duplicated=duplicated).groupby(keys).agg(
        spectrum_ok=("solver_status", lambda s: bool((s == "ok").all())),
        re_z_positive=("z_re_ohm", lambda z: bool((z > 0).all())),
        duplicate_points=("duplicated", "any"),
    )
    rows = rows.merge(per_spectrum.reset_index(), on=keys, how="left")
    rows["flag_spectrum_failed"] = ~rows["spectrum_ok"].fillna(False).astype(bool)
    rows["flag_re_z_not_positive"] = ~rows["re_z_positive"].fillna(False).astype(bool)
    rows["flag_duplicate_spectrum_points"] = rows["duplicate_points"].fillna(False).astype(bool)
    rows = rows.drop(columns=["spectrum_ok", "re_z_positive", "duplicate_points"])

    flags = [column for column in rows.columns if column.startswith("flag_")]
    rows["usable"] = ~rows[flags].any(axis=1)
    rows["reasons"] = rows[flags].apply(
        lambda row: ",".join(name.removeprefix("flag_") for name, on in row.items() if on), axis=1
    )
    return rows


def quality_metrics(design: pd.DataFrame, status: pd.DataFrame, flags: pd.DataFrame, spectra: pd.DataFrame) -> dict:
    samples = len(design)
    counts = status["status"].value_counts()
    not_ok = samples - int(counts.get("ok", 0))
    flag_columns = [column for column in flags.columns if column.startswith("flag_")]
    return {
        "samples": samples,
        "samples_ok": int(counts.get("ok", 0)),
        "samples_failed": int(counts.get("failed", 0)),
        "samples_timeout": int(counts.get("timeout", 0)),
        "failure_rate": round(not_ok / samples, 6) if samples else 0.0,
        "snapshots": len(flags),
        "snapshots_usable": int(flags["usable"].sum()),
        "usable_rate": round(float(flags["usable"].mean()), 6) if len(flags) else 0.0,
        "spectra": int(spectra.groupby(["sample_id", "snapshot", "temperature_c", "soc"]).ngroups),
        "spectrum_points": len(spectra),
        "backend_counts": {str(k): int(v) for k, v in spectra["backend"].value_counts().sort_index().items()},
        "flag_counts": {name.removeprefix("flag_"): int(flags[name].sum()) for name in flag_columns},
    }

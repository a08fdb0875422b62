"""Quality flags per sample and per snapshot, dataset-level quality metrics and the gate.

A flag never deletes anything: it marks a row as not usable, and the split leaves such
rows out. Every flag has a name (``flag_<name>``) that the report prints as the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .catalog import CORE_LABELS, KEYS, STATUSES
from .catalog import DEGRADATION_MODES as DEGRADATION_LABELS
from .impedance_features import spectrum_suffix
from .params import PhysicalBounds, ValidateConfig

SPECTRUM_KEYS = [*KEYS, "soc", "temperature_c"]
NOT_DESIGN_POINT = ("sample_id", "sample_index", "cell_design_id")
KK_COLUMN = "kk_residual_pct"


def _flag_names(frame: pd.DataFrame) -> list[str]:
    return [column for column in frame.columns if column.startswith("flag_")]


def _reasons(frame: pd.DataFrame) -> pd.Series:
    """Comma-separated flag names per row; the solver flag says which status it was."""
    names = _flag_names(frame)
    on = frame[names].to_numpy(dtype=bool)
    statuses = frame["status"].fillna("missing").astype(str).to_numpy()
    reasons = []
    for row, status in zip(on, statuses):
        parts = [name.removeprefix("flag_") for name, hit in zip(names, row) if hit]
        reasons.append(",".join(f"solver_status={status}" if part == "solver_status" else part for part in parts))
    return pd.Series(reasons, index=frame.index, dtype=object)


def repeated_design_points(design: pd.DataFrame) -> pd.Series:
    """True for every design row whose design point (all sampled values) appeared in an earlier row."""
    point = [column for column in design.columns if column not in NOT_DESIGN_POINT]
    return design.duplicated(subset=point or None, keep="first") | design["sample_id"].duplicated(keep="first")


def sample_flags(design: pd.DataFrame, status: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """One row per designed sample: its solver status, snapshot count and per-sample flags."""
    status = status.drop_duplicates("sample_id", keep="first").set_index("sample_id")
    samples = design[["sample_id"]].copy()
    samples["status"] = samples["sample_id"].map(status["status"])
    samples["message"] = samples["sample_id"].map(status["message"]) if "message" in status else ""
    samples["message"] = samples["message"].fillna("no status recorded").astype(str)
    samples["snapshots"] = samples["sample_id"].map(labels["sample_id"].value_counts()).fillna(0).astype(int)
    samples["flag_solver_status"] = samples["status"] != "ok"
    samples["flag_duplicate_sample"] = repeated_design_points(design).to_numpy()
    samples["flag_no_snapshots"] = samples["snapshots"] == 0
    return samples.reset_index(drop=True)


SPECTRUM_FLAGS = ["failed", "non_finite", "re_z_not_positive", "duplicate_points", "kk_residual_high"]
# Larger than any physical feature of a cell (ohms, farads, seconds, amp-hours) and far below
# float32's 3.4e38, where scikit-learn's tree models would turn the value into infinity.
MAX_FEATURE_MAGNITUDE = 1e12


def spectrum_checks(spectra: pd.DataFrame, per_spectrum: pd.DataFrame | None, config: ValidateConfig) -> pd.DataFrame:
    """One row per spectrum (sample, snapshot, SOC, temperature): its checks, ``usable`` and ``reasons``.

    ``per_spectrum`` is the labels stage's one-row-per-spectrum feature table (its lin-KK
    residual); without it the lin-KK check is skipped.
    """
    keys = [column for column in SPECTRUM_KEYS if column in spectra]
    points = spectra.assign(
        _failed=spectra["solver_status"] != "ok",
        _non_finite=~(np.isfinite(spectra["z_re_ohm"]) & np.isfinite(spectra["z_im_ohm"])),
        _re_z_not_positive=~(spectra["z_re_ohm"] > 0),
        _duplicate=spectra.duplicated([*keys, "frequency_hz"], keep=False),
    )
    # A failed point has no impedance: it is "failed", not also "non-finite" or "Re Z <= 0".
    points["_non_finite"] &= ~points["_failed"]
    points["_re_z_not_positive"] &= ~points["_failed"] & ~points["_non_finite"]
    # The backend cross-check is information, not a flag: an unchecked spectrum (NaN, see
    # cross_check_status) is not a failed one.
    cross_check = {
        name: (name, "first") for name in ("cross_check_pct", "cross_check_status") if name in spectra
    }
    checks = points.groupby(keys, sort=True, dropna=False).agg(
        failed=("_failed", "any"),
        non_finite=("_non_finite", "any"),
        re_z_not_positive=("_re_z_not_positive", "any"),
        duplicate_points=("_duplicate", "any"),
        backend=("backend", "first"),
        solver_status=("solver_status", "first"),
        points=("frequency_hz", "size"),
        **cross_check,
    )
    checks = checks.reset_index()
    if "cross_check_pct" not in checks:
        checks["cross_check_pct"] = np.nan
    checks["cross_checked"] = checks["cross_check_pct"].notna()
    if per_spectrum is not None and KK_COLUMN in per_spectrum:
        checks = checks.merge(per_spectrum[[*keys, KK_COLUMN]], on=keys, how="left")
    else:
        checks[KK_COLUMN] = np.nan
    checks["kk_checked"] = checks[KK_COLUMN].notna()
    checks["kk_residual_high"] = checks[KK_COLUMN] > config.max_kk_residual_pct
    flags = checks[SPECTRUM_FLAGS].to_numpy(dtype=bool)
    checks["usable"] = ~flags.any(axis=1)
    checks["reasons"] = [",".join(name for name, hit in zip(SPECTRUM_FLAGS, row) if hit) for row in flags]
    return checks


def features_out_of_range(features: pd.DataFrame) -> pd.DataFrame:
    """Per (sample_id, snapshot): True when a numeric feature is infinite or beyond :data:`MAX_FEATURE_MAGNITUDE`.

    Missing values (NaN) are allowed: both baseline models take them.
    """
    numeric = features.drop(columns=KEYS).select_dtypes("number")
    values = numeric.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad = np.isinf(values) | (np.abs(values) > MAX_FEATURE_MAGNITUDE)
    return features[KEYS].assign(out_of_range=bad.any(axis=1))


def flag_rows(
    labels: pd.DataFrame,
    samples: pd.DataFrame,
    spectra_checked: pd.DataFrame,
    bounds: PhysicalBounds,
    features: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per labelled (sample_id, snapshot): a boolean per flag, ``usable`` and ``reasons``.

    SOH and LLI/LAM are checked against ``aging.bounds``, the bounds the solve stages apply.

    ``samples`` comes from :func:`sample_flags`, ``spectra_checked`` from :func:`spectrum_checks`.
    A flagged spectrum is left out on its own (its features are masked,
    :func:`mask_unusable_spectra`); the snapshot is flagged only when none of its spectra is usable.
    """
    samples = samples.set_index("sample_id")
    rows = labels[KEYS].copy()
    rows["status"] = rows["sample_id"].map(samples["status"])
    rows["flag_solver_status"] = rows["status"] != "ok"
    duplicated_samples = set(samples.index[samples["flag_duplicate_sample"]])
    rows["flag_duplicate_sample"] = rows["sample_id"].isin(duplicated_samples) | labels.duplicated(KEYS, keep=False)

    present = [column for column in CORE_LABELS if column in labels]
    missing_columns = len(present) < len(CORE_LABELS)
    missing = labels[[c for c in present if c != "rul80_cycles"]].isna().any(axis=1)
    if "rul80_cycles" in labels:
        # A censored RUL has no value by design; its label is the lower bound.
        censored = labels["rul80_source"].eq("censored") & labels.get("rul80_lower_bound", np.nan).notna()
        missing |= labels["rul80_cycles"].isna() & ~censored
    rows["flag_missing_label"] = missing.to_numpy() | missing_columns
    numeric = labels[[c for c in labels.select_dtypes("number").columns if not c.startswith("m_")]]
    rows["flag_non_finite"] = np.isinf(numeric.to_numpy(dtype=float)).any(axis=1)
    soh = labels["soh"] if "soh" in labels else pd.Series(np.nan, index=labels.index)
    rows["flag_soh_out_of_bounds"] = (soh.notna() & ~((soh > 0) & (soh <= bounds.soh_max))).to_numpy()
    degradation = labels.reindex(columns=DEGRADATION_LABELS)
    rows["flag_negative_degradation"] = (degradation < -bounds.noise_pct).any(axis=1).to_numpy()

    counts = spectra_checked.groupby(KEYS)["usable"].agg(spectra_usable="sum", spectra="size")
    joined = rows[KEYS].merge(counts, left_on=KEYS, right_index=True, how="left")
    rows["spectra"] = joined["spectra"].fillna(0).astype(int).to_numpy()
    rows["spectra_usable"] = joined["spectra_usable"].fillna(0).astype(int).to_numpy()
    rows["flag_no_usable_spectrum"] = rows["spectra_usable"] == 0
    if features is not None:
        ranged = rows[KEYS].merge(features_out_of_range(features), on=KEYS, how="left")
        rows["flag_feature_out_of_range"] = ranged["out_of_range"].eq(True).to_numpy()
    rows["usable"] = ~rows[_flag_names(rows)].any(axis=1)
    rows["reasons"] = _reasons(rows)
    return rows.sort_values(KEYS, kind="stable").reset_index(drop=True)


def mask_unusable_spectra(features: pd.DataFrame, spectra_checked: pd.DataFrame) -> pd.DataFrame:
    """``features`` with every column of a flagged spectrum set to NaN (the rest of its snapshot stays).

    Column names follow :func:`agingset.impedance_features.spectrum_suffix`.
    """
    masked = features.copy()
    position = {key: index for index, key in enumerate(zip(masked["sample_id"], masked["snapshot"]))}
    unusable = spectra_checked[~spectra_checked["usable"]]
    for (soc, temperature_c), group in unusable.groupby(["soc", "temperature_c"]):
        ending = f"_{spectrum_suffix(soc, temperature_c)}"
        columns = [column for column in masked.columns if column.endswith(ending)]
        rows = [position[key] for key in zip(group["sample_id"], group["snapshot"]) if key in position]
        if columns and rows:
            masked.iloc[rows, [masked.columns.get_loc(column) for column in columns]] = np.nan
    return masked


def summarise_samples(samples: pd.DataFrame, flags: pd.DataFrame) -> pd.DataFrame:
    """Per sample: its own flags plus how many of its snapshots are flagged and why."""
    summary = samples.copy()
    flagged = flags[~flags["usable"]]
    summary["snapshots_flagged"] = summary["sample_id"].map(flagged["sample_id"].value_counts()).fillna(0).astype(int)
    snapshot_reasons = flagged.groupby("sample_id")["reasons"].agg(
        lambda texts: ",".join(sorted({part for text in texts for part in text.split(",") if part}))
    )
    own = _reasons(summary)
    from_snapshots = summary["sample_id"].map(snapshot_reasons).fillna("")
    summary["reasons"] = [
        ",".join(sorted((set(a.split(",")) | set(b.split(","))) - {""})) for a, b in zip(own, from_snapshots)
    ]
    summary["flagged"] = summary["reasons"] != ""
    return summary


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def cross_check_metrics(spectra_checked: pd.DataFrame) -> dict:
    """How many spectra the other backend re-solved (``eis.cross_check_fraction``) and, over
    those, the distribution of their largest |dZ|/|Z| in percent; why the others were not."""
    checked = spectra_checked.loc[spectra_checked["cross_checked"], "cross_check_pct"].to_numpy(dtype=float)
    metrics: dict = {"spectra_checked": int(checked.size)}
    if checked.size:
        metrics.update(
            {
                "median_pct": round(float(np.median(checked)), 6),
                "p95_pct": round(float(np.percentile(checked, 95)), 6),
                "max_pct": round(float(checked.max()), 6),
            }
        )
    if "cross_check_status" in spectra_checked:
        statuses = spectra_checked["cross_check_status"].fillna("").astype(str)
        # "failed: <message>" counts as "failed": messages vary per spectrum.
        kinds = statuses.where(~statuses.str.startswith("failed:"), "failed").replace("", "unknown")
        metrics["by_status"] = {str(k): int(v) for k, v in kinds.value_counts().sort_index().items()}
    return metrics


def quality_metrics(samples: pd.DataFrame, flags: pd.DataFrame, spectra_checked: pd.DataFrame) -> dict:
    """Counts and rates that ``dvc metrics diff`` compares between dataset versions."""
    counts = samples["status"].fillna("missing").value_counts()
    by_status = {status: int(counts.get(status, 0)) for status in STATUSES}
    by_status.update({str(k): int(v) for k, v in counts.items() if k not in STATUSES})
    flagged_snapshots = int((~flags["usable"]).sum())
    kk_checked = int(spectra_checked["kk_checked"].sum())
    kk_flagged = int(spectra_checked["kk_residual_high"].sum())
    return {
        "samples": len(samples),
        "samples_by_status": by_status,
        "failure_rate": _rate(len(samples) - by_status["ok"], len(samples)),
        "samples_flagged": int(samples["flagged"].sum()),
        "duplicate_samples": int(samples["flag_duplicate_sample"].sum()),
        "snapshots": len(flags),
        "snapshots_usable": len(flags) - flagged_snapshots,
        "usable_rate": _rate(len(flags) - flagged_snapshots, len(flags)),
        "flagged_rate": _rate(flagged_snapshots, len(flags)),
        "spectra": len(spectra_checked),
        "spectra_usable": int(spectra_checked["usable"].sum()),
        "spectra_usable_rate": _rate(int(spectra_checked["usable"].sum()), len(spectra_checked)),
        "spectrum_flag_counts": {name: int(spectra_checked[name].sum()) for name in SPECTRUM_FLAGS},
        "spectrum_points": int(spectra_checked["points"].sum()),
        "spectra_kk_checked": kk_checked,
        "spectra_kk_flagged": kk_flagged,
        "kk_flag_rate": _rate(kk_flagged, kk_checked),
        "backend_spectra": {
            str(k): int(v) for k, v in spectra_checked["backend"].value_counts().sort_index().items()
        },
        "cross_check": cross_check_metrics(spectra_checked),
        "flag_counts": {name.removeprefix("flag_"): int(flags[name].sum()) for name in _flag_names(flags)},
    }


def gate_violations(metrics: dict, config: ValidateConfig) -> list[str]:
    """Why the dataset fails the gate (empty when it passes)."""
    checks = [
        ("failure_rate", "max_failure_rate"),
        ("flagged_rate", "max_flagged_rate"),
        ("kk_flag_rate", "max_kk_flag_rate"),
        ("duplicate_samples", "max_duplicate_samples"),
    ]
    return [
        f"{measured} {metrics[measured]} exceeds validate.{bound} {getattr(config, bound)}"
        for measured, bound in checks
        if metrics[measured] > getattr(config, bound)
    ]


@dataclass(frozen=True)
class Assessment:
    samples: pd.DataFrame  # one row per designed sample
    snapshots: pd.DataFrame  # one row per labelled snapshot: flags, usable, reasons
    spectra: pd.DataFrame  # one row per spectrum
    metrics: dict
    violations: list[str]


def assess(
    design: pd.DataFrame,
    status: pd.DataFrame,
    labels: pd.DataFrame,
    spectra_checked: pd.DataFrame,
    config: ValidateConfig,
    bounds: PhysicalBounds,
    features: pd.DataFrame | None = None,
) -> Assessment:
    """All quality checks of one dataset version and whether it passes the gate.

    ``spectra_checked`` is :func:`spectrum_checks` of the spectra (per spectrum, so it may be taken a
    block of samples at a time and concatenated); ``bounds`` are ``aging.bounds``; ``features`` is the
    labels stage's x.
    """
    samples = sample_flags(design, status, labels)
    snapshots = flag_rows(labels, samples, spectra_checked, bounds, features)
    samples = summarise_samples(samples, snapshots)
    metrics = quality_metrics(samples, snapshots, spectra_checked)
    return Assessment(samples, snapshots, spectra_checked, metrics, gate_violations(metrics, config))


# ---- the report ------------------------------------------------------------------------------------


def _cell(text) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def cross_check_line(metrics: dict) -> str:
    """The backend cross-check: a seeded share of the spectra (eis.cross_check_fraction), never a flag."""
    check = metrics.get("cross_check", {})
    line = f"- backend cross-check: {check.get('spectra_checked', 0)} of {metrics['spectra']} spectra checked"
    if check.get("spectra_checked"):
        line += (
            f"; largest |dZ|/|Z| at eis.cross_check_hz: median {check['median_pct']:g} %, "
            f"95th percentile {check['p95_pct']:g} %, max {check['max_pct']:g} %"
        )
    others = {k: v for k, v in check.get("by_status", {}).items() if k != "checked"}
    if others:
        line += " (unchecked, not flagged: " + ", ".join(f"{k} {v}" for k, v in others.items()) + ")"
    return line


def report(assessment: Assessment, kk_available: bool) -> str:
    """data/validate/report.md: the counts, rates and gate, then every flagged sample, snapshot and spectrum."""
    metrics = assessment.metrics
    lines = [
        "# Quality report",
        "",
        f"- samples: {metrics['samples']} ({', '.join(f'{k} {v}' for k, v in metrics['samples_by_status'].items())}); "
        f"failure rate {metrics['failure_rate']}",
        f"- snapshots: {metrics['snapshots']}, usable {metrics['snapshots_usable']} "
        f"(flagged rate {metrics['flagged_rate']})",
        f"- spectra: {metrics['spectra']} ({metrics['spectrum_points']} points), usable {metrics['spectra_usable']} "
        f"(rate {metrics['spectra_usable_rate']}); backends: "
        + ", ".join(f"{k} {v}" for k, v in metrics["backend_spectra"].items()),
        (
            f"- lin-KK: {metrics['spectra_kk_checked']} spectra checked, {metrics['spectra_kk_flagged']} above the "
            f"threshold (rate {metrics['kk_flag_rate']})"
            if kk_available
            else f"- lin-KK: not checked (spectra have no `{KK_COLUMN}` column)"
        ),
        cross_check_line(metrics),
        "- gate: " + ("; ".join(assessment.violations) if assessment.violations else "passed"),
        "",
        "Flagged snapshots are excluded from the split and training; a flagged spectrum has its features",
        "masked (NaN) and leaves the rest of its snapshot usable. The raw outputs keep everything.",
        "",
        "## Flagged samples",
        "",
        "| sample_id | status | snapshots flagged | reasons | solver message |",
        "|---|---|---|---|---|",
    ]
    for row in assessment.samples[assessment.samples["flagged"]].itertuples():
        lines.append(
            f"| {row.sample_id} | {row.status} | {row.snapshots_flagged}/{row.snapshots} | {row.reasons} "
            f"| {_cell(row.message)} |"
        )
    lines += ["", "## Flagged snapshots", "", "| sample_id | snapshot | reasons |", "|---|---|---|"]
    for row in assessment.snapshots[~assessment.snapshots["usable"]].itertuples():
        lines.append(f"| {row.sample_id} | {row.snapshot} | {row.reasons} |")
    lines += [
        "",
        "## Flagged spectra",
        "",
        "| sample_id | snapshot | temperature (°C) | SOC | reasons | solver status |",
        "|---|---|---|---|---|---|",
    ]
    for row in assessment.spectra[~assessment.spectra["usable"]].itertuples():
        lines.append(
            f"| {row.sample_id} | {row.snapshot} | {row.temperature_c:g} | {row.soc:g} | {row.reasons} "
            f"| {_cell(row.solver_status)} |"
        )
    return "\n".join(lines) + "\n"

"""validate: quality flags (data/validate/), metrics/quality.json and the quality gate.

The flags, report and metrics are written before the gate is applied, so a failing
dataset still leaves the report that explains why.
"""

import pandas as pd

from agingset.catalog import DESIGN, FEATURES, LABELS, SPECTRA, SPECTRUM_FEATURES, STATUS
from agingset.catalog import METRICS as _METRICS
from agingset.catalog import VALIDATE_DIR as OUTPUT
from agingset.quality import KK_COLUMN, Assessment, assess
from stages._io import StageError, atomic_path, run_stage, write_json

METRICS = _METRICS["quality"]


def _cell(text) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def _cross_check_line(metrics: dict) -> str:
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
        _cross_check_line(metrics),
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


def main(params):
    per_spectrum = pd.read_parquet(SPECTRUM_FEATURES)
    assessment = assess(
        pd.read_parquet(DESIGN),
        pd.read_parquet(STATUS),
        pd.read_parquet(LABELS),
        pd.read_parquet(SPECTRA),
        params.validate_,
        per_spectrum,
        pd.read_parquet(FEATURES),
    )
    with atomic_path(OUTPUT, directory=True) as directory:
        assessment.snapshots.to_parquet(directory / "flags.parquet", index=False)
        assessment.samples.to_parquet(directory / "samples.parquet", index=False)
        assessment.spectra.to_parquet(directory / "spectra.parquet", index=False)
        (directory / "report.md").write_text(report(assessment, KK_COLUMN in per_spectrum))
    write_json(assessment.metrics, METRICS)
    if assessment.violations:
        raise StageError(f"dataset fails the quality gate: {'; '.join(assessment.violations)}; see {OUTPUT}/report.md")


if __name__ == "__main__":
    run_stage(main)

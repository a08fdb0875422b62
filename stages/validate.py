"""validate: quality flags (data/validate/), metrics/quality.json and the quality gate.

The flags, report and metrics are written before the gate is applied, so a failing
dataset still leaves the report that explains why. metrics/quality.json also carries the
impedance aging signatures of the usable rows (``aging_signatures``: agingset/aging_signatures.py) and the
fresh spectra against the measured cell's (``measured_spectra``: agingset/measured_comparison.py; the fresh spectra
it reads go to data/validate/dataset_fresh_spectra.parquet, for the card).
The spectra are checked a block of samples at a time (stages/_blocks.py).
"""

from pathlib import Path

import pandas as pd

from agingset.aging_signatures import aging_signatures, signature_points
from agingset.catalog import (
    DATASET_FRESH_SPECTRA,
    DESIGN,
    FEATURES,
    LABELS,
    SPECTRA,
    SPECTRUM_FEATURES,
    STATUS,
)
from agingset.catalog import METRICS as _METRICS
from agingset.catalog import VALIDATE_DIR as OUTPUT
from agingset.measured_comparison import fresh_points, measured_comparison
from agingset.measurement_files import read_measured_spectra
from agingset.quality import KK_COLUMN, assess, report, spectrum_checks
from stages._blocks import read_block, sample_blocks
from stages._io import StageError, atomic_path, run_stage, write_json

METRICS = _METRICS["quality"]


def checked_spectra(
    design: pd.DataFrame, per_spectrum: pd.DataFrame, params, measured
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every spectrum's checks, the points the aging signatures read and the fresh spectra on the measured
    frequencies, one block of samples at a time."""
    checked, points, fresh = [], [], []
    temperature, band = params.calibrate.spectra_temperature_c, params.calibrate.frequency_window_hz
    for block in sample_blocks(design):
        spectra = read_block(SPECTRA, block)
        if not spectra.empty:
            checked.append(spectrum_checks(spectra, per_spectrum, params.validate_))
            points.append(signature_points(spectra, checked[-1]))
            fresh.append(fresh_points(spectra, measured, temperature, band, checked[-1]))
    if not checked:  # no spectrum at all: the checks of the (empty) table, with its columns
        spectra = pd.read_parquet(SPECTRA)
        checks = spectrum_checks(spectra, per_spectrum, params.validate_)
        return checks, spectra, fresh_points(spectra, measured, temperature, band, checks)
    return pd.concat(checked, ignore_index=True), pd.concat(points, ignore_index=True), pd.concat(fresh, ignore_index=True)


def main(params):
    measured = read_measured_spectra(params.calibrate)
    per_spectrum = pd.read_parquet(SPECTRUM_FEATURES)
    design, labels = pd.read_parquet(DESIGN), pd.read_parquet(LABELS)
    spectra_checked, points, fresh = checked_spectra(design, per_spectrum, params, measured)
    assessment = assess(
        design,
        pd.read_parquet(STATUS),
        labels,
        spectra_checked,
        params.validate_,
        params.aging.bounds,
        pd.read_parquet(FEATURES),
    )
    with atomic_path(OUTPUT, directory=True) as directory:
        assessment.snapshots.to_parquet(directory / "flags.parquet", index=False)
        assessment.samples.to_parquet(directory / "samples.parquet", index=False)
        assessment.spectra.to_parquet(directory / "spectra.parquet", index=False)
        fresh.to_parquet(directory / Path(DATASET_FRESH_SPECTRA).name, index=False)
        (directory / "report.md").write_text(report(assessment, KK_COLUMN in per_spectrum))
    signatures = aging_signatures(points, labels, assessment.snapshots, assessment.spectra, design)
    calibrate = params.calibrate
    comparison = measured_comparison(fresh, measured, calibrate.spectra_temperature_c, calibrate.frequency_window_hz)
    write_json({**assessment.metrics, "aging_signatures": signatures, "measured_spectra": comparison}, METRICS)
    if assessment.violations:
        raise StageError(f"dataset fails the quality gate: {'; '.join(assessment.violations)}; see {OUTPUT}/report.md")


if __name__ == "__main__":
    run_stage(main)

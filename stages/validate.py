"""validate: quality flags (data/validate/), metrics/quality.json and the quality gate.

The flags, report and metrics are written before the gate is applied, so a failing
dataset still leaves the report that explains why. metrics/quality.json also carries the
impedance aging signatures of the usable rows (``aging_signatures``: agingset/aging_signatures.py).
"""

import pandas as pd

from agingset.aging_signatures import aging_signatures
from agingset.catalog import DESIGN, FEATURES, LABELS, SPECTRA, SPECTRUM_FEATURES, STATUS
from agingset.catalog import METRICS as _METRICS
from agingset.catalog import VALIDATE_DIR as OUTPUT
from agingset.quality import KK_COLUMN, assess, report
from stages._io import StageError, atomic_path, run_stage, write_json

METRICS = _METRICS["quality"]


def main(params):
    per_spectrum = pd.read_parquet(SPECTRUM_FEATURES)
    design, labels, spectra = pd.read_parquet(DESIGN), pd.read_parquet(LABELS), pd.read_parquet(SPECTRA)
    assessment = assess(
        design,
        pd.read_parquet(STATUS),
        labels,
        spectra,
        params.validate_,
        params.aging.bounds,
        per_spectrum,
        pd.read_parquet(FEATURES),
    )
    with atomic_path(OUTPUT, directory=True) as directory:
        assessment.snapshots.to_parquet(directory / "flags.parquet", index=False)
        assessment.samples.to_parquet(directory / "samples.parquet", index=False)
        assessment.spectra.to_parquet(directory / "spectra.parquet", index=False)
        (directory / "report.md").write_text(report(assessment, KK_COLUMN in per_spectrum))
    signatures = aging_signatures(spectra, labels, assessment.snapshots, assessment.spectra, design)
    write_json({**assessment.metrics, "aging_signatures": signatures}, METRICS)
    if assessment.violations:
        raise StageError(f"dataset fails the quality gate: {'; '.join(assessment.violations)}; see {OUTPUT}/report.md")


if __name__ == "__main__":
    run_stage(main)

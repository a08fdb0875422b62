"""validate: quality flags per row (data/validate/flags.parquet) and metrics/quality.json."""

import pandas as pd

from agingset.quality import flag_rows, quality_metrics
from stages._io import StageError, atomic_path, run_stage, write_json, write_text

DESIGN = "data/design/samples.parquet"
STATUS = "data/aging/status.parquet"
LABELS = "data/labels/labels.parquet"
SPECTRA = "data/eis/spectra.parquet"
OUTPUT = "data/validate"
METRICS = "metrics/quality.json"


def report(flags: pd.DataFrame, status: pd.DataFrame) -> str:
    lines = ["# Quality report", "", "| sample_id | snapshot | reasons |", "|---|---|---|"]
    for row in flags[~flags["usable"]].itertuples():
        lines.append(f"| {row.sample_id} | {row.snapshot} | {row.reasons} |")
    lines += ["", "## Samples not ok", "", "| sample_id | status | message |", "|---|---|---|"]
    for row in status[status["status"] != "ok"].itertuples():
        lines.append(f"| {row.sample_id} | {row.status} | {row.message.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def main(params):
    design = pd.read_parquet(DESIGN)
    status = pd.read_parquet(STATUS)
    labels = pd.read_parquet(LABELS)
    spectra = pd.read_parquet(SPECTRA)
    flags = flag_rows(design, status, labels, spectra, params.validate_)
    metrics = quality_metrics(design, status, flags, spectra)
    with atomic_path(OUTPUT, directory=True) as directory:
        flags.to_parquet(directory / "flags.parquet", index=False)
        (directory / "report.md").write_text(report(flags, status))
    write_json(metrics, METRICS)
    if metrics["failure_rate"] > params.validate_.max_failure_rate:
        raise StageError(
            f"failure rate {metrics['failure_rate']:.2f} exceeds validate.max_failure_rate "
            f"{params.validate_.max_failure_rate}; see {OUTPUT}/report.md"
        )


if __name__ == "__main__":
    run_stage(main)

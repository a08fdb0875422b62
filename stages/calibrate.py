"""calibrate: jointly identify the dataset's model against the real measurements in reference-data/.

Writes data/calibrate/ (calibrated.json: fitted values, standard errors, correlation, design ranges,
measurement hashes; predictions_spectra.parquet and predictions_records.parquet: every measurement,
fitted and held out, simulated with the stock and the calibrated values; fresh_spectra.parquet: the
calibrated fresh cell at SOC 0.1-0.9 in the spectra format) and metrics/calibration.json.
"""

import json
import sys
import time

from agingset.calibration.calibrate import calibrate
from agingset.catalog import CALIBRATION_DIR as OUTPUT
from agingset.catalog import METRICS
from agingset.measurement_files import read_measurements
from stages._io import atomic_path, run_stage, write_json


def main(params):
    started = time.perf_counter()
    result = calibrate(params, read_measurements(params.calibrate))
    with atomic_path(OUTPUT, directory=True) as directory:
        (directory / "calibrated.json").write_text(json.dumps(result.calibrated, indent=2, sort_keys=True, default=float) + "\n")
        result.predictions_spectra.to_parquet(directory / "predictions_spectra.parquet", index=False)
        result.predictions_records.to_parquet(directory / "predictions_records.parquet", index=False)
        result.fresh_spectra.to_parquet(directory / "fresh_spectra.parquet", index=False)
    write_json(result.metrics, METRICS["calibration"])
    fit = result.fit  # wall time depends on the machine: reported, never written into an output
    print(
        f"calibrate: cost {fit.cost_start:.4g} -> {fit.cost_fitted:.4g} in {fit.iterations} iterations "
        f"({fit.function_evaluations} evaluations), fit {fit.wall_time_s:.0f} s, stage {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    run_stage(main)

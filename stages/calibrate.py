"""calibrate: fit model parameters to a measured current/voltage record.

Writes data/calibrate (calibrated.json, residuals.parquet) and metrics/calibration.json.
"""

import sys
from pathlib import Path

import pandas as pd

from agingset.catalog import CALIBRATION_DIR as OUTPUT
from agingset.catalog import METRICS as _METRICS
from agingset.calibration import FitParameter, RecordModel, build_objective, fit
from agingset.measurement import MeasurementError, block_average, validate_measurement, window
from stages._io import StageError, run_stage, write_json, write_parquet

METRICS = _METRICS["calibration"]


def read_measurement(config):
    """The configured record, checked against the measurement format, windowed and resampled."""
    path = Path(config.measurement)
    try:
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        measurement = validate_measurement(table, config.max_abs_current_a, source=str(path))
        end_s = measurement.time_s[-1] if config.end_s is None else config.end_s
        measurement = window(measurement, config.start_s, end_s)
        return block_average(measurement, config.resample_s) if config.resample_s else measurement
    except FileNotFoundError:
        raise StageError(f"calibrate.measurement: {path} not found") from None
    except (MeasurementError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise StageError(f"calibrate.measurement: {err}") from None


def main(params):
    config = params.calibrate
    measurement = read_measurement(config)
    parameters = [
        FitParameter(name, config.start_value(name), fit_range.low, fit_range.high, fit_range.scale)
        for name, fit_range in config.parameters.items()
    ]
    model = RecordModel(config.model, params.solver, measurement, [p.name for p in parameters])
    try:
        objective = build_objective(config.objective, model, measurement, config.ica.smoothing_v, config.ica.step_v)
    except ValueError as err:
        raise StageError(f"calibrate.objective: {err}") from None
    result = fit(objective, parameters, config.method, config.max_iterations)

    summary = result.summary()
    # What the design reads: deterministic for the same params and record (no wall time).
    calibrated = {
        "measurement": config.measurement,
        "model": config.model.model_dump(),
        "objective": config.objective,
        "method": config.method,
        "residual_points": summary["residual_points"],
        "parameters": {
            name: {key: entry[key] for key in ("start", "fitted", "standard_error")}
            for name, entry in summary["parameters"].items()
        },
        "rmse_start": result.rmse_start,
        "rmse_fitted": result.rmse_fitted,
    }
    write_json(calibrated, f"{OUTPUT}/calibrated.json")
    write_parquet(
        pd.DataFrame(
            {
                objective.axis_name: objective.axis,
                "measured": objective.measured,
                "residual_start": result.residuals_start,
                "residual_fitted": result.residuals_fitted,
            }
        ),
        f"{OUTPUT}/residuals.parquet",
    )
    # Wall time depends on the machine: reported, never written into an output.
    print(
        f"calibrate: RMSE {result.rmse_start * 1e3:.2f} -> {result.rmse_fitted * 1e3:.2f} mV in "
        f"{summary['iterations']} iterations, {result.wall_time_s:.1f} s",
        file=sys.stderr,
    )
    write_json({"record_points": int(measurement.time_s.size), **summary}, METRICS)


if __name__ == "__main__":
    run_stage(main)

"""calibrate: jointly identify the dataset's model against the real measurements in reference-data/.

Writes data/calibrate/ (calibrated.json: fitted values, standard errors, correlation,
design ranges, measurement hashes; predictions_spectra.parquet and predictions_records.parquet:
every measurement, fitted and held out, simulated with the stock and the calibrated values;
fresh_spectra.parquet: the calibrated fresh cell at 25 degC, SOC 0.1-0.9, in the spectra
format) and metrics/calibration.json (per measurement: role, errors before and after; where the dataset's
and the fitted fresh cell put the impedance records' labelled SOCs).
"""

import hashlib
import json
import sys
import time
from pathlib import Path

import pandas as pd

from agingset import calibration
from agingset.calibration import FIT, CellModels, FitParameter, JointObjective, ResidualScales
from agingset.measurement import (
    MeasurementError,
    block_average,
    validate_measurement,
    validate_ocv,
    validate_rate_tests,
    validate_spectra,
)
from agingset.physics import model as model_building
from stages._io import StageError, atomic_path, run_stage, write_json

OUTPUT = "data/calibrate"
METRICS = "metrics/calibration.json"
PULSE_COLUMNS = (
    "ambient_temperature_c", "soc_step", "cell", "rest_voltage_v", "pulse_current_a", "pulse_duration_s", "r_instant_ohm", "r_10s_ohm"
)


def read_table(key: str, path: str) -> pd.DataFrame:
    """A measurement table (CSV, gzipped CSV or parquet); a problem is one line naming the key."""
    try:
        return pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
    except FileNotFoundError:
        raise StageError(f"calibrate.{key}: {path} not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as err:
        raise StageError(f"calibrate.{key}: {path} is not a readable table: {' '.join(str(err).split())[:200]}") from None


def read_measurements(config):
    """Every configured measurement, checked against its documented format."""
    try:
        spectra = validate_spectra(read_table("spectra", config.spectra), source=config.spectra)
        rate_tests = validate_rate_tests(
            read_table("rate_tests", config.rate_tests), config.max_abs_current_a, source=config.rate_tests
        )
        drive = validate_measurement(
            read_table("drive_cycle", config.drive_cycle), config.max_abs_current_a, source=config.drive_cycle
        )
        pulses = read_table("pulse_resistance", config.pulse_resistance)
        missing = [column for column in PULSE_COLUMNS if column not in pulses.columns]
        if missing:
            raise MeasurementError(f"{config.pulse_resistance}: missing column(s) {missing}; required {list(PULSE_COLUMNS)}")
        ocv = None
        if config.rate_test_ocv:
            ocv = validate_ocv(read_table("rate_test_ocv", config.rate_test_ocv), source=config.rate_test_ocv)
    except MeasurementError as err:
        raise StageError(f"calibrate: {err}") from None
    return spectra, rate_tests, block_average(drive, config.drive_cycle_resample_s), pulses, ocv


def file_hashes(config) -> dict[str, str]:
    paths = (config.spectra, config.rate_tests, config.drive_cycle, config.pulse_resistance, config.rate_test_ocv)
    return {path: hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in paths if path}


def cell_models(params, observations, rate_test_ocv) -> CellModels:
    """The fit's models; the rate-test OCV's SOC axis in A.h from the slowest fitted discharge."""
    config = params.calibrate
    capacity = None
    if rate_test_ocv is not None:
        slow = calibration.slowest_fitted_discharge(observations, config.rate_test_ocv_temperature_c)
        capacity = calibration.ocv_capacity(*rate_test_ocv, slow.record, slow.rest_voltage_v)
    return CellModels(params.model, config.solver_config(), list(config.parameters), rate_test_ocv, capacity)


def fit_parameters(config, stock) -> list[FitParameter]:
    """The fitted parameters from their warm starts and bounds, then the rate-test cells' own copies."""
    parameters = [
        FitParameter(name, config.start_value(name, stock), r.low, r.high, r.scale) for name, r in config.parameters.items()
    ]
    shared = {parameter.name: parameter for parameter in parameters}
    for name, start in config.rate_test_own.items():
        own = shared[name]
        parameters.append(
            FitParameter(calibration.rate_test_name(name), own.start if start is None else start, own.low, own.high, own.scale)
        )
    return parameters


def main(params):
    config = params.calibrate
    started = time.perf_counter()
    spectra, rate_tests, drive, pulses, rate_test_ocv = read_measurements(config)
    pulse_series = calibration.pulse_series(pulses, config.pulse_min_rest_voltage_v)
    observations = calibration.build_observations(spectra, rate_tests, drive, config, pulse_series)
    stock = model_building.parameter_values(params.model, [])
    names = list(config.parameters)
    parameters = fit_parameters(config, stock)
    models = cell_models(params, observations, rate_test_ocv)
    scales = ResidualScales(**config.scales.model_dump())
    window = tuple(config.frequency_window_hz)
    fitted_observations = [o for o in observations if o.role == FIT]
    result = calibration.fit(
        JointObjective(models, fitted_observations, scales, window, tuple(config.rate_test_own)), parameters, config.max_iterations
    )

    stock_values = {name: float(stock[name]) for name in names}  # the same for both cell products
    before = calibration.prediction_tables(models, observations, stock_values, scales, window, "stock")
    after = calibration.prediction_tables(models, observations, result.values, scales, window, "calibrated")
    fresh = calibration.fresh_spectra(
        models, result.values, config.prediction_socs, config.prediction_temperature_c, spectra[0].frequency_hz
    )

    summary = result.summary()
    spreads = {column: calibration.cell_to_cell_spread(pulses, column, config.spread_temperature_c) for column in ("r_instant_ohm", "r_10s_ohm")}
    # Only what the measurements pin down becomes a base value: a parameter whose standard
    # error exceeds max_relative_standard_error of its value keeps the parameter set's value,
    # and so does one listed in keep_set_values (its fitted value absorbs model error).
    identified = [
        name
        for name in names
        if result.standard_errors[name] <= config.max_relative_standard_error * abs(result.values[name])
        and name not in config.keep_set_values
    ]
    design_ranges = {
        name: calibration.design_range(
            result.values[name],
            result.standard_errors[name],
            spreads[entry.spread] if entry.spread else 0.0,
            entry.scale,
            config.design_sigmas,
            bounds=(entry.low, entry.high),
        )
        for name, entry in config.parameters.items()
        if name in identified
    }
    # The M50LT's labelled SOCs on the dataset's fresh cell and on the fitted one (their electrode
    # balances differ where calibrate.keep_set_values keeps the set's fractions): docs/physics.md.
    soc_labels = {}
    for cell, taken in (("dataset_cell", identified), ("fitted_cell", names)):
        cell_model = params.model.with_base_values({name: result.values[name] for name in taken})
        cell_values = model_building.parameter_values(cell_model, [])
        soc_labels[cell] = calibration.labelled_socs(cell_model, config.solver_config(), cell_values, spectra)
    hashes = file_hashes(config)
    # What design and the solve stages read: deterministic for the same params and files.
    write_calibrated = {
        "model": params.model.model_dump(exclude={"calibration"}),
        # The dataset's base values: the identified shared parameters (not the rate-test cells' own values).
        "dataset_parameters": identified,
        "unidentified": [name for name in names if name not in identified and name not in config.keep_set_values],
        "kept_set_values": list(config.keep_set_values),
        "measurements": hashes,
        "roles": {o.name: o.role for o in observations},
        "rest_voltages_v": {o.name: o.rest_voltage_v for o in observations if o.rest_voltage_v is not None},
        "rate_test_balance": models.balance.summary(models.nominal) if models.balance else None,
        "design_ranges": design_ranges,
        "design_range_basis": {
            "sigmas": config.design_sigmas,
            "cell_to_cell_relative_spread": spreads,
            "spread_temperature_c": config.spread_temperature_c,
        },
        **summary,
    }
    with atomic_path(OUTPUT, directory=True) as directory:
        (directory / "calibrated.json").write_text(
            json.dumps(write_calibrated, indent=2, sort_keys=True, default=float) + "\n"
        )
        pd.concat([before[0], after[0]], ignore_index=True).to_parquet(directory / "predictions_spectra.parquet", index=False)
        pd.concat([before[1], after[1]], ignore_index=True).to_parquet(directory / "predictions_records.parquet", index=False)
        fresh.to_parquet(directory / "fresh_spectra.parquet", index=False)

    per_measurement = {
        o.name: {"role": o.role, "kind": o.kind, "stock": before[2][o.name], "calibrated": after[2][o.name]}
        for o in observations
    }
    write_json(
        {
            "measurements": per_measurement,
            "summary": {
                label: calibration.error_summary(observations, errors)
                for label, errors in (("stock", before[2]), ("calibrated", after[2]))
            },
            "fit": {key: summary[key] for key in ("cost_start", "cost_fitted", "iterations", "function_evaluations", "converged", "residual_points")},
            "soc_labels": soc_labels,
            "parameters": {name: {k: v for k, v in entry.items() if k != "start"} for name, entry in summary["parameters"].items()},
        },
        METRICS,
    )
    # Wall time depends on the machine: reported, never written into an output.
    print(
        f"calibrate: cost {result.cost_start:.4g} -> {result.cost_fitted:.4g} in {result.iterations} iterations "
        f"({result.function_evaluations} evaluations), fit {result.wall_time_s:.0f} s, stage {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    run_stage(main)

"""Does block-averaging the drive cycle change the fit? Full 1 s record vs the default resampling.

Fits the default calibration on the resampled record (as the stage does) and on every
sample of the record, side by side in one process, and scores both fits - and PyBaMM's
Chen2020 set as shipped (its own initial concentrations) - on the full-resolution voltage.

    PYTHONPATH=. python benchmarks/calibration_resampling.py   # from the project root
"""

import time

import numpy as np
import pandas as pd

from agingset.calibration import INITIAL_SOC, FitParameter, RecordModel, VoltageObjective, fit
from agingset.measurement import block_average, validate_measurement
from agingset.params import load_params


def main() -> None:
    params = load_params("params.yaml")
    config = params.calibrate
    full = validate_measurement(pd.read_csv(config.measurement), config.max_abs_current_a)
    resampled = block_average(full, config.resample_s)
    parameters = [
        FitParameter(name, config.start_value(name), r.low, r.high, r.scale) for name, r in config.parameters.items()
    ]
    names = [p.name for p in parameters]
    full_model = RecordModel(config.model, params.solver, full, names)

    def full_rmse(values):
        voltage, _ = full_model.voltage(values)
        return float(np.sqrt(np.mean((voltage - full.voltage_v[: voltage.size]) ** 2)))

    physical = [name for name in names if name != INITIAL_SOC]
    shipped = RecordModel(config.model, params.solver, full, physical)
    voltage, _ = shipped.voltage({name: config.start_value(name) for name in physical})
    print(f"Chen2020 as shipped (own initial state): RMSE {1e3 * np.sqrt(np.mean((voltage - full.voltage_v) ** 2)):.2f} mV")
    print(f"start values {dict((p.name, p.start) for p in parameters)}: RMSE {1e3 * full_rmse({p.name: p.start for p in parameters}):.2f} mV")

    for label, record in ((f"{config.resample_s:g} s blocks", resampled), ("full 1 s record", full)):
        started = time.perf_counter()
        model = RecordModel(config.model, params.solver, record, names)
        result = fit(VoltageObjective(model, record), parameters, config.method, config.max_iterations)
        seconds = time.perf_counter() - started
        values = ", ".join(f"{n} = {result.values[n]:.5f} ± {result.standard_errors[n]:.5f}" for n in names)
        print(
            f"{label}: {record.time_s.size} points, {seconds:.1f} s (build + fit), {result.iterations} iterations; "
            f"{values}; RMSE on the full record {1e3 * full_rmse(result.values):.2f} mV"
        )


if __name__ == "__main__":
    main()

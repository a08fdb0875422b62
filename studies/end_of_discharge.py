"""Question: how does the calibrated rate-test cell end a discharge, relax and take the next charge, against the LG M50?
Answer: it ends with far less overpotential and charges too easily. After C/10 at 25 oC the measured cell relaxes to
2.923 V in 2 h, the model to about 2.58-2.60 V with every fit so far (below the OCV's 2.872 V at 0 %; 0.17-0.34 V apart
over the temperatures at first, ccad506); at 25 oC the model's CC charge takes about 4.7 Ah before 4.2 V against the
cell's 4.368 Ah, and it rests 23-28 mV higher after the charge at every temperature (docs/physics.md, "end-of-discharge").
Not fitted: these charges are the next measurement to fit.
Date: 2026-11-28
Commit: 5ce3f27

A diagnosis. Each rate test (reference-data/lgm50_rate_tests.csv.gz) is followed in its record by a rest, a CC-CV
charge and another rest (reference-data/lgm50_rate_test_cycles.csv.gz). `calibrate` fits the discharges
only; this replays the whole measured sequence on the calibrated rate-test cell (``data/calibrate/calibrated.json``,
its own values for the ``calibrate.rate_test_own`` parameters, the stage's electrode balance and OCV):

    discharge at the measured current until 2.5 V, from the state of the rest voltage before it (as calibrate)
    rest as long as measured
    charge at the measured current until 4.2 V, hold 4.2 V until the measured final current
    rest as long as measured

and prints, measured / simulated: the discharged charge, the voltage the cell relaxes to after the
discharge (how much over-potential it ended on), the charge taken at constant current and at constant
voltage, and the voltage after the last rest (the state the next test starts from).

    python -m studies.end_of_discharge [--calibrated data/calibrate/calibrated.json] [--temperatures 0 25]
"""

import argparse
import json
import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pybamm  # noqa: E402

from agingset.calibration.calibrate import cell_models  # noqa: E402
from agingset.calibration.cell_models import CellModels  # noqa: E402
from agingset.calibration.consistency import measured_sequence  # noqa: E402
from agingset.calibration.observations import DISCHARGE, build_observations  # noqa: E402
from agingset.calibration.prediction import record_values  # noqa: E402
from agingset.config import load_params  # noqa: E402
from agingset.measurement_files import read_measurements  # noqa: E402
from agingset.physics import model as model_building  # noqa: E402

CYCLES = "reference-data/lgm50_rate_test_cycles.csv.gz"
CUTOFF_V, TOP_V = 2.5, 4.2
KELVIN = 273.15


def simulated_sequence(models: CellModels, values: dict, observation, measured: dict, solver_config) -> dict:
    """The same sequence on the calibrated rate-test cell (experiments take the ambient temperature as a
    number, not an input, so each record gets its own parameter values)."""
    record, ambient = observation.record, observation.ambient_temperature_c
    parameter_values = models.discharge.parameter_values.copy()
    kelvin = ambient + KELVIN
    parameter_values.update({"Ambient temperature [K]": kelvin, "Initial temperature [K]": kelvin, "Current function [A]": 1.0})
    soc_grid, ocv = models.rate_test_ocv
    soc = float(np.interp(observation.rest_voltage_v, ocv, soc_grid))
    inputs = models.inputs(record_values(observation, values), soc, ambient, ambient)
    for name in ("Ambient temperature [K]", "Initial temperature [K]"):
        inputs.pop(name)
    current = -float(np.median(record.current_a[record.current_a < -0.01]))
    experiment = pybamm.Experiment(
        [
            (
                f"Discharge at {current:.6g} A until {CUTOFF_V} V",
                f"Rest for {measured['rest_s']:.0f} seconds",
                f"Charge at {measured['charge_current_a']:.6g} A until {TOP_V} V",
                f"Hold at {TOP_V} V until {measured['final_current_a']:.6g} A",
                f"Rest for {measured['final_rest_s']:.0f} seconds",
            )
        ]
    )
    simulation = pybamm.Simulation(
        model_building.build_model(models.model_config),
        parameter_values=parameter_values,
        experiment=experiment,
        solver=model_building.solver(solver_config, compile_=False),
        var_pts=models.var_pts,
    )
    steps = simulation.solve(inputs=inputs).cycles[0].steps
    if len(steps) < 5:
        return {}

    def moved(step):
        capacity = step["Discharge capacity [A.h]"].entries
        return float(abs(capacity[-1] - capacity[0]))

    def last_voltage(step):
        return float(step["Voltage [V]"].entries[-1])

    return {
        "discharge_ah": moved(steps[0]),
        "relaxed_v": last_voltage(steps[1]),
        "cc_ah": moved(steps[2]),
        "cv_ah": moved(steps[3]),
        "charged_rest_v": last_voltage(steps[4]),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibrated", default="data/calibrate/calibrated.json")
    parser.add_argument("--temperatures", type=float, nargs="*", help="ambient temperatures (degC); default: all")
    args = parser.parse_args()

    params = load_params("params.yaml")
    config = params.calibrate
    measurements = read_measurements(config)
    rate_tests = measurements.rate_tests
    observations = build_observations(measurements.spectra, rate_tests, measurements.drive_cycle, config)
    models = cell_models(params, observations, measurements.rate_test_ocv)
    with open(args.calibrated) as handle:
        values = {name: entry["fitted"] for name, entry in json.load(handle)["parameters"].items()}
    cycles = pd.read_csv(CYCLES)
    # The measured records, not the fit's resampled copies: the discharged charge is counted on them.
    originals = {test.name: test.record for test in rate_tests}

    columns = ("discharge_ah", "relaxed_v", "cc_ah", "cv_ah", "charged_rest_v")
    print(f"{'record':24s} {'role':9s}  " + "  ".join(f"{name + ' meas/sim':>22s}" for name in columns))
    for observation in observations:
        if observation.kind != DISCHARGE:
            continue
        if args.temperatures and observation.ambient_temperature_c not in args.temperatures:
            continue
        key = (observation.ambient_temperature_c, observation.c_rate)
        record_cycles = cycles[(cycles["ambient_temperature_c"] == key[0]) & (cycles["c_rate"] == key[1])]
        measured = measured_sequence(record_cycles, originals[observation.name])
        simulated = simulated_sequence(models, values, observation, measured, config.solver_config())
        cells = [f"{measured[name]:>10.3f} / {simulated.get(name, float('nan')):<9.3f}" for name in columns]
        print(f"{observation.name:24s} {observation.role:9s}  " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()

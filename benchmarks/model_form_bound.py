"""What can the calibrated model reach on the rate tests when it is shown them (the model's form against the protocol)?

`calibrate` never fits the held-out rate tests (10 degC and every C/2). This fits the stage twice from the same warm
start (params.yaml's `calibrate.parameters`): with that protocol, and with every rate test fitted, held-out ones
included. Per rate test it prints the voltage RMSE (the stage's 120-point metric) and the capacity-to-3-V error of
both fits. A curve above the goal when it is fitted itself is beyond the model's form, or inconsistent with the other
curves; the difference between the columns is what predicting it instead of fitting it costs. The all-fitted fit is
a diagnostic, never the dataset's calibration.

It also checks the measurements against each other, without a model: at one ambient a faster discharge of the same
cell, from the same state, is below the C/10 at every discharged charge (more over-potential; the few kelvin of
self-heating cannot lift it above in a cell that has stopped gaining capacity with temperature). Where it comes
above, no model of one cell in one starting state can fit both curves.

    python -m benchmarks run model_form_bound [--goal-mv 25]   (from the project root; ~2-3 min on one core)

The model is params.yaml's: on a copy of the project with `model.family: DFN` it gives the DFN's (~75 min).
"""

import argparse
import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402

from agingset.calibration.calibrate import cell_models, fit_parameters  # noqa: E402
from agingset.calibration.consistency import faster_against_slowest  # noqa: E402
from agingset.calibration.observations import DISCHARGE, FIT, HELD_OUT, build_observations, pulse_series  # noqa: E402
from agingset.calibration.optimiser import JointObjective, fit  # noqa: E402
from agingset.calibration.prediction import ResidualScales, prediction_tables  # noqa: E402
from agingset.config import load_params  # noqa: E402
from agingset.measurement_files import read_measurements  # noqa: E402
from agingset.params import HeldOut  # noqa: E402
from agingset.physics import model as model_building  # noqa: E402
from benchmarks._common import write_result  # noqa: E402


def fitted_errors(params, config, observations, models) -> tuple[float, dict]:
    """Fit ``observations``' fitted ones from the warm start; every observation's errors at the optimum."""
    scales = ResidualScales(**config.scales.model_dump())
    window = tuple(config.frequency_window_hz)
    stock = model_building.parameter_values(params.model, [])
    fitted = [o for o in observations if o.role == FIT]
    objective = JointObjective(models, fitted, scales, window, tuple(config.rate_test_own))
    result = fit(objective, fit_parameters(config, stock), config.max_iterations)
    errors = prediction_tables(models, observations, result.values, scales, window, "calibrated")[2]
    return result.cost_fitted, errors


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--goal-mv", type=float, default=25.0, help="held-out voltage RMSE goal up to 1C")
    args = parser.parse_args(argv)

    params = load_params("params.yaml")
    protocol = params.calibrate
    every_test = protocol.model_copy(update={"held_out": HeldOut(ambient_temperatures_c=[], c_rates=[])})
    measurements = read_measurements(protocol)
    rate_tests = measurements.rate_tests
    series = pulse_series(measurements.pulses, protocol.pulse_min_rest_voltage_v)
    observed = {
        label: build_observations(measurements.spectra, rate_tests, measurements.drive_cycle, config, series)
        for label, config in (("protocol", protocol), ("every", every_test))
    }
    models = cell_models(params, observed["protocol"], measurements.rate_test_ocv)
    cost_protocol, protocol_errors = fitted_errors(params, protocol, observed["protocol"], models)
    cost_every, every_errors = fitted_errors(params, every_test, observed["every"], models)

    print(f"cost: protocol {cost_protocol:.2f} (its fitted residuals), every rate test fitted {cost_every:.2f} (more residuals)")
    print(
        f"{'rate test':24s} {'protocol role':>13s} {'RMSE mV protocol':>17s} {'every test fitted':>18s}"
        f" {'capacity to 3 V %: protocol':>28s} {'every':>7s}"
    )
    records = []
    for observation in observed["protocol"]:
        if observation.kind != DISCHARGE:
            continue
        before, after = protocol_errors[observation.name], every_errors[observation.name]
        records.append(
            {
                "name": observation.name,
                "role": observation.role,
                "rmse_mv_protocol": before["voltage_rmse_mv"],
                "rmse_mv_every": after["voltage_rmse_mv"],
                "capacity_to_3v_pct_protocol": before["capacity_to_3v_error_pct"],
                "capacity_to_3v_pct_every": after["capacity_to_3v_error_pct"],
            }
        )
        flag = "  above goal when fitted" if after["voltage_rmse_mv"] > args.goal_mv and observation.c_rate <= 1 else ""
        print(
            f"{observation.name:24s} {observation.role:>13s} {before['voltage_rmse_mv']:17.1f} {after['voltage_rmse_mv']:18.1f}"
            f" {before['capacity_to_3v_error_pct']:+28.2f} {after['capacity_to_3v_error_pct']:+7.2f}{flag}"
        )
    held = [o.name for o in observed["protocol"] if o.kind == DISCHARGE and o.role == HELD_OUT and o.c_rate <= 1]
    predicted, fitted = ([errors[name]["voltage_rmse_mv"] for name in held] for errors in (protocol_errors, every_errors))
    print(
        f"held out up to 1C, mean / worst RMSE: protocol {np.mean(predicted):.1f} / {max(predicted):.1f} mV,"
        f" the same curves fitted {np.mean(fitted):.1f} / {max(fitted):.1f} mV"
    )
    print("measured, no model: each faster discharge against the C/10 at its ambient (to the cut-off)")
    consistency = faster_against_slowest(rate_tests)
    for row in consistency:
        verdict = "consistent" if row["consistent"] else "more than its heating can give: not one cell in one state"
        print(
            f"  {row['name']:24s} highest {row['above_mv']:+7.1f} mV above the C/10 (at {row['at_ah']:.2f} A.h);"
            f" delivers {row['extra_ah']:+.3f} A.h more, {row['warmer_k']:+.1f} K warmer at the end, worth at most"
            f" {row['heating_ah']:.3f} A.h: {verdict}"
        )
    write_result(
        "model_form_bound",
        {
            "model": params.model.family,
            "cost_protocol": cost_protocol,
            "cost_every": cost_every,
            "held_out_to_1c_rmse_mv_predicted": {"mean": float(np.mean(predicted)), "worst": float(max(predicted))},
            "held_out_to_1c_rmse_mv_fitted": {"mean": float(np.mean(fitted)), "worst": float(max(fitted))},
            "rate_tests": records,
            "faster_against_slowest": consistency,
        },
    )


if __name__ == "__main__":
    main()

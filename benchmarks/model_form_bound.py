"""What the calibrated model can reach on the rate tests when it is shown them: the model's form against the protocol.

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

    python -m benchmarks.model_form_bound [--goal-mv 25]   (from the project root; ~2-3 min on one core)

The model is params.yaml's: on a copy of the project with `model.family: DFN` it gives the DFN's (~75 min).
"""

import argparse
import math
import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402

from agingset import calibration  # noqa: E402
from agingset.calibration import DISCHARGE, FIT, HELD_OUT, JointObjective, ResidualScales  # noqa: E402
from agingset.params import HeldOut, load_params  # noqa: E402
from agingset.physics import model as model_building  # noqa: E402
from stages.calibrate import cell_models, fit_parameters, read_measurements  # noqa: E402

SLOWEST_C_RATE = 0.1
CHARGE_STEP_AH = 0.01


def fitted_errors(params, config, observations, models) -> tuple[float, dict]:
    """Fit ``observations``' fitted ones from the warm start; every observation's errors at the optimum."""
    scales = ResidualScales(**config.scales.model_dump())
    window = tuple(config.frequency_window_hz)
    stock = model_building.parameter_values(params.model, [])
    fitted = [o for o in observations if o.role == FIT]
    objective = JointObjective(models, fitted, scales, window, tuple(config.rate_test_own))
    result = calibration.fit(objective, fit_parameters(config, stock), config.max_iterations)
    errors = calibration.prediction_tables(models, observations, result.values, scales, window, "calibrated")[2]
    return result.cost_fitted, errors


def slowest_capacity_slope_ah_per_k(rate_tests, ambient_c: float) -> float:
    """The largest gain in C/10 capacity (to the cut-off) per kelvin between this ambient and a neighbouring one."""
    slow = sorted(
        (t.ambient_temperature_c, t.record.discharged_ah[-1]) for t in rate_tests if math.isclose(t.c_rate, SLOWEST_C_RATE)
    )
    slopes = [(q2 - q1) / (t2 - t1) for (t1, q1), (t2, q2) in zip(slow, slow[1:]) if ambient_c in (t1, t2)]
    return max(slopes)


def faster_against_slowest(rate_tests) -> list[dict]:
    """Per faster test, against the C/10 at its ambient: its highest voltage above the C/10's at the same discharged
    charge, the extra charge it delivers to the cut-off, what its extra self-heating could add at most, and whether
    that covers it (else no model of one cell in one starting state fits both)."""
    rows = []
    for test in rate_tests:
        ambient = test.ambient_temperature_c
        slowest = [
            t for t in rate_tests if t.ambient_temperature_c == ambient and math.isclose(t.c_rate, SLOWEST_C_RATE)
        ]
        if math.isclose(test.c_rate, SLOWEST_C_RATE) or not slowest:
            continue
        fast, slow = test.record, slowest[0].record
        charge = np.arange(CHARGE_STEP_AH, min(fast.discharged_ah[-1], slow.discharged_ah[-1]), CHARGE_STEP_AH)
        gap = np.interp(charge, fast.discharged_ah, fast.voltage_v) - np.interp(charge, slow.discharged_ah, slow.voltage_v)
        warmer_k = float(fast.temperature_c[-1] - slow.temperature_c[-1])
        extra_ah = float(fast.discharged_ah[-1] - slow.discharged_ah[-1])
        heating_ah = max(warmer_k, 0.0) * slowest_capacity_slope_ah_per_k(rate_tests, ambient)
        rows.append(
            {
                "name": test.name,
                "above_mv": 1000 * float(gap.max()),
                "at_ah": float(charge[gap.argmax()]),
                "extra_ah": extra_ah,
                "warmer_k": warmer_k,
                "heating_ah": heating_ah,
                "consistent": extra_ah <= heating_ah,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--goal-mv", type=float, default=25.0, help="held-out voltage RMSE goal up to 1C")
    args = parser.parse_args()

    params = load_params("params.yaml")
    protocol = params.calibrate
    every_test = protocol.model_copy(update={"held_out": HeldOut(ambient_temperatures_c=[], c_rates=[])})
    spectra, rate_tests, drive, pulses, rate_test_ocv = read_measurements(protocol)
    series = calibration.pulse_series(pulses, protocol.pulse_min_rest_voltage_v)
    observed = {
        label: calibration.build_observations(spectra, rate_tests, drive, config, series)
        for label, config in (("protocol", protocol), ("every", every_test))
    }
    models = cell_models(params, observed["protocol"], rate_test_ocv)
    cost_protocol, protocol_errors = fitted_errors(params, protocol, observed["protocol"], models)
    cost_every, every_errors = fitted_errors(params, every_test, observed["every"], models)

    print(f"cost: protocol {cost_protocol:.2f} (its fitted residuals), every rate test fitted {cost_every:.2f} (more residuals)")
    print(
        f"{'rate test':24s} {'protocol role':>13s} {'RMSE mV protocol':>17s} {'every test fitted':>18s}"
        f" {'capacity to 3 V %: protocol':>28s} {'every':>7s}"
    )
    for observation in observed["protocol"]:
        if observation.kind != DISCHARGE:
            continue
        before, after = protocol_errors[observation.name], every_errors[observation.name]
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
    for row in faster_against_slowest(rate_tests):
        verdict = "consistent" if row["consistent"] else "more than its heating can give: not one cell in one state"
        print(
            f"  {row['name']:24s} highest {row['above_mv']:+7.1f} mV above the C/10 (at {row['at_ah']:.2f} A.h);"
            f" delivers {row['extra_ah']:+.3f} A.h more, {row['warmer_k']:+.1f} K warmer at the end, worth at most"
            f" {row['heating_ah']:.3f} A.h: {verdict}"
        )


if __name__ == "__main__":
    main()

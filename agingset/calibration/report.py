"""What a calibration reports: error summaries, the design ranges that follow from a fit, labelled SOCs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pybamm

from ..params import ModelConfig, SolverConfig
from ..physics import model as model_building
from .observations import DISCHARGE, FIT, HELD_OUT, PULSE, SPECTRUM


def error_summary(observations, errors: dict[str, dict]) -> dict:
    """The headline numbers of one parameter set's errors, per role: discharge voltage RMSE
    (mean and worst, over all rates and over those up to 1C), discharge capacity to 3.0 V
    (worst relative error), spectra median |Z| error and median complex error over the window and
    below 0.1 Hz (worst), pulse resistance at the end (worst mean error, absolute and relative), so
    ``dvc metrics diff`` shows them directly."""
    summary = {}
    for role in (FIT, HELD_OUT):
        chosen = [o for o in observations if o.role == role]
        discharges = [errors[o.name]["voltage_rmse_mv"] for o in chosen if o.kind == DISCHARGE]
        up_to_1c = [errors[o.name]["voltage_rmse_mv"] for o in chosen if o.kind == DISCHARGE and o.c_rate <= 1.0]
        spectra = [errors[o.name]["median_relative_abs_z_error_pct"] for o in chosen if o.kind == SPECTRUM]
        complex_errors = [errors[o.name].get("median_complex_error_pct") for o in chosen if o.kind == SPECTRUM]
        low_frequency = [errors[o.name].get("median_complex_error_below_0_1hz_pct") for o in chosen if o.kind == SPECTRUM]
        pulses = [errors[o.name]["r_end_mean_error_mohm"] for o in chosen if o.kind == PULSE]
        pulses_relative = [errors[o.name].get("r_end_relative_error_pct") for o in chosen if o.kind == PULSE]
        entry = {}
        if discharges:
            entry["discharge_voltage_rmse_mv_mean"] = float(np.mean(discharges))
            entry["discharge_voltage_rmse_mv_max"] = float(np.max(discharges))
        if up_to_1c:
            entry["discharge_up_to_1c_voltage_rmse_mv_max"] = float(np.max(up_to_1c))
        capacity = [errors[o.name].get("capacity_to_3v_error_pct") for o in chosen if o.kind == DISCHARGE]
        capacity = [abs(error) for error in capacity if error is not None]
        if capacity:
            entry["discharge_capacity_to_3v_error_pct_max_abs"] = float(max(capacity))
        if spectra:
            entry["spectrum_median_abs_z_error_pct_max"] = float(np.max(spectra))
        for key, values in (
            ("spectrum_median_complex_error_pct_max", complex_errors),
            ("spectrum_below_0_1hz_complex_error_pct_max", low_frequency),
        ):
            values = [value for value in values if value is not None]
            if values:
                entry[key] = float(np.max(values))
        if pulses:
            entry["pulse_end_resistance_error_mohm_max_abs"] = float(np.max(np.abs(pulses)))
        pulses_relative = [value for value in pulses_relative if value is not None]
        if pulses_relative:
            entry["pulse_end_resistance_relative_error_pct_max_abs"] = float(np.max(np.abs(pulses_relative)))
        summary[role] = entry
    return summary


def cell_to_cell_spread(pulses: pd.DataFrame, column: str, ambient_temperature_c: float = 25.0) -> float:
    """Median over SOC steps of the relative standard deviation of ``column`` across cells."""
    rows = pulses[np.isclose(pulses["ambient_temperature_c"], ambient_temperature_c)]
    if rows.empty:
        raise ValueError(f"no pulse records at {ambient_temperature_c:g} degC")
    grouped = rows.groupby("soc_step")[column]
    return float((grouped.std(ddof=1) / grouped.mean()).median())


def design_range(
    value: float, standard_error: float, spread: float, scale: str, sigmas: float, bounds: tuple[float, float] | None = None
) -> dict:
    """A design range around a fitted value: ``sigmas`` combined standard deviations either side.

    The relative deviation combines the fit's uncertainty and the cell-to-cell spread in
    quadrature; a log range is ``value`` times/divided by ``exp(sigmas * deviation)``. ``bounds``
    (the fit's) clip it: a poorly identified parameter is sampled over what the fit allowed,
    not beyond.
    """
    relative = math.sqrt((standard_error / abs(value)) ** 2 + spread**2)
    if scale == "log":
        factor = math.exp(sigmas * relative)
        low, high = value / factor, value * factor
    else:
        half = sigmas * relative * abs(value)
        low, high = value - half, value + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"low": low, "high": high, "scale": scale}


def labelled_socs(model_config: ModelConfig, solver_config: SolverConfig, values: pybamm.ParameterValues, spectra) -> dict:
    """Where a cell with ``values`` puts the spectra's labelled SOCs, with its own capacity as 100 %.

    The impedance records give each spectrum's SOC as measured with its rested voltage; the cell,
    full (at rest at its upper cut-off voltage: PyBaMM's initial SOC 1), is discharged at C/50 to its
    lower cut-off, and each rested voltage is located on that discharge (SOC = 1 - charge out / all
    the charge out).
    """
    experiment = pybamm.Experiment([f"Discharge at C/50 until {float(values['Lower voltage cut-off [V]'])} V"])
    simulation = pybamm.Simulation(
        model_building.build_model(model_config),
        parameter_values=values,
        experiment=experiment,
        solver=model_building.solver(solver_config, compile_=False),
    )
    steps = [step for cycle in simulation.solve(initial_soc=1.0).cycles for step in cycle.steps]
    labelled = sorted({(float(spectrum.soc), float(spectrum.ocv_v)) for spectrum in spectra})
    if len(steps) < len(experiment.steps):  # stopped early (an infeasible step): nothing to place the labels on
        unplaced = dict.fromkeys(("capacity_ah", "placed_soc", "max_abs_soc_error", "end_surface_stoichiometry"))
        return {**unplaced, "labelled_soc": [soc for soc, _ in labelled]}
    discharge = steps[-1]
    charge = discharge["Discharge capacity [A.h]"].entries
    charge = charge - charge[0]
    voltage = discharge["Voltage [V]"].entries
    # The voltage falls as charge goes out: interpolate on the reversed voltage axis.
    placed = [1.0 - float(np.interp(-ocv, -voltage, charge) / charge[-1]) for _, ocv in labelled]
    return {
        "capacity_ah": float(charge[-1]),
        "labelled_soc": [soc for soc, _ in labelled],
        "placed_soc": placed,
        "max_abs_soc_error": float(max(abs(p - soc) for p, (soc, _) in zip(placed, labelled))),
        # Which electrode ends the discharge: a surface stoichiometry near 0 (negative) or 1 (positive).
        "end_surface_stoichiometry": {
            electrode: float(np.ravel(discharge[f"X-averaged {electrode} particle surface stoichiometry"].entries)[-1])
            for electrode in ("negative", "positive")
        },
    }

"""The calibration's one entry: :func:`calibrate` fits the dataset's model jointly to every
measurement and returns what the calibrate stage writes (:class:`CalibrationResult`).

Only what the measurements pin down becomes a dataset base value: a parameter whose standard error
exceeds ``calibrate.max_relative_standard_error`` of its value keeps the parameter set's value, and
so does one listed in ``calibrate.keep_set_values`` (its fitted value absorbs model error). The
identified parameters get design ranges from their standard error and the cell-to-cell spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..params import CalibrateConfig, ModelConfig, Params
from ..physics import model as model_building
from .balance import ocv_capacity
from .cell_models import CellModels
from .measurements import Measurements
from .observations import FIT, build_observations, pulse_series, slowest_fitted_discharge
from .optimiser import FitParameter, FitResult, JointObjective, fit
from .prediction import ResidualScales, fresh_spectra, prediction_tables, rate_test_name
from .report import cell_to_cell_spread, design_range, error_summary, labelled_socs

RESISTANCE_COLUMNS = ("r_instant_ohm", "r_10s_ohm")


@dataclass
class CalibrationResult:
    """A calibration: the fit, ``calibrated`` (what design and the solve stages read:
    calibrated.json), ``metrics`` (metrics/calibration.json), every measurement predicted with
    the stock and the calibrated values, and the calibrated fresh cell's spectra."""

    fit: FitResult
    calibrated: dict
    metrics: dict
    predictions_spectra: pd.DataFrame
    predictions_records: pd.DataFrame
    fresh_spectra: pd.DataFrame

    @property
    def dataset_base_values(self) -> dict[str, float]:
        return {name: self.fit.values[name] for name in self.calibrated["dataset_parameters"]}

    @property
    def design_ranges(self) -> dict[str, dict]:
        return self.calibrated["design_ranges"]


def fresh_cell(model: ModelConfig) -> ModelConfig:
    """``model`` as the fit runs it: its SEI film held at its initial thickness ("constant": the film's
    resistance is the fresh cell's; its growth over the hours of characterisation is not). The EC-reaction
    SEI's sensitivities are not finite in IDAKLU, and every Jacobian fell back to forward differences (the
    stage took minutes, not a minute). The other mechanisms stay: without plating, LAM and particle
    mechanics the drive cycle stopped half way."""
    if model.options.get("SEI", "none") == "none":
        return model
    return model.model_copy(update={"options": {**model.options, "SEI": "constant"}})


def cell_models(params: Params, observations, rate_test_ocv) -> CellModels:
    """The fit's models; the rate-test OCV's SOC axis in A.h from the slowest fitted discharge."""
    config = params.calibrate
    capacity = None
    if rate_test_ocv is not None:
        slow = slowest_fitted_discharge(observations, config.rate_test_ocv_temperature_c)
        capacity = ocv_capacity(*rate_test_ocv, slow.record, slow.rest_voltage_v)
    return CellModels(fresh_cell(params.model), config.solver_config(), list(config.parameters), rate_test_ocv, capacity)


def fit_parameters(config: CalibrateConfig, stock) -> list[FitParameter]:
    """The fitted parameters from their warm starts and bounds, then the rate-test cells' own copies."""
    parameters = [
        FitParameter(name, config.start_value(name, stock), r.low, r.high, r.scale) for name, r in config.parameters.items()
    ]
    shared = {parameter.name: parameter for parameter in parameters}
    for name, start in config.rate_test_own.items():
        own = shared[name]
        parameters.append(FitParameter(rate_test_name(name), own.start if start is None else start, own.low, own.high, own.scale))
    return parameters


def identified_parameters(config: CalibrateConfig, result: FitResult) -> list[str]:
    """The fitted shared parameters that become the dataset's base values."""
    return [
        name
        for name in config.parameters
        if result.standard_errors[name] <= config.max_relative_standard_error * abs(result.values[name])
        and name not in config.keep_set_values
    ]


def design_ranges(config: CalibrateConfig, result: FitResult, identified: list[str], spreads: dict[str, float]) -> dict:
    return {
        name: design_range(
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


def calibrate(params: Params, measurements: Measurements) -> CalibrationResult:
    """Fit ``params.calibrate.parameters`` to the fitted measurements, predict every measurement
    (held out included) with the stock and the fitted values, and derive the dataset's base values
    and design ranges."""
    config = params.calibrate
    pulses = measurements.pulses
    observations = build_observations(
        measurements.spectra,
        measurements.rate_tests,
        measurements.drive_cycle,
        config,
        pulse_series(pulses, config.pulse_min_rest_voltage_v),
    )
    stock = model_building.parameter_values(params.model, [])
    names = list(config.parameters)
    models = cell_models(params, observations, measurements.rate_test_ocv)
    scales = ResidualScales(**config.scales.model_dump())
    window = tuple(config.frequency_window_hz)
    objective = JointObjective(models, [o for o in observations if o.role == FIT], scales, window, tuple(config.rate_test_own))
    result = fit(objective, fit_parameters(config, stock), config.max_iterations)

    stock_values = {name: float(stock[name]) for name in names}  # the same for both cell products
    before = prediction_tables(models, observations, stock_values, scales, window, "stock")
    after = prediction_tables(models, observations, result.values, scales, window, "calibrated")
    fresh = fresh_spectra(
        models, result.values, config.prediction_socs, config.prediction_temperature_c, measurements.spectra[0].frequency_hz
    )
    summary = result.summary()
    spreads = {column: cell_to_cell_spread(pulses, column, config.spread_temperature_c) for column in RESISTANCE_COLUMNS}
    identified = identified_parameters(config, result)
    # The M50LT's labelled SOCs on the dataset's fresh cell and on the fitted one (their electrode
    # balances differ where calibrate.keep_set_values keeps the set's fractions): docs/physics.md.
    soc_labels = {}
    for cell, taken in (("dataset_cell", identified), ("fitted_cell", names)):
        cell_model = fresh_cell(params.model).with_base_values({name: result.values[name] for name in taken})
        cell_values = model_building.parameter_values(cell_model, [])
        soc_labels[cell] = labelled_socs(cell_model, config.solver_config(), cell_values, measurements.spectra)
    calibrated = {
        "model": params.model.model_dump(exclude={"calibration"}),
        # The dataset's base values: the identified shared parameters (not the rate-test cells' own values).
        "dataset_parameters": identified,
        "unidentified": [name for name in names if name not in identified and name not in config.keep_set_values],
        "kept_set_values": list(config.keep_set_values),
        "measurements": measurements.sha256,
        "roles": {o.name: o.role for o in observations},
        "rest_voltages_v": {o.name: o.rest_voltage_v for o in observations if o.rest_voltage_v is not None},
        "rate_test_balance": models.balance.summary(models.nominal) if models.balance else None,
        "design_ranges": design_ranges(config, result, identified, spreads),
        "design_range_basis": {
            "sigmas": config.design_sigmas,
            "cell_to_cell_relative_spread": spreads,
            "spread_temperature_c": config.spread_temperature_c,
        },
        **summary,
    }
    metrics = {
        "measurements": {
            o.name: {"role": o.role, "kind": o.kind, "stock": before[2][o.name], "calibrated": after[2][o.name]}
            for o in observations
        },
        "summary": {
            label: error_summary(observations, errors) for label, errors in (("stock", before[2]), ("calibrated", after[2]))
        },
        "fit": {
            key: summary[key]
            for key in ("cost_start", "cost_fitted", "iterations", "function_evaluations", "converged", "residual_points")
        },
        "soc_labels": soc_labels,
        "parameters": {name: {k: v for k, v in entry.items() if k != "start"} for name, entry in summary["parameters"].items()},
    }
    return CalibrationResult(
        fit=result,
        calibrated=calibrated,
        metrics=metrics,
        predictions_spectra=pd.concat([before[0], after[0]], ignore_index=True),
        predictions_records=pd.concat([before[1], after[1]], ignore_index=True),
        fresh_spectra=fresh,
    )

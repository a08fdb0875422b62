"""Parameter identification: fit model parameters to a measured current/voltage record.

The model is built once with the measured current as an interpolant and every fitted
parameter as an ``[input]``; each objective evaluation is one IDAKLU solve, and the
Jacobian of the simulated voltage comes from IDAKLU's forward sensitivities rather than
finite differences. The optimiser works on unit-scaled variables (each parameter mapped
linearly or logarithmically from its bounds onto [0, 1]) so that a volume fraction and a
diffusivity take comparable steps.

Two objectives:

- ``voltage``: residuals are simulated minus measured terminal voltage;
- ``ica``: residuals are simulated minus measured incremental capacity dQ/dV on the
  measured curve's voltage grid (:mod:`agingset.ica`), for a low-rate curve: peak shifts
  and heights carry the electrode capacities and their alignment (LAM, LLI).

The model is isothermal at the parameter set's ambient temperature; a measured
``temperature_c`` column is checked but not used.

Confidence: standard errors from the Jacobian at the optimum, ``sqrt(diag(s^2 (J^T J)^-1))``
with ``s^2`` the residual variance. They assume independent residuals, so on a real record
whose misfit is mostly model error they are a lower bound.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pybamm
from scipy.optimize import least_squares, minimize

from . import ica
from .measurement import Measurement
from .params import FIT_METHODS, FIT_OBJECTIVES, INITIAL_SOC, ModelConfig, SolverConfig
from .physics import model as model_building

# Residual given to the part of a record the simulation did not reach (it stopped at a
# voltage cut-off): larger than any voltage misfit, so the optimiser leaves that region.
UNREACHED_RESIDUAL_V = 1.0


@dataclass(frozen=True)
class FitParameter:
    name: str
    start: float
    low: float
    high: float
    scale: str = "linear"

    def to_unit(self, value: float) -> float:
        if self.scale == "log":
            return math.log(value / self.low) / math.log(self.high / self.low)
        return (value - self.low) / (self.high - self.low)

    def from_unit(self, unit: float) -> float:
        if self.scale == "log":
            return self.low * (self.high / self.low) ** unit
        return self.low + unit * (self.high - self.low)

    def derivative(self, unit: float) -> float:
        """d value / d unit, for the chain rule of the Jacobian."""
        if self.scale == "log":
            return self.from_unit(unit) * math.log(self.high / self.low)
        return self.high - self.low


class RecordModel:
    """A model driven by a measured current, built once, solved for any fitted values."""

    def __init__(
        self,
        model_config: ModelConfig,
        solver_config: SolverConfig,
        measurement: Measurement,
        fit_names: list[str],
    ):
        self.fit_names = list(fit_names)
        self.time_s = measurement.time_s
        model = model_building.build_model(model_config)
        physical = [name for name in self.fit_names if name != INITIAL_SOC]
        values = model_building.parameter_values(model_config, physical)
        values.update(
            {
                # PyBaMM's current is positive on discharge; the measurement's is negative.
                "Current function [A]": pybamm.Interpolant(
                    measurement.time_s, -measurement.current_a, pybamm.t, interpolator="linear"
                )
            }
        )
        if INITIAL_SOC in self.fit_names:
            values.update(_initial_soc_as_input(model_config))
        self.simulation = pybamm.Simulation(
            model,
            parameter_values=values,
            solver=model_building.solver(solver_config),
            var_pts=model_building.var_pts(model_config, model),
        )

    def voltage(self, values: dict[str, float], sensitivities: bool = False):
        """Simulated voltage at the measurement times (shorter if a cut-off stopped the
        solve) and, with ``sensitivities``, its Jacobian (rows: times, columns: fit names)."""
        try:
            solution = self.simulation.solve(
                [0.0, float(self.time_s[-1])],
                t_interp=self.time_s,
                inputs={name: float(values[name]) for name in self.fit_names},
                calculate_sensitivities=sensitivities,
            )
        except pybamm.SolverError:
            # A trial point the solver cannot integrate reaches nothing of the record; the
            # objective penalises it instead of ending the fit.
            return np.empty(0), (np.empty((0, len(self.fit_names))) if sensitivities else None)
        voltage = np.asarray(solution["Voltage [V]"].entries, dtype=float)
        if not sensitivities:
            return voltage, None
        by_name = solution["Voltage [V]"].sensitivities
        jacobian = np.column_stack([np.asarray(by_name[name]).ravel() for name in self.fit_names])
        return voltage, jacobian


def _initial_soc_as_input(config: ModelConfig) -> dict:
    nominal = pybamm.ParameterValues(config.parameter_set)
    nominal.update(dict(config.parameter_overrides))
    x_0, x_100, y_100, y_0 = pybamm.lithium_ion.get_min_max_stoichiometries(nominal)
    soc = pybamm.InputParameter(INITIAL_SOC)
    return {
        "Initial concentration in negative electrode [mol.m-3]": (x_0 + soc * (x_100 - x_0))
        * nominal["Maximum concentration in negative electrode [mol.m-3]"],
        "Initial concentration in positive electrode [mol.m-3]": (y_0 + soc * (y_100 - y_0))
        * nominal["Maximum concentration in positive electrode [mol.m-3]"],
    }


class VoltageObjective:
    """Residuals: simulated minus measured voltage at every measurement time."""

    name = "voltage"
    analytic_jacobian = True
    axis_name = "time_s"

    def __init__(self, model: RecordModel, measurement: Measurement):
        self.model, self.axis, self.measured = model, measurement.time_s, measurement.voltage_v

    def residuals(self, values: dict[str, float], jacobian: bool = False):
        voltage, sensitivity = self.model.voltage(values, jacobian)
        reached = voltage.size
        residual = np.full(self.measured.size, UNREACHED_RESIDUAL_V)
        residual[:reached] = voltage - self.measured[:reached]
        if not jacobian:
            return residual, None
        full = np.zeros((self.measured.size, len(self.model.fit_names)))
        full[:reached] = sensitivity
        return residual, full


class IncrementalCapacityObjective:
    """Residuals: simulated minus measured dQ/dV on the measured curve's voltage grid.

    Both curves use the measured (coulomb-counted) capacity axis, so the simulated curve
    differs from the measured one only through the voltage the parameters produce.
    """

    name = "ica"
    analytic_jacobian = False
    axis_name = "voltage_v"

    def __init__(self, model: RecordModel, measurement: Measurement, smoothing_v: float, step_v: float):
        current = measurement.current_a
        changes_sign = np.any(current > 0) and np.any(current < 0)
        if changes_sign or np.ptp(current) > 0.05 * np.max(np.abs(current)):
            raise ValueError(
                "the ica objective needs a constant-current (low-rate) charge or discharge; "
                "this record's current changes sign or varies by more than 5 %"
            )
        self.model = model
        self.capacity = measurement.discharged_ah
        self.smoothing_v, self.step_v = smoothing_v, step_v
        self.axis, self.measured = self.curve(measurement.voltage_v)

    def curve(self, voltage_v: np.ndarray):
        return ica.incremental_capacity(
            self.capacity[: voltage_v.size], voltage_v, step_v=self.step_v, smoothing_v=self.smoothing_v
        )

    def residuals(self, values: dict[str, float], jacobian: bool = False):
        voltage, _ = self.model.voltage(values)
        try:
            grid, dqdv = self.curve(voltage)
        except ValueError:  # too little of the curve was reached to differentiate
            return -self.measured, None
        return np.interp(self.axis, grid, dqdv, left=0.0, right=0.0) - self.measured, None


@dataclass
class FitResult:
    method: str
    objective: str
    names: list[str]
    start: dict[str, float]
    values: dict[str, float]
    standard_errors: dict[str, float]
    rmse_start: float
    rmse_fitted: float
    iterations: int
    function_evaluations: int
    wall_time_s: float
    converged: bool
    message: str
    residuals_start: np.ndarray = field(repr=False)
    residuals_fitted: np.ndarray = field(repr=False)

    def summary(self) -> dict:
        """JSON-ready record of the fit (no arrays)."""
        return {
            "method": self.method,
            "objective": self.objective,
            "parameters": {
                name: {
                    "start": self.start[name],
                    "fitted": self.values[name],
                    "standard_error": self.standard_errors[name],
                    "relative_standard_error": self.standard_errors[name] / abs(self.values[name])
                    if self.values[name]
                    else float("nan"),
                }
                for name in self.names
            },
            "rmse_start": self.rmse_start,
            "rmse_fitted": self.rmse_fitted,
            "residual_points": int(self.residuals_fitted.size),
            "iterations": self.iterations,
            "function_evaluations": self.function_evaluations,
            "converged": self.converged,
            "message": self.message,
        }


def _rmse(residual: np.ndarray) -> float:
    return float(np.sqrt(np.mean(residual**2)))


def fit(objective, parameters: list[FitParameter], method: str = "least_squares", max_iterations: int = 50) -> FitResult:
    """Minimise the objective's sum of squared residuals over the parameters' bounds."""
    if method not in FIT_METHODS:
        raise ValueError(f"unknown method {method!r}; allowed: {', '.join(FIT_METHODS)}")
    names = [p.name for p in parameters]
    started = time.perf_counter()
    evaluations = 0

    def physical(unit):
        return {p.name: p.from_unit(u) for p, u in zip(parameters, unit)}

    def residuals(unit, jacobian=False):
        nonlocal evaluations
        evaluations += 1
        residual, sensitivity = objective.residuals(physical(unit), jacobian)
        if sensitivity is not None:
            sensitivity = sensitivity * np.array([p.derivative(u) for p, u in zip(parameters, unit)])
        return residual, sensitivity

    start_unit = np.array([p.to_unit(p.start) for p in parameters])
    residual_start, _ = residuals(start_unit)
    bounds = (np.zeros(len(parameters)), np.ones(len(parameters)))

    if method == "least_squares":
        jac = (lambda u: residuals(u, True)[1]) if objective.analytic_jacobian else "2-point"
        outcome = least_squares(
            lambda u: residuals(u)[0],
            start_unit,
            jac=jac,
            bounds=bounds,
            method="trf",
            x_scale="jac",
            # Finite differences must step over the solver's tolerance noise.
            diff_step=None if objective.analytic_jacobian else 1e-3,
            max_nfev=max_iterations,
        )
        # Trust-region iterations: one Jacobian each (finite differences count as such too).
        iterations = outcome.njev if outcome.njev is not None else outcome.nfev
        unit, converged, message = outcome.x, outcome.status > 0, outcome.message
    else:

        def loss(u):
            residual, sensitivity = residuals(u, jacobian=method == "L-BFGS-B" and objective.analytic_jacobian)
            value = 0.5 * float(residual @ residual)
            return (value, residual @ sensitivity) if sensitivity is not None else value

        gradient = method == "L-BFGS-B" and objective.analytic_jacobian
        outcome = minimize(
            loss,
            start_unit,
            method=method,
            jac=gradient,
            bounds=list(zip(*bounds)),
            options={"maxiter": max_iterations},
        )
        unit, iterations, converged, message = outcome.x, outcome.nit, bool(outcome.success), str(outcome.message)

    residual_fitted, jacobian_unit = residuals(unit, jacobian=objective.analytic_jacobian)
    if jacobian_unit is None:
        jacobian_unit = _finite_difference_jacobian(lambda u: residuals(u)[0], unit, residual_fitted)
    values = physical(unit)
    errors = _standard_errors(jacobian_unit, residual_fitted, parameters, unit)
    return FitResult(
        method=method,
        objective=objective.name,
        names=names,
        start={p.name: p.start for p in parameters},
        values=values,
        standard_errors=dict(zip(names, errors)),
        rmse_start=_rmse(residual_start),
        rmse_fitted=_rmse(residual_fitted),
        iterations=int(iterations),
        function_evaluations=evaluations,
        wall_time_s=time.perf_counter() - started,
        converged=converged,
        message=str(message),
        residuals_start=residual_start,
        residuals_fitted=residual_fitted,
    )


def _finite_difference_jacobian(function, unit: np.ndarray, at: np.ndarray, step: float = 1e-3) -> np.ndarray:
    columns = []
    for k in range(unit.size):
        shifted = unit.copy()
        # Step inwards so the perturbed point stays inside the bounds.
        delta = step if shifted[k] + step <= 1 else -step
        shifted[k] += delta
        columns.append((function(shifted) - at) / delta)
    return np.column_stack(columns)


def _standard_errors(jacobian_unit, residual, parameters: list[FitParameter], unit) -> list[float]:
    """Standard errors in physical units from the unit-space Jacobian at the optimum."""
    freedom = max(residual.size - len(parameters), 1)
    variance = float(residual @ residual) / freedom
    try:
        covariance_unit = variance * np.linalg.inv(jacobian_unit.T @ jacobian_unit)
    except np.linalg.LinAlgError:
        return [float("inf")] * len(parameters)
    scale = np.array([p.derivative(u) for p, u in zip(parameters, unit)])
    return [float(s) for s in np.sqrt(np.clip(np.diag(covariance_unit), 0, None)) * np.abs(scale)]


def build_objective(kind: str, model: RecordModel, measurement: Measurement, smoothing_v: float, step_v: float):
    if kind == "voltage":
        return VoltageObjective(model, measurement)
    if kind == "ica":
        return IncrementalCapacityObjective(model, measurement, smoothing_v, step_v)
    raise ValueError(f"unknown objective {kind!r}; allowed: {', '.join(FIT_OBJECTIVES)}")

"""The joint least-squares fit: unit-scaled trust region, standard errors and correlation.

The optimiser (SciPy ``least_squares``, trust region) works on unit-scaled variables: each parameter
mapped linearly or logarithmically from its bounds onto [0, 1]. Standard errors come from the
Jacobian at the optimum, ``sqrt(diag(s^2 (J^T J)^-1))`` with ``s^2`` the weighted residual variance,
and the correlation matrix from the same covariance. They assume independent residuals; on real
records whose misfit is mostly model error they are a lower bound.

Held-out records are never passed to the objective: :class:`JointObjective` refuses them.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from ..params import from_unit, to_unit, unit_derivative
from .observations import FIT, RATE_TEST_KINDS
from .prediction import ResidualScales, predict, rate_test_name, record_values, residual_jacobian

LOGGER = logging.getLogger("agingset.calibration")


@dataclass(frozen=True)
class FitParameter:
    name: str
    start: float
    low: float
    high: float
    scale: str = "linear"

    def to_unit(self, value: float) -> float:
        return to_unit(value, self.low, self.high, self.scale)

    def from_unit(self, unit: float) -> float:
        return from_unit(unit, self.low, self.high, self.scale)

    def derivative(self, unit: float) -> float:
        """d value / d unit, for the chain rule of the Jacobian."""
        return unit_derivative(unit, self.low, self.high, self.scale)


class JointObjective:
    """Stacked weighted residuals of the fitted records; held-out records are refused.

    ``names``: the fitted vector; the models' shared inputs, then any rate-test-cell values.
    """

    def __init__(self, models, observations, scales: ResidualScales, window_hz, rate_test_own: tuple[str, ...] = ()):
        held_out = [o.name for o in observations if o.role != FIT]
        if held_out:
            raise ValueError(f"held-out measurement(s) {held_out} may not enter the fit")
        unknown = [name for name in rate_test_own if name not in models.fit_names]
        if unknown:
            raise ValueError(f"rate-test-cell parameters {unknown} are not fitted parameters")
        self.models, self.observations, self.scales, self.window_hz = models, observations, scales, window_hz
        self.names = [*models.fit_names, *(rate_test_name(name) for name in rate_test_own)]

    def residuals(self, values: dict[str, float]) -> np.ndarray:
        return np.concatenate(
            [
                predict(self.models, o, record_values(o, values), self.scales, self.window_hz).residuals
                for o in self.observations
            ]
        )

    def jacobian(self, values: dict[str, float]) -> np.ndarray:
        """d residuals / d values in physical units (columns: ``names``)."""
        blocks = []
        for observation in self.observations:
            inputs = record_values(observation, values)
            block = residual_jacobian(self.models, observation, inputs, self.scales, self.window_hz)
            full = np.zeros((block.shape[0], len(self.names)))
            for column, name in enumerate(self.models.fit_names):
                own = rate_test_name(name)
                target = own if observation.kind in RATE_TEST_KINDS and own in values else name
                full[:, self.names.index(target)] = block[:, column]
            blocks.append(full)
        return np.vstack(blocks)


@dataclass
class FitResult:
    names: list[str]
    start: dict[str, float]
    values: dict[str, float]
    standard_errors: dict[str, float]
    correlation: np.ndarray
    cost_start: float
    cost_fitted: float
    iterations: int
    function_evaluations: int
    wall_time_s: float
    converged: bool
    message: str
    residual_points: int
    bounds_hit: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """JSON-ready record of the fit (no wall time: it depends on the machine)."""
        return {
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
            "correlation": {
                a: {b: float(self.correlation[i, j]) for j, b in enumerate(self.names)}
                for i, a in enumerate(self.names)
            },
            "cost_start": self.cost_start,
            "cost_fitted": self.cost_fitted,
            "residual_points": self.residual_points,
            "iterations": self.iterations,
            "function_evaluations": self.function_evaluations,
            "converged": self.converged,
            "message": self.message,
            "at_bounds": self.bounds_hit,
        }


@dataclass
class Minimisation:
    """What the trust-region minimiser returns, in the unit-scaled variables."""

    unit: np.ndarray  # the optimum, each parameter in [0, 1]
    residuals: np.ndarray  # at the optimum
    jacobian: np.ndarray  # d residuals / d unit at the optimum
    residual_start: np.ndarray
    iterations: int
    function_evaluations: int
    converged: bool
    message: str
    wall_time_s: float


def minimise(objective, parameters: list[FitParameter], max_iterations: int = 30) -> Minimisation:
    """Minimise the objective's sum of squares over the parameters' bounds (trust region, unit-scaled)."""
    names = [p.name for p in parameters]
    if names != list(objective.names):
        raise ValueError(f"parameters {names} must be the objective's names in order {objective.names}")
    started = time.perf_counter()
    evaluations = 0

    def residuals(unit):
        nonlocal evaluations
        evaluations += 1
        values = physical_values(parameters, unit)
        residual = objective.residuals(values)
        # Progress of a long fit, with the values: a warm start if it is interrupted.
        LOGGER.info("evaluation %d: cost %.6g at %s", evaluations, float(residual @ residual), json.dumps(values))
        return residual

    def jacobian(unit):
        chain = np.array([p.derivative(float(u)) for p, u in zip(parameters, unit)])
        return with_finite_columns(objective.jacobian(physical_values(parameters, unit)) * chain, unit, residuals)

    start_unit = np.array([p.to_unit(p.start) for p in parameters])
    residual_start = residuals(start_unit)
    outcome = least_squares(
        residuals,
        start_unit,
        jac=jacobian,
        bounds=(np.zeros(len(parameters)), np.ones(len(parameters))),
        method="trf",
        x_scale="jac",
        max_nfev=max_iterations,
    )
    return Minimisation(
        unit=outcome.x,
        residuals=outcome.fun,
        jacobian=outcome.jac,
        residual_start=residual_start,
        iterations=int(outcome.njev or outcome.nfev),
        function_evaluations=evaluations,
        converged=outcome.status > 0,
        message=str(outcome.message),
        wall_time_s=time.perf_counter() - started,
    )


FINITE_DIFFERENCE_STEP = 1e-4  # in the unit-scaled variables


def with_finite_columns(jacobian: np.ndarray, unit: np.ndarray, residuals) -> np.ndarray:
    """``jacobian`` with every column that holds a non-finite entry (a sensitivity the solver could
    not give, e.g. IDAKLU's near a diffusion-limited end of discharge) replaced by a forward
    difference of ``residuals`` (a function of the unit-scaled point), stepping into the bounds;
    what is still not finite is 0 (no information). A NaN would otherwise stop the fit."""
    broken = np.flatnonzero(~np.isfinite(jacobian).all(axis=0))
    if not broken.size:
        return jacobian
    LOGGER.warning("sensitivities not finite for %d parameter(s): forward differences instead", broken.size)
    jacobian = jacobian.copy()
    base = residuals(unit)
    for column in broken:
        point = np.array(unit, dtype=float)
        step = FINITE_DIFFERENCE_STEP if point[column] + FINITE_DIFFERENCE_STEP <= 1.0 else -FINITE_DIFFERENCE_STEP
        point[column] += step
        jacobian[:, column] = (residuals(point) - base) / step
    return np.where(np.isfinite(jacobian), jacobian, 0.0)


def physical_values(parameters: list[FitParameter], unit) -> dict[str, float]:
    """The parameters' physical values at a point of the unit-scaled space."""
    return {p.name: p.from_unit(float(u)) for p, u in zip(parameters, unit)}


def fit_result(parameters: list[FitParameter], minimisation: Minimisation) -> FitResult:
    """The fitted values, their standard errors and correlation, and the fit's record."""
    names = [p.name for p in parameters]
    unit = minimisation.unit
    errors, correlation = standard_errors(minimisation.jacobian, minimisation.residuals, parameters, unit)
    return FitResult(
        names=names,
        start={p.name: p.start for p in parameters},
        values=physical_values(parameters, unit),
        standard_errors=dict(zip(names, errors)),
        correlation=correlation,
        cost_start=float(minimisation.residual_start @ minimisation.residual_start),
        cost_fitted=float(minimisation.residuals @ minimisation.residuals),
        iterations=minimisation.iterations,
        function_evaluations=minimisation.function_evaluations,
        wall_time_s=minimisation.wall_time_s,
        converged=minimisation.converged,
        message=minimisation.message,
        residual_points=int(minimisation.residuals.size),
        bounds_hit=[p.name for p, u in zip(parameters, unit) if u < 1e-3 or u > 1 - 1e-3],
    )


def fit(objective, parameters: list[FitParameter], max_iterations: int = 30) -> FitResult:
    """Minimise the objective's sum of squares over the parameters' bounds (trust region) and
    build the result: :func:`minimise`, then :func:`fit_result`."""
    return fit_result(parameters, minimise(objective, parameters, max_iterations))


def standard_errors(jacobian_unit, residual, parameters: list[FitParameter], unit):
    """Standard errors in physical units and the correlation matrix, from the unit-space Jacobian."""
    count = len(parameters)
    freedom = max(residual.size - count, 1)
    variance = float(residual @ residual) / freedom
    jacobian_unit = np.asarray(jacobian_unit, dtype=float)
    try:
        covariance_unit = variance * np.linalg.pinv(jacobian_unit.T @ jacobian_unit)
    except np.linalg.LinAlgError:
        return [float("inf")] * count, np.full((count, count), np.nan)
    scale = np.array([p.derivative(u) for p, u in zip(parameters, unit)])
    deviation_unit = np.sqrt(np.clip(np.diag(covariance_unit), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = covariance_unit / np.outer(deviation_unit, deviation_unit)
    return [float(s) for s in deviation_unit * np.abs(scale)], correlation

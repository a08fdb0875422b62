"""Joint identification of the cell model against real measurements.

One parameter vector is fitted to several measurements at once, each simulated the way it
was measured:

- impedance spectra: ``pybamm.EISSimulation`` of the dataset's impedance model (the aging
  model with the double-layer surface form) at the measured rest voltage, 25 degC;
- constant-current discharges: the dataset's aging model (lumped thermal) from the measured
  rest voltage, at the measured current and ambient temperature, voltage and cell
  temperature compared;
- the drive cycle: the same model driven by the measured current;
- current pulses (10 s at nine SOCs per temperature, medians over the cells measured): the
  rate-test cells' model from each pulse's rested voltage, its voltage at the first sample
  under load and at the pulse's end compared: what splits a discharge's polarization into
  what is there at once (series resistance, charge transfer) and what builds up (diffusion).

Every model is built once with the fitted parameters and the operating conditions (current,
ambient and initial temperature, starting SOC) as ``[input]``s; a trial point is one solve
per record. The optimiser (SciPy ``least_squares``, trust region) works on unit-scaled
variables: each parameter mapped linearly or logarithmically from its bounds onto [0, 1].

Residuals are dimensionless: impedance as (Z_sim - Z_meas) / |Z_meas| divided by
``impedance_relative`` (real and imaginary parts), voltage divided by ``voltage_v``,
temperature divided by ``temperature_k``. Each record's residuals are divided by the square
root of their count and multiplied by the record kind's weight, so a record counts by its
weight, not by how densely it was sampled.

Confidence: standard errors from the Jacobian at the optimum, ``sqrt(diag(s^2 (J^T J)^-1))``
with ``s^2`` the weighted residual variance, and the correlation matrix of the same
covariance. They assume independent residuals; on real records whose misfit is mostly model
error they are a lower bound.

Held-out records (``role == "held_out"``) are simulated with the fitted parameters and
reported, never passed to the objective: :class:`JointObjective` refuses them.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pybamm
from scipy.optimize import least_squares

from .measurement import MeasuredSpectrum, Measurement, RateTest
from .params import ModelConfig, SolverConfig, from_unit, to_unit, unit_derivative
from .physics import model as model_building

LOGGER = logging.getLogger("agingset.calibration")
FIT, HELD_OUT = "fit", "held_out"
SPECTRUM, DISCHARGE, DRIVE_CYCLE, PULSE = "spectrum", "discharge", "drive_cycle", "pulse"
# Records of the rate-test cells (LG M50): they take that product's own parameter values.
RATE_TEST_KINDS = (DISCHARGE, PULSE)

_SOC = "Initial SOC"
_CURRENT = "Current function [A]"
_AMBIENT = "Ambient temperature [K]"
_INITIAL_T = "Initial temperature [K]"
_KELVIN = 273.15
# The simulated discharge may run below the measured 2.5 V end so that a slightly early
# knee still yields a voltage at every measured time; past this the record is unreached.
SIMULATION_CUTOFF_V = 2.0
# A pulse's first sample under load: the measured step is there within the logger's first
# sample (0-0.1 s), past the charge-transfer time constant (the arc at ~100 Hz: ~2 ms).
PULSE_INSTANT_S = 0.1


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


@dataclass(frozen=True)
class ResidualScales:
    impedance_relative: float = 0.02
    voltage_v: float = 0.01
    temperature_k: float = 2.0


@dataclass(frozen=True)
class PulseSeries:
    """One ambient temperature's discharge current pulses, one per SOC step (each the median
    over the cells measured): rested voltage before the pulse, current (positive), duration,
    resistance at the first sample under load and at the pulse's end."""

    soc_step: np.ndarray
    rest_voltage_v: np.ndarray
    current_a: np.ndarray
    duration_s: np.ndarray
    r_instant_ohm: np.ndarray
    r_end_ohm: np.ndarray

    def measured_resistances(self) -> np.ndarray:
        """(pulses, 2): the resistance at the first sample under load and at the end."""
        return np.column_stack([self.r_instant_ohm, self.r_end_ohm])

    def resistances(self, voltages: np.ndarray) -> np.ndarray:
        """(pulses, 2) resistances of (pulses, 2) voltages under load: the drop from rest over the current."""
        return (self.rest_voltage_v[:, None] - voltages) / self.current_a[:, None]

    def measured_voltages(self) -> np.ndarray:
        """(pulses, 2): the voltage at the first sample under load and at the end."""
        return self.rest_voltage_v[:, None] - self.measured_resistances() * self.current_a[:, None]


def pulse_series(pulses: pd.DataFrame, min_rest_voltage_v: float) -> dict[float, PulseSeries]:
    """Per ambient temperature, the pulse table's medians over its cells per SOC step, the
    steps rested below ``min_rest_voltage_v`` left out (the end of discharge, where a 10-s
    pulse runs into the knee and the resistance is the knee's position, not the cell's)."""
    medians = pulses.groupby(["ambient_temperature_c", "soc_step"]).median(numeric_only=True).reset_index()
    medians = medians[medians["rest_voltage_v"] >= min_rest_voltage_v]
    return {
        float(temperature): PulseSeries(
            group["soc_step"].to_numpy(dtype=int),
            group["rest_voltage_v"].to_numpy(dtype=float),
            group["pulse_current_a"].to_numpy(dtype=float),
            group["pulse_duration_s"].to_numpy(dtype=float),
            group["r_instant_ohm"].to_numpy(dtype=float),
            group["r_10s_ohm"].to_numpy(dtype=float),
        )
        for temperature, group in medians.groupby("ambient_temperature_c")
    }


@dataclass(frozen=True)
class Observation:
    """One measured record in the identification."""

    name: str
    kind: str  # SPECTRUM | DISCHARGE | DRIVE_CYCLE | PULSE
    role: str  # FIT | HELD_OUT
    weight: float
    spectrum: MeasuredSpectrum | None = None
    record: Measurement | None = None
    ambient_temperature_c: float = 25.0
    c_rate: float | None = None
    # A discharge's rested voltage before the current (fixes its starting SOC); None: the first sample.
    rest_voltage_v: float | None = None
    pulses: PulseSeries | None = None


# A rested first sample is followed by the ohmic step of the current: at least this resistance
# (the LG M50 pulse tests' instantaneous resistance is 24-67 mOhm at 0-45 degC).
REST_STEP_MIN_OHM = 0.010


def rested_start(record: Measurement) -> float | None:
    """The record's rested voltage before its discharge, or None when its first sample is
    already under load (no current step after it, e.g. a logger that starts late)."""
    current = _discharge_current(record)
    if abs(record.current_a[0]) > 0.01 * current or record.current_a[1] >= 0:
        return None
    step_ohm = (record.voltage_v[0] - record.voltage_v[1]) / -record.current_a[1]
    return float(record.voltage_v[0]) if step_ohm >= REST_STEP_MIN_OHM else None


def rest_voltages(tests) -> dict[str, float]:
    """Each rate test's starting rest voltage: its own rested first sample, else the median of
    the rested starts at the same ambient temperature (every test starts from the same charge
    to 4.2 V and rest; their rested starts agree within 2 mV per temperature)."""
    own = {test.name: rested_start(test.record) for test in tests}
    result = {}
    for test in tests:
        if own[test.name] is not None:
            result[test.name] = own[test.name]
            continue
        same = [own[t.name] for t in tests if math.isclose(t.ambient_temperature_c, test.ambient_temperature_c) and own[t.name] is not None]
        if not same:
            raise ValueError(f"{test.name}: starts under load and no test at {test.ambient_temperature_c:g} degC starts at rest")
        result[test.name] = float(np.median(same))
    return result


def is_held_out(test: RateTest, held_out_temperatures_c, held_out_c_rates) -> bool:
    """The validation protocol: rate tests at these ambients or these C-rates are never fitted."""
    return any(math.isclose(test.ambient_temperature_c, t) for t in held_out_temperatures_c) or any(
        math.isclose(test.c_rate, c) for c in held_out_c_rates
    )


def resample_uniform(record: Measurement, points: int) -> Measurement:
    """The record at ``points`` equally spaced times (linear interpolation), first and last kept."""
    time_s = np.linspace(record.time_s[0], record.time_s[-1], points)
    temperature = None if record.temperature_c is None else np.interp(time_s, record.time_s, record.temperature_c)
    return Measurement(
        time_s,
        np.interp(time_s, record.time_s, record.current_a),
        np.interp(time_s, record.time_s, record.voltage_v),
        temperature,
    )


def _discharge_current(record: Measurement) -> float:
    """A constant-current record's discharge current (positive), from its discharging samples."""
    return -float(np.median(record.current_a[record.current_a < 0]))


FARADAY = 96485.33212
_FRACTION = "{} electrode active material volume fraction"


def electrode_ocp(values: pybamm.ParameterValues, electrode: str, stoichiometry: np.ndarray) -> np.ndarray:
    """``electrode`` ("Negative"/"Positive") OCP of a parameter set at these stoichiometries (reference temperature)."""
    symbol = pybamm.FunctionParameter(
        f"{electrode} electrode OCP [V]", {f"{electrode} particle stoichiometry": pybamm.Vector(np.asarray(stoichiometry, dtype=float))}
    )
    return np.asarray(values.process_symbol(symbol).evaluate(), dtype=float).ravel()


def capacity_per_fraction_ah(values: pybamm.ParameterValues, electrode: str) -> float:
    """An electrode's full lithiation capacity [A.h] per unit active-material volume fraction."""
    volume = values[f"{electrode} electrode thickness [m]"] * values["Electrode width [m]"] * values["Electrode height [m]"]
    return float(volume * values[f"Maximum concentration in {electrode.lower()} electrode [mol.m-3]"] * FARADAY / 3600)


@dataclass(frozen=True)
class ElectrodeBalance:
    """A cell's electrodes from its measured OCV (a LAM-free electrode match): both
    stoichiometries at 100 % SOC and both electrodes' capacities. SOC is the fraction of
    ``ocv_capacity_ah``, the charge between the measured OCV's 0 and 100 % points; from SOC s
    the negative electrode sits at x_100 - (1 - s) Q_ocv / Q_n, the positive at
    y_100 + (1 - s) Q_ocv / Q_p."""

    negative_stoichiometry_100: float
    positive_stoichiometry_100: float
    negative_capacity_ah: float
    positive_capacity_ah: float
    ocv_capacity_ah: float
    rms_v: float = float("nan")  # the match's residual against the measured OCV

    def stoichiometries(self, soc):
        removed = (1 - np.asarray(soc, dtype=float)) * self.ocv_capacity_ah
        return (
            self.negative_stoichiometry_100 - removed / self.negative_capacity_ah,
            self.positive_stoichiometry_100 + removed / self.positive_capacity_ah,
        )

    def open_circuit_voltage(self, values: pybamm.ParameterValues, soc) -> np.ndarray:
        """The cell's OCV from ``values``' electrode OCPs (stoichiometries clipped to 0..1)."""
        x, y = self.stoichiometries(soc)
        return electrode_ocp(values, "Positive", np.clip(y, 0, 1)) - electrode_ocp(values, "Negative", np.clip(x, 0, 1))

    def active_material_fractions(self, values: pybamm.ParameterValues) -> dict[str, float]:
        return {
            _FRACTION.format(electrode): capacity / capacity_per_fraction_ah(values, electrode)
            for electrode, capacity in (("Negative", self.negative_capacity_ah), ("Positive", self.positive_capacity_ah))
        }

    def parameter_values(self, values: pybamm.ParameterValues, soc) -> dict:
        """Active-material fractions and initial concentrations (``soc``: a number or the
        ``Initial SOC`` input) of this balance, as PyBaMM parameter values."""
        removed = (1 - soc) * self.ocv_capacity_ah
        return {
            **self.active_material_fractions(values),
            "Initial concentration in negative electrode [mol.m-3]": (
                self.negative_stoichiometry_100 - removed / self.negative_capacity_ah
            )
            * values["Maximum concentration in negative electrode [mol.m-3]"],
            "Initial concentration in positive electrode [mol.m-3]": (
                self.positive_stoichiometry_100 + removed / self.positive_capacity_ah
            )
            * values["Maximum concentration in positive electrode [mol.m-3]"],
        }

    def summary(self, values: pybamm.ParameterValues) -> dict:
        x_0, y_0 = self.stoichiometries(0.0)
        return {
            "negative_stoichiometry_0_100": [float(x_0), self.negative_stoichiometry_100],
            "positive_stoichiometry_0_100": [float(y_0), self.positive_stoichiometry_100],
            "negative_capacity_ah": self.negative_capacity_ah,
            "positive_capacity_ah": self.positive_capacity_ah,
            "ocv_capacity_ah": self.ocv_capacity_ah,
            "ocv_rms_mv": 1e3 * self.rms_v,
            "active_material_volume_fractions": self.active_material_fractions(values),
        }


def electrode_balance(values: pybamm.ParameterValues, soc: np.ndarray, ocv_v: np.ndarray, ocv_capacity_ah: float) -> ElectrodeBalance:
    """The electrode balance whose OCV (``values``' electrode OCPs) best matches a measured one
    (least squares over the measured SOC points), started from the set's own balance."""
    x_0, x_100, y_100, y_0 = pybamm.lithium_ion.get_min_max_stoichiometries(values)
    capacity_n = capacity_per_fraction_ah(values, "Negative") * values[_FRACTION.format("Negative")]
    capacity_p = capacity_per_fraction_ah(values, "Positive") * values[_FRACTION.format("Positive")]
    soc, ocv_v = np.asarray(soc, dtype=float), np.asarray(ocv_v, dtype=float)

    def balance(vector):
        return ElectrodeBalance(*(float(v) for v in vector), ocv_capacity_ah)

    def residuals(vector):
        return balance(vector).open_circuit_voltage(values, soc) - ocv_v

    # Each electrode holds at least the measured OCV's charge; a set whose own electrodes are
    # smaller than that (another cell than the measured one) starts from the bound.
    lower = np.array([0.0, 0.0, ocv_capacity_ah, ocv_capacity_ah])
    upper = np.array([1.0, 1.0, 5 * max(capacity_n, ocv_capacity_ah), 5 * max(capacity_p, ocv_capacity_ah)])
    start = np.clip(np.array([x_100, y_100, capacity_n, capacity_p]), lower, upper)
    outcome = least_squares(residuals, start, bounds=(lower, upper), x_scale=np.abs(start))
    return ElectrodeBalance(*(float(v) for v in outcome.x), ocv_capacity_ah, float(np.sqrt(np.mean(outcome.fun**2))))


def ocv_capacity(soc: np.ndarray, ocv_v: np.ndarray, record: Measurement, rest_voltage_v: float) -> float:
    """The charge [A.h] between a measured OCV's 0 and 100 % SOC points, from a slow discharge
    of the same cell type: its voltage against discharged charge q is matched to
    OCV(s_0 - q / Q) minus a constant overpotential (s_0 from the rest voltage) over its
    middle (5-90 % of its charge, away from the knee where the overpotential is not constant)."""
    charge = record.discharged_ah
    start_soc = float(np.interp(rest_voltage_v, ocv_v, soc))
    middle = (charge > 0.05 * charge[-1]) & (charge < 0.9 * charge[-1])

    def residuals(vector):
        capacity, overpotential = vector
        return np.interp(start_soc - charge[middle] / capacity, soc, ocv_v) - overpotential - record.voltage_v[middle]

    return float(least_squares(residuals, [charge[-1], 0.0]).x[0])


def slowest_fitted_discharge(observations, ambient_temperature_c: float) -> Observation:
    """The fitted constant-current discharge of lowest C-rate at this ambient temperature."""
    candidates = [
        o for o in observations
        if o.kind == DISCHARGE and o.role == FIT and math.isclose(o.ambient_temperature_c, ambient_temperature_c)
    ]
    if not candidates:
        raise ValueError(f"no fitted discharge at {ambient_temperature_c:g} degC to scale the rate-test OCV's SOC axis")
    return min(candidates, key=lambda o: o.c_rate)


class CellModels:
    """The dataset's model, built once per kind of record, solved for any fitted values."""

    def __init__(
        self,
        model_config: ModelConfig,
        solver_config: SolverConfig,
        fit_names: list[str],
        rate_test_ocv: tuple[np.ndarray, np.ndarray] | None = None,
        rate_test_ocv_capacity_ah: float | None = None,
    ):
        """``rate_test_ocv``: (SOC, discharge OCV) measured on the rate-test cells, with
        ``rate_test_ocv_capacity_ah`` the charge between its 0 and 100 % points; their
        discharges are simulated on the electrode balance matched to it (:func:`electrode_balance`:
        active-material fractions, stoichiometry window) and with it (:meth:`_corrected_ocp`)."""
        self.fit_names = list(fit_names)
        self.model_config = model_config
        operating = [_SOC, _AMBIENT, _INITIAL_T]
        values = model_building.parameter_values(model_config, [*self.fit_names, _AMBIENT, _INITIAL_T])
        self.nominal = model_building.parameter_values(model_config, [])
        self.window = pybamm.lithium_ion.get_min_max_stoichiometries(self.nominal)
        values.update(self._initial_state(), check_already_exists=False)
        values.update({"Lower voltage cut-off [V]": SIMULATION_CUTOFF_V})
        self.values = values
        self.nominal_capacity_ah = float(self.nominal["Nominal cell capacity [A.h]"])
        self.solver_config = solver_config
        self.var_pts = model_building.var_pts(model_config, model_building.build_model(model_config))

        discharge_values = values.copy()
        discharge_values.update({_CURRENT: "[input]"})
        self.rate_test_ocv = rate_test_ocv
        self.balance = None
        self.discharge_constants: list[str] = []  # fitted names the discharges do not depend on
        if rate_test_ocv is not None:
            if rate_test_ocv_capacity_ah is None:
                raise ValueError("a rate-test OCV needs the charge between its 0 and 100 % points (rate_test_ocv_capacity_ah)")
            self.balance = electrode_balance(self.nominal, *rate_test_ocv, rate_test_ocv_capacity_ah)
            # The rate-test cells' active-material fractions are the balance's (fixed: a fitted
            # shared fraction is the impedance/drive-cycle cell's), their state follows the SOC input.
            balanced = self.balance.parameter_values(self.nominal, pybamm.InputParameter(_SOC))
            discharge_values.update(balanced)
            self.discharge_constants = [name for name in self.fit_names if name in balanced]
            discharge_values.update({"Positive electrode OCP [V]": self._corrected_ocp(*rate_test_ocv)})
        self.discharge = pybamm.Simulation(
            model_building.build_model(model_config),
            parameter_values=discharge_values,
            solver=model_building.solver(solver_config, compile_=False),
            var_pts=self.var_pts,
        )
        eis_values = values.copy()
        self.impedance = pybamm.EISSimulation(
            model_building.impedance_model(model_config, "differential"),
            parameter_values=eis_values,
            var_pts=self.var_pts,
        )
        self._drive: dict[str, pybamm.Simulation] = {}
        self.input_order = [*self.fit_names, *operating]

    def _initial_state(self) -> dict:
        """Both electrodes' starting concentrations as a function of the ``Initial SOC`` input.

        SOC is the fraction of the parameter set's 0-100 % stoichiometry window; fitting the
        active-material fractions scales the electrode capacities at fixed stoichiometries.
        """
        x_0, x_100, y_100, y_0 = self.window
        soc = pybamm.InputParameter(_SOC)
        return {
            "Initial concentration in negative electrode [mol.m-3]": (x_0 + soc * (x_100 - x_0))
            * self.nominal["Maximum concentration in negative electrode [mol.m-3]"],
            "Initial concentration in positive electrode [mol.m-3]": (y_0 + soc * (y_100 - y_0))
            * self.nominal["Maximum concentration in positive electrode [mol.m-3]"],
        }

    def _corrected_ocp(self, soc: np.ndarray, ocv_v: np.ndarray):
        """The positive OCP plus the gap between the measured OCV and the balanced cell's
        (:attr:`balance`), as a function of the positive stoichiometry on the balance's SOC axis:
        the rate-test cell then has the measured OCV over the measured 0-100 % SOC. Outside that
        window the gap goes linearly to zero at stoichiometry 0 and 1."""
        gap = np.asarray(ocv_v, dtype=float) - self.balance.open_circuit_voltage(self.nominal, soc)
        _, stoichiometry = self.balance.stoichiometries(soc)  # decreasing with SOC
        order = np.argsort(stoichiometry)
        correction_y, correction = stoichiometry[order], gap[order]
        inside = (correction_y > 0) & (correction_y < 1)
        correction_y = np.concatenate([[0.0], correction_y[inside], [1.0]])
        correction = np.concatenate([[0.0], correction[inside], [0.0]])
        original = self.nominal["Positive electrode OCP [V]"]

        def positive_ocp_corrected(sto):
            return original(sto) + pybamm.Interpolant(correction_y, correction, sto, interpolator="linear")

        return positive_ocp_corrected

    def open_circuit_voltage(self, soc: np.ndarray) -> np.ndarray:
        """The parameter set's OCV (at its reference temperature) at these SOCs of its stoichiometry window."""
        x_0, x_100, y_100, y_0 = self.window
        soc = np.asarray(soc, dtype=float)
        x = pybamm.Vector(x_0 + soc * (x_100 - x_0))
        y = pybamm.Vector(y_0 + soc * (y_100 - y_0))
        negative = self.nominal.process_symbol(
            pybamm.FunctionParameter("Negative electrode OCP [V]", {"Negative particle stoichiometry": x})
        )
        positive = self.nominal.process_symbol(
            pybamm.FunctionParameter("Positive electrode OCP [V]", {"Positive particle stoichiometry": y})
        )
        return np.asarray(positive.evaluate() - negative.evaluate(), dtype=float).ravel()

    def soc_at_voltage(self, voltage_v: float) -> float:
        """The SOC whose OCV is ``voltage_v`` (a rested cell's voltage), clipped to 0..1."""
        grid = np.linspace(0.0, 1.0, 401)
        ocv = self.open_circuit_voltage(grid)
        return float(np.interp(voltage_v, ocv, grid))  # OCV rises with SOC

    def inputs(self, values: dict[str, float], soc: float, ambient_c: float, initial_c: float) -> dict:
        # One fixed key order: EISSimulation passes inputs to casadi by position.
        merged = {**values, _SOC: soc, _AMBIENT: ambient_c + _KELVIN, _INITIAL_T: initial_c + _KELVIN}
        return {name: float(merged[name]) for name in self.input_order}

    # -- simulations ------------------------------------------------------------------------
    def spectrum(self, values: dict, soc: float, frequencies_hz: np.ndarray, temperature_c: float = 25.0):
        inputs = self.inputs(values, soc, temperature_c, temperature_c)
        return np.asarray(self.impedance.solve(frequencies_hz, inputs=inputs).impedance)

    def constant_current(self, values: dict, observation: Observation, record: Measurement, sensitivities=False):
        """Voltage and cell temperature at the record's times (shorter if the cut-off stopped it)."""
        rest_v = float(record.voltage_v[0]) if observation.rest_voltage_v is None else observation.rest_voltage_v
        initial_c = float(record.temperature_c[0]) if record.temperature_c is not None else observation.ambient_temperature_c
        return self._rate_test_discharge(
            values, rest_v, _discharge_current(record), observation.ambient_temperature_c, initial_c, record.time_s, sensitivities
        )

    def pulse(self, values: dict, series: PulseSeries, index: int, ambient_c: float, sensitivities=False):
        """Pulse ``index`` of ``series`` from rest at the ambient temperature: voltage (and its
        sensitivities) at the first sample under load and at the end (fewer if the cut-off stopped it)."""
        times = np.array([0.0, PULSE_INSTANT_S, float(series.duration_s[index])])
        voltage, _, d_voltage, _ = self._rate_test_discharge(
            values, float(series.rest_voltage_v[index]), float(series.current_a[index]), ambient_c, ambient_c, times, sensitivities
        )
        return voltage[1:], (d_voltage[1:] if sensitivities else None)

    def _rate_test_discharge(self, values, rest_v, current_a, ambient_c, initial_c, time_s, sensitivities):
        if self.rate_test_ocv is not None:  # the rate-test cells' own OCV fixes their starting SOC
            soc_grid, ocv = self.rate_test_ocv
            soc = float(np.interp(rest_v, ocv, soc_grid))
        else:
            soc = self.soc_at_voltage(rest_v)
        inputs = {**self.inputs(values, soc, ambient_c, initial_c), _CURRENT: current_a}
        return self._solve(self.discharge, time_s, inputs, sensitivities, self.discharge_constants)

    def driven(self, values: dict, observation: Observation, record: Measurement, sensitivities=False):
        simulation = self._drive.get(observation.name)
        if simulation is None:
            drive_values = self.values.copy()
            # PyBaMM's current is positive on discharge; the measurement's is negative.
            drive_values.update(
                {_CURRENT: pybamm.Interpolant(record.time_s, -record.current_a, pybamm.t, interpolator="linear")}
            )
            simulation = pybamm.Simulation(
                model_building.build_model(self.model_config),
                parameter_values=drive_values,
                solver=model_building.solver(self.solver_config, compile_=False),
                var_pts=self.var_pts,
            )
            self._drive[observation.name] = simulation
        soc = self.soc_at_voltage(float(record.voltage_v[0]))
        ambient = observation.ambient_temperature_c
        return self._solve(simulation, record.time_s, self.inputs(values, soc, ambient, ambient), sensitivities)

    def _solve(self, simulation, time_s: np.ndarray, inputs: dict, sensitivities: bool, constants=()):
        """Voltage and cell temperature at the record's times (shorter if the cut-off stopped it)
        and, with ``sensitivities``, their derivatives by the fitted parameters (IDAKLU forward
        sensitivities: rows = times reached, columns = fit names; zero for ``constants``, fitted
        names this simulation does not depend on)."""
        varied = [name for name in self.fit_names if name not in constants]
        try:
            solution = simulation.solve(
                [0.0, float(time_s[-1])],
                t_interp=time_s,
                inputs=inputs,
                calculate_sensitivities=varied if sensitivities else False,
            )
        except pybamm.SolverError:
            nothing = np.empty((0, len(self.fit_names)))
            return np.empty(0), np.empty(0), (nothing if sensitivities else None), (nothing if sensitivities else None)
        voltage = solution["Voltage [V]"]
        temperature = solution["X-averaged cell temperature [C]"]
        values = np.asarray(voltage.entries, dtype=float)
        heat = np.broadcast_to(np.asarray(temperature.entries, dtype=float), values.shape)
        if not sensitivities:
            return values, heat, None, None

        def columns(variable):
            by_name = variable.sensitivities
            return np.column_stack(
                [
                    np.asarray(by_name[name], dtype=float).ravel()[: values.size] if name in varied else np.zeros(values.size)
                    for name in self.fit_names
                ]
            )

        return values, heat, columns(voltage), columns(temperature)


@dataclass
class Prediction:
    """A record simulated with one parameter vector: residuals and what users plot."""

    observation: Observation
    residuals: np.ndarray  # dimensionless, weighted, normalised by count
    table: pd.DataFrame
    errors: dict[str, float]


def _spectrum_window(spectrum: MeasuredSpectrum, window_hz: tuple[float, float]):
    keep = (spectrum.frequency_hz >= window_hz[0] * (1 - 1e-9)) & (spectrum.frequency_hz <= window_hz[1] * (1 + 1e-9))
    return spectrum.frequency_hz[keep], spectrum.impedance_ohm[keep]


def predict(
    models: CellModels,
    observation: Observation,
    values: dict[str, float],
    scales: ResidualScales,
    window_hz: tuple[float, float],
) -> Prediction:
    """Simulate one record with ``values``: its residuals, a long table and its error metrics."""
    if observation.kind == SPECTRUM:
        spectrum = observation.spectrum
        frequency, measured = _spectrum_window(spectrum, window_hz)
        soc = models.soc_at_voltage(spectrum.ocv_v)
        try:
            simulated = models.spectrum(values, soc, frequency, observation.ambient_temperature_c)
        except Exception:  # a trial point the linearisation cannot handle: worst case, not a crash
            simulated = np.full(frequency.shape, np.nan + 0j)
        relative = (simulated - measured) / np.abs(measured)
        finite = np.isfinite(relative)
        relative = np.where(finite, relative, 1.0)
        residuals = np.concatenate([relative.real, relative.imag]) / scales.impedance_relative
        magnitude_error = np.abs(np.abs(simulated) - np.abs(measured)) / np.abs(measured)
        table = pd.DataFrame(
            {
                "frequency_hz": frequency,
                "z_re_measured_ohm": measured.real,
                "z_im_measured_ohm": measured.imag,
                "z_re_simulated_ohm": simulated.real,
                "z_im_simulated_ohm": simulated.imag,
            }
        )
        errors = {
            "soc_fitted": soc,
            "median_relative_abs_z_error_pct": float(100 * np.nanmedian(np.where(finite, magnitude_error, 1.0))),
            "max_relative_abs_z_error_pct": float(100 * np.nanmax(np.where(finite, magnitude_error, 1.0))),
        }
    elif observation.kind == PULSE:
        series = observation.pulses
        measured = series.measured_voltages()
        simulated = np.full(measured.shape, SIMULATION_CUTOFF_V)
        for index in range(measured.shape[0]):
            voltage, _ = models.pulse(values, series, index, observation.ambient_temperature_c)
            simulated[index, : voltage.size] = voltage
        difference = simulated - measured
        residuals = difference.ravel() / scales.voltage_v
        resistance_error_mohm = 1e3 * (series.resistances(simulated) - series.measured_resistances())
        errors = {
            "voltage_rmse_mv": float(1e3 * np.sqrt(np.mean(difference**2))),
            "r_instant_rmse_mohm": float(np.sqrt(np.mean(resistance_error_mohm[:, 0] ** 2))),
            "r_end_rmse_mohm": float(np.sqrt(np.mean(resistance_error_mohm[:, 1] ** 2))),
            "r_end_mean_error_mohm": float(np.mean(resistance_error_mohm[:, 1])),
        }
        times = np.column_stack([np.full(series.duration_s.shape, PULSE_INSTANT_S), series.duration_s])
        table = pd.DataFrame(
            {
                "time_s": times.ravel(),
                "current_a": np.repeat(-series.current_a, 2),
                "voltage_measured_v": measured.ravel(),
                "voltage_simulated_v": simulated.ravel(),
                "temperature_measured_c": np.nan,
                "temperature_simulated_c": np.nan,
                "pulse_soc_step": np.repeat(series.soc_step, 2),
                "pulse_rest_voltage_v": np.repeat(series.rest_voltage_v, 2),
            }
        )
    else:
        record = observation.record
        if observation.kind == DISCHARGE:
            voltage, temperature, _, _ = models.constant_current(values, observation, record)
        else:
            voltage, temperature, _, _ = models.driven(values, observation, record)
        reached = voltage.size
        full_voltage = np.full(record.time_s.size, SIMULATION_CUTOFF_V)
        full_voltage[:reached] = voltage
        full_temperature = np.full(record.time_s.size, np.nan)
        full_temperature[:reached] = temperature
        compared = np.ones(record.time_s.size, dtype=bool)
        if observation.kind == DISCHARGE:
            # The rested sample before the current starts only fixes the starting SOC; the
            # model's constant current runs from t = 0.
            compared = -record.current_a > 0.5 * _discharge_current(record)
        difference = (full_voltage - record.voltage_v)[compared]
        parts = [difference / scales.voltage_v]
        errors = {
            "voltage_rmse_mv": float(1e3 * np.sqrt(np.mean(difference**2))),
            "reached_fraction": reached / record.time_s.size,
        }
        if observation.kind == DISCHARGE:
            measured_ah, simulated_ah = (
                capacity_to_voltage_ah(record, voltage, CAPACITY_VOLTAGE_V) for voltage in (record.voltage_v, full_voltage)
            )
            error_pct = 100 * (simulated_ah - measured_ah) / measured_ah
            # None (JSON null): that discharge was still above 3.0 V when the record ended.
            errors["capacity_to_3v_ah_measured"] = measured_ah if np.isfinite(measured_ah) else None
            errors["capacity_to_3v_error_pct"] = float(error_pct) if np.isfinite(error_pct) else None
        if record.temperature_c is not None:
            last = np.where(np.isfinite(full_temperature), full_temperature, full_temperature[max(reached - 1, 0)])
            if reached == 0:
                last = np.full(record.time_s.size, observation.ambient_temperature_c)
            temperature_difference = (last - record.temperature_c)[compared]
            parts.append(temperature_difference / scales.temperature_k)
            errors["temperature_rmse_k"] = float(np.sqrt(np.mean(temperature_difference**2)))
        residuals = np.concatenate(parts)
        table = pd.DataFrame(
            {
                "time_s": record.time_s,
                "current_a": record.current_a,
                "voltage_measured_v": record.voltage_v,
                "voltage_simulated_v": np.where(np.arange(record.time_s.size) < reached, full_voltage, np.nan),
                "temperature_measured_c": record.temperature_c if record.temperature_c is not None else np.nan,
                "temperature_simulated_c": full_temperature,
            }
        )
    weighted = residuals * observation.weight / math.sqrt(residuals.size)
    return Prediction(observation, weighted, table, errors)


# Relative step of the finite differences of a spectrum: the linearised impedance is a direct
# sparse solve, exact to rounding, so a small step is accurate.
SPECTRUM_STEP = 1e-6


def residual_jacobian(
    models: CellModels,
    observation: Observation,
    values: dict[str, float],
    scales: ResidualScales,
    window_hz: tuple[float, float],
) -> np.ndarray:
    """d residuals / d values (physical units) of one record, rows as :func:`predict`'s residuals.

    Time-domain records: IDAKLU forward sensitivities of voltage and cell temperature (zero
    past the point a cut-off stopped the solve). Spectra: forward differences.
    """
    names = models.fit_names
    if observation.kind == SPECTRUM:
        base = predict(models, observation, values, scales, window_hz).residuals
        columns = []
        for name in names:
            step = SPECTRUM_STEP * abs(values[name]) or SPECTRUM_STEP
            shifted = predict(models, observation, {**values, name: values[name] + step}, scales, window_hz).residuals
            columns.append((shifted - base) / step)
        return np.column_stack(columns)
    if observation.kind == PULSE:
        series = observation.pulses
        rows = np.zeros((series.rest_voltage_v.size, 2, len(names)))
        for index in range(series.rest_voltage_v.size):
            _, d_voltage = models.pulse(values, series, index, observation.ambient_temperature_c, sensitivities=True)
            rows[index, : d_voltage.shape[0]] = d_voltage
        jacobian = rows.reshape(-1, len(names)) / scales.voltage_v
        return jacobian * observation.weight / math.sqrt(jacobian.shape[0])
    record = observation.record
    if observation.kind == DISCHARGE:
        voltage, _, d_voltage, d_temperature = models.constant_current(values, observation, record, sensitivities=True)
    else:
        voltage, _, d_voltage, d_temperature = models.driven(values, observation, record, sensitivities=True)
    reached = voltage.size
    full_voltage = np.zeros((record.time_s.size, len(names)))
    full_voltage[:reached] = d_voltage
    compared = np.ones(record.time_s.size, dtype=bool)
    if observation.kind == DISCHARGE:
        compared = -record.current_a > 0.5 * _discharge_current(record)
    parts = [full_voltage[compared] / scales.voltage_v]
    if record.temperature_c is not None:
        full_temperature = np.zeros((record.time_s.size, len(names)))
        full_temperature[:reached] = d_temperature
        parts.append(full_temperature[compared] / scales.temperature_k)
    jacobian = np.vstack(parts)
    return jacobian * observation.weight / math.sqrt(jacobian.shape[0])


RATE_TEST_CELLS = " (rate-test cells)"


def rate_test_name(name: str) -> str:
    """Fit name of the rate-test cells' own value of a parameter (see :func:`record_values`)."""
    return name + RATE_TEST_CELLS


def record_values(observation: Observation, values: dict[str, float]) -> dict[str, float]:
    """The model inputs of one record: the shared values, except that constant-current
    discharges and pulses (another cell product than the impedance and drive-cycle cell) take
    their own value of a parameter wherever ``values`` holds one (``rate_test_name(name)``)."""
    if observation.kind not in RATE_TEST_KINDS:
        return values
    return {
        name: values.get(rate_test_name(name), value) for name, value in values.items() if not name.endswith(RATE_TEST_CELLS)
    }


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


# The knee's timing as a capacity: the charge a discharge delivers until its voltage last falls
# through this level. 3.0 V rather than the tests' 2.5 V cut-off: a model whose knee comes late
# can end a record above 2.5 V, and below 3.0 V lie only the last ~3 % of these discharges.
CAPACITY_VOLTAGE_V = 3.0


def capacity_to_voltage_ah(record: Measurement, voltage_v: np.ndarray, level_v: float) -> float:
    """Charge [A.h] the record's current delivers until ``voltage_v`` (at the record's times: its
    own or a simulated one) last falls through ``level_v``, linear between the two samples around
    it; NaN when the voltage ends above it."""
    above = np.flatnonzero(voltage_v >= level_v)
    if above.size == 0 or above[-1] == voltage_v.size - 1:
        return float("nan")
    last = above[-1]
    share = (voltage_v[last] - level_v) / (voltage_v[last] - voltage_v[last + 1])
    delivered = record.discharged_ah
    return float(delivered[last] + share * (delivered[last + 1] - delivered[last]))


def error_summary(observations, errors: dict[str, dict]) -> dict:
    """The headline numbers of one parameter set's errors, per role: discharge voltage RMSE
    (mean and worst, over all rates and over those up to 1C), discharge capacity to 3.0 V
    (worst relative error), spectra median |Z| error (worst), pulse resistance at the end (worst
    mean error), so ``dvc metrics diff`` shows them directly."""
    summary = {}
    for role in (FIT, HELD_OUT):
        chosen = [o for o in observations if o.role == role]
        discharges = [errors[o.name]["voltage_rmse_mv"] for o in chosen if o.kind == DISCHARGE]
        up_to_1c = [errors[o.name]["voltage_rmse_mv"] for o in chosen if o.kind == DISCHARGE and o.c_rate <= 1.0]
        spectra = [errors[o.name]["median_relative_abs_z_error_pct"] for o in chosen if o.kind == SPECTRUM]
        pulses = [errors[o.name]["r_end_mean_error_mohm"] for o in chosen if o.kind == PULSE]
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
        if pulses:
            entry["pulse_end_resistance_error_mohm_max_abs"] = float(np.max(np.abs(pulses)))
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


def build_observations(
    spectra: list[MeasuredSpectrum],
    rate_tests: list[RateTest],
    drive_cycle: Measurement,
    config,
    pulses: dict[float, PulseSeries] | None = None,
) -> list[Observation]:
    """Every measurement as an observation with its role: spectra and rate tests are fitted
    unless ``config.held_out`` names their ambient temperature or C-rate; pulses (one record per
    ambient temperature) when ``config.pulse_role`` is fit, unless it names their temperature."""
    weights = config.weights
    observations = [
        Observation(
            f"spectrum_soc{round(100 * s.soc):d}",
            SPECTRUM,
            FIT,
            weights.spectrum,
            spectrum=s,
            ambient_temperature_c=config.spectra_temperature_c,
        )
        for s in spectra
    ]
    held = config.held_out
    rested = rest_voltages(rate_tests)
    for test in rate_tests:
        role = HELD_OUT if is_held_out(test, held.ambient_temperatures_c, held.c_rates) else FIT
        observations.append(
            Observation(
                test.name,
                DISCHARGE,
                role,
                weights.discharge,
                record=resample_uniform(test.record, config.discharge_points),
                ambient_temperature_c=test.ambient_temperature_c,
                c_rate=test.c_rate,
                rest_voltage_v=rested[test.name],
            )
        )
    observations.append(
        Observation(
            "drive_cycle",
            DRIVE_CYCLE,
            config.drive_cycle_role,
            weights.drive_cycle,
            record=drive_cycle,
            ambient_temperature_c=config.drive_cycle_temperature_c,
        )
    )
    for temperature, series in sorted((pulses or {}).items()):
        held_out = config.pulse_role == HELD_OUT or any(math.isclose(temperature, t) for t in held.ambient_temperatures_c)
        observations.append(
            Observation(
                f"pulses_{temperature:g}degC",
                PULSE,
                HELD_OUT if held_out else FIT,
                weights.pulse,
                ambient_temperature_c=temperature,
                pulses=series,
            )
        )
    return observations


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


def fresh_spectra(models: CellModels, values: dict, socs, temperature_c: float, frequencies_hz) -> pd.DataFrame:
    """The calibrated fresh cell's spectra at model SOCs, in the long format of spectra.parquet."""
    frames = []
    for soc in socs:
        impedance = models.spectrum(values, float(soc), np.asarray(frequencies_hz), temperature_c)
        frames.append(
            pd.DataFrame(
                {
                    "sample_id": "calibrated",
                    "snapshot": 0,
                    "soc": float(soc),
                    "temperature_c": float(temperature_c),
                    "frequency_hz": frequencies_hz,
                    "z_re_ohm": impedance.real,
                    "z_im_ohm": impedance.imag,
                    "z_abs_ohm": np.abs(impedance),
                    "phase_deg": np.degrees(np.angle(impedance)),
                    "backend": "pybamm.EISSimulation",
                    "solver_status": "ok",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def prediction_tables(models, observations, values, scales, window_hz, label: str):
    """Every observation simulated with ``values``: long tables (spectra, records) and errors."""
    spectra, records, errors = [], [], {}
    for observation in observations:
        prediction = predict(models, observation, record_values(observation, values), scales, window_hz)
        table = prediction.table.assign(
            measurement=observation.name, role=observation.role, parameters=label
        )
        if observation.kind == SPECTRUM:
            spectra.append(table.assign(soc_measured=observation.spectrum.soc))
        else:
            records.append(
                table.assign(
                    kind=observation.kind,
                    ambient_temperature_c=observation.ambient_temperature_c,
                    c_rate=observation.c_rate if observation.c_rate is not None else np.nan,
                )
            )
        errors[observation.name] = prediction.errors
    return pd.concat(spectra, ignore_index=True), pd.concat(records, ignore_index=True), errors

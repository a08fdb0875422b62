"""The dataset's model built once per kind of record, solved for any fitted values.

Every model is built with the fitted parameters and the operating conditions (current, ambient and
initial temperature, starting SOC) as ``[input]``s, so a trial point of the fit is one solve per record:

- impedance spectra: ``pybamm.EISSimulation`` of the dataset's impedance model (the aging model
  with the double-layer surface form) at the measured rest voltage;
- constant-current discharges and current pulses: the dataset's aging model (lumped thermal) on the
  rate-test cells' electrode balance and measured OCV, from the measured rest voltage, at the
  measured current and ambient temperature;
- the drive cycle: the same model driven by the measured current.

The cell's series inductance (fitted like any parameter) is added to a spectrum after the solve.

Time-domain solves give IDAKLU forward sensitivities by the fitted parameters on request.
"""

from __future__ import annotations

import numpy as np
import pybamm

from ..params import ModelConfig, SolverConfig
from ..physics import model as model_building
from ..physics.eis import Linearisation, rested_initial_state
from ..physics.model import SERIES_INDUCTANCE
from .balance import electrode_balance
from .measurements import Measurement
from .observations import Observation, PulseSeries, discharge_current

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
        # The series inductance is added to a spectrum after the solve: never a model input.
        self.model_inputs = [name for name in self.fit_names if name != SERIES_INDUCTANCE]
        values = model_building.parameter_values(model_config, [*self.model_inputs, _AMBIENT, _INITIAL_T])
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
        self._linearisation: Linearisation | None = None  # set up by the first spectrum (needs its inputs)
        self._rest_solver = pybamm.IDAKLUSolver(rtol=solver_config.rtol, atol=solver_config.atol)
        self._drive: dict[str, pybamm.Simulation] = {}
        self.input_order = [*self.model_inputs, *operating]

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
        """The cell's impedance at ``soc``, linearised about its rested initial state
        (:func:`~agingset.physics.eis.rested_initial_state`), as a measured cell is rested first."""
        inputs = self.inputs(values, soc, temperature_c, temperature_c)
        if self._linearisation is None:
            self.impedance.build()
            self._linearisation = Linearisation(self.impedance, self.impedance.built_model, inputs)
        rested = rested_initial_state(self.impedance, inputs, self._rest_solver)
        impedance = self._linearisation.impedance(rested, inputs, np.asarray(frequencies_hz, dtype=float))
        inductance = values.get(SERIES_INDUCTANCE, float(self.nominal[SERIES_INDUCTANCE]))
        return model_building.with_series_inductance(impedance, frequencies_hz, inductance)

    def constant_current(self, values: dict, observation: Observation, record: Measurement, sensitivities=False):
        """Voltage and cell temperature at the record's times (shorter if the cut-off stopped it)."""
        rest_v = float(record.voltage_v[0]) if observation.rest_voltage_v is None else observation.rest_voltage_v
        initial_c = float(record.temperature_c[0]) if record.temperature_c is not None else observation.ambient_temperature_c
        return self._rate_test_discharge(
            values, rest_v, discharge_current(record), observation.ambient_temperature_c, initial_c, record.time_s, sensitivities
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
        varied = [name for name in self.model_inputs if name not in constants]
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

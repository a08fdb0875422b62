"""Impedance spectra of saved aged states, at the SOCs and temperatures of ``eis``.

Per worker, one impedance model (the aging model plus the double-layer surface form) is
built twice: as a time-domain model whose current is an input expression, and as a
``pybamm.EISSimulation`` (built and set up once, :class:`Linearisation`). For each spectrum
the saved aged state is moved to the target SOC by a simulated constant-current charge or
discharge and a rest at the target temperature (never by resetting the state); the rested
state is then linearised in the frequency domain, or, as fallback and as cross-check of a
seeded share of the spectra (:func:`agingset.tasks.eis.cross_checked`), excited with a small sinusoidal
current in the time domain (see :func:`lock_in_impedance`). Either way the cell's series inductance is
added to the model's impedance (:func:`.model.with_series_inductance`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybamm

from ..params import EisConfig, ModelConfig
from . import model as model_building
from .aging import describe
from .buffered import BufferedFunction
from .stepping import ModelStepper, StepRun

FREQUENCY_DOMAIN = "pybamm.EISSimulation"
TIME_DOMAIN = "time_domain_lockin"
BACKENDS = {"frequency_domain": FREQUENCY_DOMAIN, "time_domain": TIME_DOMAIN}

_CURRENT_STATE = "Current variable [A]"
_AMBIENT = "Ambient temperature [K]"
_MOVE_CURRENT = "SOC move current [A]"
_AMPLITUDE = "Excitation amplitude [A]"
_FREQUENCY = "Excitation frequency [Hz]"
_KELVIN = 273.15
_SHORT_OF_LIMIT = 0.995  # share of the time to a voltage limit that a stopped SOC move runs


def _solver(tolerances, compile_: bool) -> pybamm.IDAKLUSolver:
    """IDAKLU at these tolerances; with ``compile_`` its casadi functions run as compiled C
    (PyBaMM's ``compile`` option: built once per model with the system C compiler, cached on
    disk, in the project's workers under ``.agingset-cache/compiled/`` (:mod:`agingset.compiled`);
    casadi's virtual machine when no compiler is found)."""
    return pybamm.IDAKLUSolver(
        rtol=tolerances.rtol,
        atol=tolerances.atol,
        options={"compile": bool(compile_), "suppress_algebraic_error": tolerances.suppress_algebraic_error},
        on_extrapolation=model_building.ON_EXTRAPOLATION,
    )


def _current(t):
    return pybamm.InputParameter(_MOVE_CURRENT) + pybamm.InputParameter(_AMPLITUDE) * pybamm.sin(
        2 * np.pi * pybamm.InputParameter(_FREQUENCY) * t
    )


def _physical(variable: pybamm.StateVector, scaled: np.ndarray, inputs: dict) -> np.ndarray:
    """A state's physical values from the solver's (scaled) state vector entries."""
    scale = np.asarray(pybamm.convert_to_symbol(variable.scale).evaluate(inputs=inputs), dtype=float)
    reference = np.asarray(pybamm.convert_to_symbol(variable.reference).evaluate(inputs=inputs), dtype=float)
    return (reference + scale * scaled).ravel()


def _scaled(variable: pybamm.StateVector, values: np.ndarray, inputs: dict) -> np.ndarray:
    """Physical values of a state as the solver's (scaled) state vector entries."""
    scale = np.asarray(pybamm.convert_to_symbol(variable.scale).evaluate(inputs=inputs), dtype=float)
    reference = np.asarray(pybamm.convert_to_symbol(variable.reference).evaluate(inputs=inputs), dtype=float)
    return ((values - reference) / scale).ravel()


@dataclass(frozen=True)
class Operating:
    """Where a spectrum is taken: the SOC to reach and the cell temperature."""

    soc: float
    temperature_c: float


@dataclass(frozen=True)
class Rested:
    """The time-domain model's rest at an operating point (the step, :class:`.stepping.StepRun`), and the
    inputs that define the point.

    ``soc_reached`` is the coulomb-counted SOC the move ended at: the target, or less (more)
    when the charge (discharge) stopped at the cell's voltage limit first.
    """

    rest: StepRun
    inputs: dict
    soc_reached: float

    @property
    def y(self) -> np.ndarray:
        """The rested state vector."""
        return self.rest.last_y


class ImpedanceSimulator:
    """Time-domain and frequency-domain impedance models, built once, solved per state."""

    def __init__(self, model_config: ModelConfig, eis: EisConfig, input_names: list[str]):
        self.eis = eis
        self.input_names = list(input_names)
        values = model_building.parameter_values(model_config, [*input_names, _AMBIENT])
        self.nominal_capacity_ah = float(values["Nominal cell capacity [A.h]"])
        self.series_inductance_h = float(values[model_building.SERIES_INDUCTANCE])
        model = model_building.impedance_model(model_config, eis.surface_form)
        var_pts = model_building.var_pts(model_config, model)
        self.frequency_domain = pybamm.EISSimulation(model, parameter_values=values, var_pts=var_pts)
        self.frequency_domain.build()
        self._linearisation: Linearisation | None = None  # set up by the first spectrum (needs its inputs)

        time_values = values.copy()
        time_values.update({"Current function [A]": _current}, check_already_exists=False)
        time_domain = pybamm.Simulation(
            model_building.impedance_model(model_config, eis.surface_form),
            parameter_values=time_values,
            var_pts=var_pts,
        )
        time_domain.build()
        self.time_model = time_domain.built_model
        # One solver per set of tolerances (the SOC moves; the rests; the sine excitation), each
        # stepped through IDAKLU directly (agingset/physics/stepping.py), as the aging loop.
        self.rester = ModelStepper(_solver(eis.solver, eis.compile), self.time_model)
        self.mover = (
            self.rester if eis.move_solver is None else ModelStepper(_solver(eis.move_solver, eis.compile), self.time_model)
        )
        self.exciter = ModelStepper(_solver(eis.time_domain.solver, eis.compile), self.time_model)

    # -- reaching the operating point -------------------------------------------------
    def start(self, state: dict[str, np.ndarray], inputs: dict) -> StepRun:
        """The time-domain model holding the saved state, at time 0."""
        model = self.time_model
        y0 = np.asarray(model.concatenated_initial_conditions.evaluate(0, inputs=inputs), dtype=float).ravel()
        for variable, slices in model.y_slices.items():
            if variable.name in state:
                y0[slices[0]] = _scaled(variable, np.asarray(state[variable.name], dtype=float), inputs)
            elif variable in model.rhs:
                raise KeyError(f"saved state lacks differential state {variable.name!r}")
        return StepRun(model, inputs, np.array([0.0]), y0[:, None])

    def rested(
        self, state: dict[str, np.ndarray], inputs: dict, soc_from: float, capacity_ah: float, point: Operating
    ) -> Rested:
        """The saved state moved by coulomb counting towards ``point.soc`` and rested there.

        The move is a constant-current charge or discharge, as a cycler sets an SOC. An aged
        cell, or a cold one, may reach the voltage limit before the target (its polarisation
        at that rate eats the window's edge): the move then stops at the limit, as the
        cycler would, and the spectrum is taken at the SOC reached, which is recorded.
        """
        cell_inputs = {**inputs, _AMBIENT: point.temperature_c + _KELVIN}
        inputs = {**cell_inputs, _AMPLITUDE: 0.0, _FREQUENCY: 0.0}
        solution = self.start(state, {**inputs, _MOVE_CURRENT: 0.0})
        charge_ah = (soc_from - point.soc) * capacity_ah  # > 0: discharge
        current = np.sign(charge_ah) * self.eis.soc_move_c_rate * self.nominal_capacity_ah
        soc_reached = point.soc
        if charge_ah:
            duration = abs(charge_ah / current) * 3600.0
            moving = {**inputs, _MOVE_CURRENT: current}
            moved, termination = self.mover.step(solution, duration, moving)
            if termination != "final time":
                if not _voltage_limit(termination):
                    raise pybamm.SolverError(f"stopped early: {termination}")
                # Stop just short of the limit: a state exactly on it would end the rest at
                # its first step (the double-layer states still hold the move's overpotential).
                duration = _SHORT_OF_LIMIT * moved.duration_s
                moved = self._step(self.mover, solution, duration, moving)
                soc_reached = soc_from - current * duration / 3600.0 / capacity_ah
            solution = moved
        solution = self._step(self.rester, solution, self.eis.rest_s, {**inputs, _MOVE_CURRENT: 0.0})
        return Rested(solution, cell_inputs, float(soc_reached))

    @staticmethod
    def _step(stepper: ModelStepper, start: StepRun, duration: float, inputs: dict, t_interp=None) -> StepRun:
        stepped, termination = stepper.step(start, duration, inputs, t_interp=t_interp)
        if termination != "final time":
            raise pybamm.SolverError(f"stopped early: {termination}")
        return stepped

    # -- impedance ---------------------------------------------------------------------
    def frequency_domain_impedance(self, rested: Rested, frequencies_hz: np.ndarray) -> np.ndarray:
        """Z [Ohm] by linearising the impedance model about the rested state (see :class:`Linearisation`)."""
        if self._linearisation is None:
            self._linearisation = Linearisation(self.frequency_domain, self.time_model, rested.inputs)
        impedance = self._linearisation.impedance(rested.y, rested.inputs, frequencies_hz)
        return model_building.with_series_inductance(impedance, frequencies_hz, self.series_inductance_h)

    def time_domain_impedance(self, rested: Rested, frequencies_hz: np.ndarray) -> np.ndarray:
        """Z [Ohm] from a small sinusoidal current applied to the rested state."""
        config = self.eis.time_domain
        amplitude = config.amplitude_c_rate * self.nominal_capacity_ah
        base = {**rested.inputs, _MOVE_CURRENT: 0.0, _AMPLITUDE: amplitude}
        impedance = []
        for frequency in frequencies_hz:
            # The sine starts from the rested state at t = 0 of the step.
            start = StepRun(self.time_model, base, np.array([0.0]), rested.y[:, None])
            periods = config.settle_periods + config.periods
            duration = periods / frequency
            # Uniform samples, interpolated from the solver's own steps, so the lock-in
            # weighs every part of a period alike.
            times = np.linspace(0.0, duration, periods * config.points_per_period + 1)
            response = self._step(self.exciter, start, duration, {**base, _FREQUENCY: float(frequency)}, t_interp=times)
            t = response.t
            measured = t >= config.settle_periods / frequency * (1 - 1e-12)
            voltage = response.entries("Voltage [V]")[measured]
            impedance.append(lock_in_impedance(t[measured], voltage, frequency, amplitude))
        return model_building.with_series_inductance(np.array(impedance), frequencies_hz, self.series_inductance_h)


class Linearisation:
    """``pybamm.EISSimulation``'s frequency-domain model, solved about many states.

    ``EISSimulation.solve`` linearises its built model about the model's initial conditions:
    per spectrum that means setting them from the state (``set_initial_conditions_from``,
    which evaluates every state variable of the solution), rebuilding the output
    Jacobian's casadi graph and one sparse LU per frequency. Here the model is built once
    and, per state, only its Jacobian ``J`` and the outputs' Jacobian ``C`` (voltage and
    current) are evaluated; the state is mapped from the time-domain model's state vector
    by variable name, and ``(j omega M - J) x = b`` is solved for every frequency at once
    (dense: the system has tens of states). Z = -C_V x / C_I x, as in ``EISSimulation``.
    """

    def __init__(self, simulation: pybamm.EISSimulation, time_model: pybamm.BaseModel, inputs: dict):
        from casadi import MX, Function, jacobian, vertcat

        model = simulation.built_model
        self.input_names = list(inputs)
        if getattr(model, "jac_rhs_algebraic_eval", None) is None:
            pybamm.BaseSolver().set_up(model, inputs=inputs)  # as EISSimulation: compiles J(t, y, p)
        self.model = model
        size = model.len_rhs_and_alg
        by_name = {variable.name: (variable, slices[0]) for variable, slices in time_model.y_slices.items()}
        # (EIS slice, time-domain variable, time-domain slice, EIS variable) per state, except the current.
        self.mapping = []
        covered = np.zeros(size, dtype=bool)
        for variable, slices in model.y_slices.items():
            if variable.name == _CURRENT_STATE:
                self.current_index = slices[0].start
                covered[slices[0]] = True
                continue
            if variable.name not in by_name:
                raise KeyError(f"time-domain model lacks state {variable.name!r}")
            source, source_slice = by_name[variable.name]
            self.mapping.append((slices[0], source, source_slice, variable))
            covered[slices[0]] = True
        if not covered.all():
            raise KeyError("frequency-domain states not covered by the time-domain model")
        self.mass = np.asarray(model.mass_matrix.entries.toarray(), dtype=float)
        self.forcing = np.zeros(size)
        self.forcing[self.current_index] = -1.0
        y = MX.sym("y", size)
        p = {name: MX.sym(name) for name in self.input_names}
        outputs = pybamm.numpy_concatenation(
            model.get_processed_variable("Voltage [V]"), model.get_processed_variable("Current [A]")
        )
        expression = outputs.to_casadi(t=0, y=y, inputs=p)
        self.output_jacobian = BufferedFunction(Function("eis_outputs", [y, vertcat(*p.values())], [jacobian(expression, y)]))
        self.jacobian = BufferedFunction(model.jac_rhs_algebraic_eval)

    def state(self, y_time: np.ndarray, inputs: dict) -> np.ndarray:
        """The time-domain model's (scaled) state vector as the frequency-domain model's, current zero."""
        y0 = np.zeros(self.model.len_rhs_and_alg)
        for target, source, source_slice, variable in self.mapping:
            physical = _physical(source, y_time[source_slice], inputs)
            y0[target] = _scaled(variable, physical, inputs)
        return y0

    def impedance(self, y_time: np.ndarray, inputs: dict, frequencies_hz: np.ndarray) -> np.ndarray:
        if list(inputs) != self.input_names:  # casadi takes the inputs by position
            raise ValueError(f"inputs {list(inputs)} differ from the set-up ones {self.input_names}")
        y0 = self.state(np.asarray(y_time, dtype=float).ravel(), inputs)
        p = np.array([float(value) for value in inputs.values()])
        jac = self.jacobian(0.0, y0, p)
        outputs = self.output_jacobian(y0, p)
        omega = 2 * np.pi * np.asarray(frequencies_hz, dtype=float)
        system = 1j * omega[:, None, None] * self.mass[None] - jac[None]
        rhs = np.broadcast_to(self.forcing.astype(complex), (len(omega), len(self.forcing)))[..., None]
        # One BLAS thread: a multithreaded OpenBLAS spins against the other workers of a busy
        # machine (DFN's 171 states: 40 ms on one thread, seconds on two contended ones).
        with _one_blas_thread():
            x = np.linalg.solve(system, rhs)[..., 0]
        voltage, current = outputs @ x.T
        return -voltage / current


# A fresh cell rests this long before its spectrum: the double layers relax within ~1 s (R_ct C_dl); longer rests
# move the state on (reversible plating towards its equilibrium, diffusion), which a measured cell's unknown rest
# history does not fix either.
FRESH_REST_S = 10.0


def rested_initial_state(
    simulation: pybamm.EISSimulation, inputs: dict, solver: pybamm.IDAKLUSolver, rest_s: float = FRESH_REST_S
) -> np.ndarray:
    """The built impedance model's initial state after ``rest_s`` at zero current: the point a fresh cell's
    spectrum is linearised about (by :class:`Linearisation`). ``EISSimulation.solve`` linearises about the
    initial conditions themselves, which for the SPMe with the differential surface form are no rest: its
    positive electrode's reaction overpotential starts at the negative's OCP (~0.13 V), and its charge-transfer
    arc is missing from the spectrum (the time-domain response has it). The SPM's and the DFN's are at rest."""
    if simulation.built_model is None:
        simulation.build()
    rest = solver.solve(simulation.built_model, [0.0, rest_s], inputs=inputs)
    return np.asarray(rest.y[:, -1]).ravel()


_BLAS = None


def _one_blas_thread():
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def _voltage_limit(termination: str) -> bool:
    return termination.startswith("event:") and "voltage" in termination.lower()


def lock_in_impedance(t: np.ndarray, voltage: np.ndarray, frequency_hz: float, amplitude_a: float) -> complex:
    """Impedance at ``frequency_hz`` from the voltage answering ``amplitude_a * sin(wt)``.

    Least-squares lock-in: ``v = a + b t + c sin(wt) + d cos(wt)`` over whole periods. The
    linear term absorbs the slow relaxation left from the start of the excitation, which
    a plain Fourier sum would leak into the in-phase component. PyBaMM counts discharge
    current as positive, so Z = -(c + j d) / amplitude.
    """
    omega = 2 * np.pi * frequency_hz
    tau = t - t[0]
    basis = np.column_stack([np.ones_like(tau), tau, np.sin(omega * t), np.cos(omega * t)])
    (_, _, in_phase, quadrature), *_ = np.linalg.lstsq(basis, voltage, rcond=None)
    return -(in_phase + 1j * quadrature) / amplitude_a


@dataclass(frozen=True)
class SnapshotState:
    snapshot: int
    soc: float
    capacity_ah: float
    state: dict


@dataclass(frozen=True)
class Spectrum:
    impedance: np.ndarray
    backend: str
    solver_status: str
    fallback_reason: str = ""
    cross_check_pct: float = float("nan")
    soc_reached: float = float("nan")
    cross_check_status: str = ""  # CHECKED, NOT_SAMPLED, OFF, NO_REFERENCE, NO_SPECTRUM or "failed: <why>"


# Why a spectrum has, or has no, cross_check_pct (the spectra table's cross_check_status).
CHECKED = "checked"
NOT_SAMPLED = "not sampled"  # outside the seeded eis.cross_check_fraction
OFF = "off"  # eis.cross_check_hz is empty
NO_REFERENCE = "not possible: the fallback backend answered"  # no second backend left to check against
NO_SPECTRUM = "not possible: no spectrum"


def spectrum(
    simulator: ImpedanceSimulator, snapshot: SnapshotState, inputs: dict, point: Operating, check: bool = True
) -> Spectrum:
    """One spectrum by the configured backend (the other one if it fails); never raises.

    With ``check`` and ``eis.cross_check_hz`` the other backend also solves those frequencies
    and ``cross_check_pct`` is their largest |Z_other - Z| / |Z| in percent;
    ``cross_check_status`` says why a spectrum has none.
    """
    eis = simulator.eis
    frequencies = eis.frequencies_hz
    nothing = np.full(frequencies.shape, np.nan + 1j * np.nan)
    try:
        rested = simulator.rested(snapshot.state, inputs, snapshot.soc, snapshot.capacity_ah, point)
    except Exception as err:  # a state that cannot reach the operating point fails this spectrum only
        return Spectrum(
            nothing,
            BACKENDS[eis.backend],
            f"failed: reaching SOC {point.soc:g}: {describe(err)}",
            cross_check_status=NO_SPECTRUM,
        )
    solvers = {
        "frequency_domain": simulator.frequency_domain_impedance,
        "time_domain": simulator.time_domain_impedance,
    }
    other = next(name for name in solvers if name != eis.backend)
    reasons = []
    for backend in [eis.backend, other] if eis.fallback else [eis.backend]:
        try:
            impedance = solvers[backend](rested, frequencies)
            if not np.all(np.isfinite(impedance)):
                raise ArithmeticError("non-finite impedance")
        except Exception as err:  # try the other backend, then record the failure
            reasons.append(f"{BACKENDS[backend]}: {describe(err)}")
            continue
        if reasons:  # the fallback answered: nothing left to check against
            return Spectrum(
                impedance,
                BACKENDS[backend],
                "ok",
                "; ".join(reasons),
                soc_reached=rested.soc_reached,
                cross_check_status=NO_REFERENCE,
            )
        if not eis.cross_check_hz:
            pct, status = float("nan"), OFF
        elif not check:
            pct, status = float("nan"), NOT_SAMPLED
        else:
            pct, status = _cross_check(solvers, backend, other, rested, eis)
        return Spectrum(
            impedance,
            BACKENDS[backend],
            "ok",
            cross_check_pct=pct,
            soc_reached=rested.soc_reached,
            cross_check_status=status,
        )
    return Spectrum(
        nothing,
        BACKENDS[backend],
        "failed: " + "; ".join(reasons),
        soc_reached=rested.soc_reached,
        cross_check_status=NO_SPECTRUM,
    )


def _cross_check(solvers: dict, backend: str, other: str, rested: Rested, eis: EisConfig) -> tuple[float, str]:
    frequencies = np.asarray(eis.cross_check_hz, dtype=float)
    try:
        reference = solvers[backend](rested, frequencies)
        check = solvers[other](rested, frequencies)
    except Exception as err:  # the spectrum stands; the check just could not be made
        return float("nan"), f"failed: {BACKENDS[other]}: {describe(err)}"
    return float(100.0 * np.max(np.abs(check - reference) / np.abs(reference))), CHECKED

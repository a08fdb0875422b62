"""Impedance spectra of saved aged states, at the SOCs and temperatures of ``eis``.

Per worker, one impedance model (the aging model plus the double-layer surface form) is
built twice: as a time-domain model whose current is an input expression, and as a
``pybamm.EISSimulation``. For each spectrum the saved aged state is moved to the target
SOC by a simulated constant-current charge or discharge and a rest at the target
temperature (never by resetting the state); the rested state is then linearised in the
frequency domain, or, as cross-check and fallback, excited with a small sinusoidal
current in the time domain (see :func:`lock_in_impedance`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pybamm

from ..params import EisConfig, ModelConfig
from . import model as model_building
from .aging import describe

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


def _current(t):
    return pybamm.InputParameter(_MOVE_CURRENT) + pybamm.InputParameter(_AMPLITUDE) * pybamm.sin(
        2 * np.pi * pybamm.InputParameter(_FREQUENCY) * t
    )


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
    """A rested time-domain solution at an operating point and the inputs that define it.

    ``soc_reached`` is the coulomb-counted SOC the move ended at: the target, or less (more)
    when the charge (discharge) stopped at the cell's voltage limit first.
    """

    solution: pybamm.Solution
    inputs: dict
    soc_reached: float


class ImpedanceSimulator:
    """Time-domain and frequency-domain impedance models, built once, solved per state."""

    def __init__(self, model_config: ModelConfig, eis: EisConfig, input_names: list[str]):
        self.eis = eis
        self.input_names = list(input_names)
        values = model_building.parameter_values(model_config, [*input_names, _AMBIENT])
        self.nominal_capacity_ah = float(values["Nominal cell capacity [A.h]"])
        model = model_building.impedance_model(model_config, eis.surface_form)
        var_pts = model_building.var_pts(model_config, model)
        self.frequency_domain = pybamm.EISSimulation(model, parameter_values=values, var_pts=var_pts)

        time_values = values.copy()
        time_values.update({"Current function [A]": _current}, check_already_exists=False)
        time_domain = pybamm.Simulation(
            model_building.impedance_model(model_config, eis.surface_form),
            parameter_values=time_values,
            var_pts=var_pts,
        )
        time_domain.build()
        self.time_model = time_domain.built_model
        # Two solvers: a PyBaMM solver is set up for one model and one set of tolerances.
        self.move_solver = model_building.solver(eis.solver)
        self.excitation_solver = model_building.solver(eis.time_domain.solver)

    # -- reaching the operating point -------------------------------------------------
    def start(self, state: dict[str, np.ndarray], inputs: dict) -> pybamm.Solution:
        """A one-point solution of the time-domain model holding the saved state."""
        model = self.time_model
        y0 = np.asarray(model.concatenated_initial_conditions.evaluate(0, inputs=inputs), dtype=float).ravel()
        for variable, slices in model.y_slices.items():
            if variable.name in state:
                y0[slices[0]] = _scaled(variable, np.asarray(state[variable.name], dtype=float), inputs)
            elif variable in model.rhs:
                raise KeyError(f"saved state lacks differential state {variable.name!r}")
        return pybamm.Solution(np.array([0.0]), y0[:, None], model, inputs)

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
            moved = self.move_solver.step(solution, self.time_model, duration, inputs=moving, save=False)
            if moved.termination != "final time":
                if not _voltage_limit(moved.termination):
                    raise pybamm.SolverError(f"stopped early: {moved.termination}")
                # Stop just short of the limit: a state exactly on it would end the rest at
                # its first step (the double-layer states still hold the move's overpotential).
                duration = _SHORT_OF_LIMIT * float(moved.t[-1] - moved.t[0])
                moved = self._step(self.move_solver, solution, duration, moving)
                soc_reached = soc_from - current * duration / 3600.0 / capacity_ah
            solution = moved
        solution = self._step(self.move_solver, solution, self.eis.rest_s, {**inputs, _MOVE_CURRENT: 0.0})
        return Rested(solution, cell_inputs, float(soc_reached))

    def _step(self, solver, solution, duration, inputs, t_interp=None):
        stepped = solver.step(solution, self.time_model, duration, t_interp=t_interp, inputs=inputs, save=False)
        if stepped.termination != "final time":
            raise pybamm.SolverError(f"stopped early: {stepped.termination}")
        return stepped

    # -- impedance ---------------------------------------------------------------------
    def frequency_domain_impedance(self, rested: Rested, frequencies_hz: np.ndarray) -> np.ndarray:
        """Z [Ohm] by linearising the impedance model about the rested state."""
        inputs = rested.inputs
        self.frequency_domain.build(inputs=inputs)
        built = self.frequency_domain.built_model
        # PyBaMM reads dict states as time series: a trailing time axis of length one.
        state = {
            variable.name: rested.solution[variable.name].entries[..., -1].ravel(order="F")[:, None]
            for variable in built.initial_conditions
            if variable.name != _CURRENT_STATE
        }
        state[_CURRENT_STATE] = np.zeros((1, 1))
        built.set_initial_conditions_from(state, inputs=inputs)
        return np.asarray(self.frequency_domain.solve(frequencies_hz, inputs=inputs).impedance)

    def time_domain_impedance(self, rested: Rested, frequencies_hz: np.ndarray) -> np.ndarray:
        """Z [Ohm] from a small sinusoidal current applied to the rested state."""
        config = self.eis.time_domain
        amplitude = config.amplitude_c_rate * self.nominal_capacity_ah
        base = {**rested.inputs, _MOVE_CURRENT: 0.0, _AMPLITUDE: amplitude}
        impedance = []
        for frequency in frequencies_hz:
            # The sine starts from the rested state at t = 0 of the step.
            start = pybamm.Solution(np.array([0.0]), rested.solution.last_state.all_ys[0], self.time_model, base)
            periods = config.settle_periods + config.periods
            duration = periods / frequency
            # Uniform samples, interpolated from the solver's own steps, so the lock-in
            # weighs every part of a period alike.
            times = np.linspace(0.0, duration, periods * config.points_per_period + 1)
            response = self._step(
                self.excitation_solver, start, duration, {**base, _FREQUENCY: float(frequency)}, t_interp=times
            )
            t = response.t
            measured = t >= config.settle_periods / frequency * (1 - 1e-12)
            voltage = response["Voltage [V]"].entries[measured]
            impedance.append(lock_in_impedance(t[measured], voltage, frequency, amplitude))
        return np.array(impedance)


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
class SpectrumTask:
    """One sample's snapshots: their saved states and the sample's inputs."""

    model: ModelConfig
    eis: EisConfig
    input_names: tuple[str, ...]
    sample_id: str
    inputs: dict
    snapshots: tuple[SnapshotState, ...]

    def simulator_key(self) -> tuple:
        return ("eis", self.model.model_dump_json(), self.eis.model_dump_json(), self.input_names)

    def cache_token(self) -> str:
        snapshots = [
            [s.snapshot, s.soc, s.capacity_ah, {name: np.asarray(v).tolist() for name, v in s.state.items()}]
            for s in self.snapshots
        ]
        return json.dumps(
            {
                "model": self.model.model_dump(mode="json"),
                "eis": self.eis.model_dump(mode="json"),
                "inputs": self.inputs,
                "sample_id": self.sample_id,
                "snapshots": snapshots,
            },
            sort_keys=True,
        )

    def failure(self, status: str, message: str) -> pd.DataFrame:
        """Every spectrum of the sample as missing, with the reason (worker hung or died)."""
        nothing = np.full(self.eis.frequencies_hz.shape, np.nan + 1j * np.nan)
        result = Spectrum(nothing, BACKENDS[self.eis.backend], f"{status}: {message}")
        return _spectra_table(self, lambda snapshot, point: result)


def spectrum_tasks(
    model: ModelConfig, eis: EisConfig, design: pd.DataFrame, snapshots: pd.DataFrame, states: pd.DataFrame
) -> list[SpectrumTask]:
    """One task per solved sample (sorted by sample_id), carrying its snapshot states by name."""
    from ..design import cell_parameter_columns

    input_names = tuple(cell_parameter_columns(design))
    if snapshots.empty or "sample_id" not in snapshots:  # no sample reached an RPT: nothing to measure
        return []
    design = design.set_index("sample_id")
    states_by_snapshot = {
        key: {row.variable: np.asarray(row.values) for row in group.itertuples()}
        for key, group in states.groupby(["sample_id", "snapshot"], sort=False)
    }
    tasks = []
    for sample_id, sample_snapshots in snapshots.groupby("sample_id", sort=True):
        sample = design.loc[sample_id]
        tasks.append(
            SpectrumTask(
                model,
                eis,
                input_names,
                sample_id,
                {name: float(sample[name]) for name in input_names},
                tuple(
                    SnapshotState(
                        int(row.snapshot),
                        float(row.eis_soc),
                        float(row.rpt_capacity_ah),
                        states_by_snapshot[(sample_id, row.snapshot)],
                    )
                    for row in sample_snapshots.sort_values("snapshot").itertuples()
                ),
            )
        )
    return tasks


@dataclass(frozen=True)
class Spectrum:
    impedance: np.ndarray
    backend: str
    solver_status: str
    fallback_reason: str = ""
    cross_check_pct: float = float("nan")
    soc_reached: float = float("nan")


def spectrum(simulator: ImpedanceSimulator, snapshot: SnapshotState, inputs: dict, point: Operating) -> Spectrum:
    """One spectrum by the configured backend (the other one if it fails); never raises.

    With ``eis.cross_check_hz`` the other backend also solves those frequencies and
    ``cross_check_pct`` is their largest |Z_other - Z| / |Z| in percent.
    """
    eis = simulator.eis
    frequencies = eis.frequencies_hz
    nothing = np.full(frequencies.shape, np.nan + 1j * np.nan)
    try:
        rested = simulator.rested(snapshot.state, inputs, snapshot.soc, snapshot.capacity_ah, point)
    except Exception as err:  # a state that cannot reach the operating point fails this spectrum only
        return Spectrum(nothing, BACKENDS[eis.backend], f"failed: reaching SOC {point.soc:g}: {describe(err)}")
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
            return Spectrum(impedance, BACKENDS[backend], "ok", "; ".join(reasons), soc_reached=rested.soc_reached)
        check = _cross_check(solvers, backend, other, rested, eis) if eis.cross_check_hz else float("nan")
        return Spectrum(impedance, BACKENDS[backend], "ok", cross_check_pct=check, soc_reached=rested.soc_reached)
    return Spectrum(nothing, BACKENDS[backend], "failed: " + "; ".join(reasons), soc_reached=rested.soc_reached)


def _cross_check(solvers: dict, backend: str, other: str, rested: Rested, eis: EisConfig) -> float:
    frequencies = np.asarray(eis.cross_check_hz, dtype=float)
    try:
        reference = solvers[backend](rested, frequencies)
        check = solvers[other](rested, frequencies)
    except Exception:  # the spectrum stands; the check just could not be made
        return float("nan")
    return float(100.0 * np.max(np.abs(check - reference) / np.abs(reference)))


_TEXT_COLUMNS = ("sample_id", "backend", "solver_status", "fallback_reason")
SPECTRA_COLUMNS = [
    "sample_id", "snapshot", "soc", "temperature_c", "frequency_hz", "z_re_ohm", "z_im_ohm", "z_abs_ohm",
    "phase_deg", "backend", "solver_status", "fallback_reason", "cross_check_pct", "soc_reached",
]  # fmt: skip


def empty_spectra() -> pd.DataFrame:
    """The spectra table of a run in which no sample reached an RPT: no rows, typed columns."""
    dtypes = {name: str if name in _TEXT_COLUMNS else "float64" for name in SPECTRA_COLUMNS}
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in {**dtypes, "snapshot": "int64"}.items()})


def solve_spectra(task: SpectrumTask) -> pd.DataFrame:
    """Long table of every spectrum of one sample: snapshots x temperatures x SOCs x frequencies.

    Impedance, status and provenance only: features are computed from it downstream
    (:mod:`agingset.impedance_features`), so a feature change never re-solves a spectrum.
    """
    from ..executor import cached

    simulator = cached(task.simulator_key(), lambda: ImpedanceSimulator(task.model, task.eis, list(task.input_names)))
    return _spectra_table(task, lambda snapshot, point: spectrum(simulator, snapshot, task.inputs, point))


def _spectra_table(task: SpectrumTask, solve) -> pd.DataFrame:
    frequencies = task.eis.frequencies_hz
    frames = []
    for snapshot in task.snapshots:
        for temperature_c in task.eis.temperatures_c:
            for soc in task.eis.socs:
                result = solve(snapshot, Operating(soc, temperature_c))
                impedance = result.impedance
                frames.append(
                    pd.DataFrame(
                        {
                            "sample_id": task.sample_id,
                            "snapshot": snapshot.snapshot,
                            "soc": soc,
                            "temperature_c": temperature_c,
                            "frequency_hz": frequencies,
                            "z_re_ohm": impedance.real,
                            "z_im_ohm": impedance.imag,
                            "z_abs_ohm": np.abs(impedance),
                            "phase_deg": np.degrees(np.angle(impedance)),
                            "backend": result.backend,
                            "solver_status": result.solver_status,
                            "fallback_reason": result.fallback_reason,
                            "cross_check_pct": result.cross_check_pct,
                            "soc_reached": result.soc_reached,
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

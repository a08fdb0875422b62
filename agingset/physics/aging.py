"""Cycle-aging simulation of one sample: experiment, reference performance tests, hand-off state.

An :class:`AgingSimulator` owns the built ``pybamm.Simulation``s of the experiment's parts; it is
created once per worker and solves any sample (protocol, temperature, cell) by changing the
``[input]`` parameters only, stepping the parts through IDAKLU directly (:mod:`.stepping`).
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pybamm

from ..catalog import AGING_TABLE_KEYS, STATUS_FAILED, STATUS_NON_PHYSICAL, STATUS_OK, STATUS_TIMEOUT
from ..params import AgingConfig, ModelConfig, PhysicalBounds, SolverConfig
from . import model as model_building
from .cycle_jumping import (
    CHECK_CYCLES,
    FIRST_JUMP,
    MIN_JUMP,
    MONITORED,
    JumpLog,
    conserve_lithium,
    curvature,
    displacement,
    extrapolate,
    jump_error,
    limits,
    lost_steps,
    predicted_slope,
    share_of_room,
    size_after_check,
    size_after_rejection,
)
from .protocol import (
    Protocol,
    input_steps,
    protocol_inputs,
    reference_steps,
    set_durations,
    set_storage_durations,
    step_inputs,
    storage_steps,
)
from .provenance import sample_metadata
from .stepping import DirectExperiment, StateMappers, StateReader, StepFailed, StepRun, StepTimeout

LOGGER = logging.getLogger("agingset.physics.aging")

LITHIUM_IN_PARTICLES = "Total lithium in particles [mol]"
# Degradation rate parameters that ``aging.acceleration`` multiplies (when they are sampled inputs).
ACCELERATED_PARAMETERS = (
    "SEI solvent diffusivity [m2.s-1]",
    "SEI kinetic rate constant [m.s-1]",
    "EC diffusivity [m2.s-1]",
    "SEI lithium interstitial diffusivity [m2.s-1]",
    "Negative electrode LAM constant proportional term [s-1]",
    "Positive electrode LAM constant proportional term [s-1]",
    "Dead lithium decay constant [s-1]",
)
# Not the plating kinetic rate constant: plating is a threshold (cold, fast charge), not a rate to accelerate.
# LLI is computed from LITHIUM_IN_PARTICLES against the sample's own initial state:
# PyBaMM's "Loss of lithium inventory [%]" keeps the reference of the first input set a
# reused simulation was solved with, which would make labels depend on solve order.
DEGRADATION_VARIABLES = {
    "lam_ne_pct": "Loss of active material in negative electrode [%]",
    "lam_pe_pct": "Loss of active material in positive electrode [%]",
    "li_lost_plating_mol": "Loss of lithium to negative lithium plating [mol]",
    "capacity_lost_sei_ah": "Loss of capacity to negative SEI [A.h]",
    "capacity_lost_sei_cracks_ah": "Loss of capacity to negative SEI on cracks [A.h]",
    "capacity_lost_plating_ah": "Loss of capacity to negative lithium plating [A.h]",
    # Electrode and cyclable-lithium capacities: with the RPT voltage window they fix the
    # capacity the degradation modes leave (see docs/physics.md, capacity bookkeeping).
    "q_ne_ah": "Negative electrode capacity [A.h]",
    "q_pe_ah": "Positive electrode capacity [A.h]",
    "q_li_ah": "Total lithium capacity in particles [A.h]",
}
# Where the lithium that leaves the particles goes. Missing terms (mechanism off) are zero.
LITHIUM_SINKS = (
    "Total lithium lost to side reactions [mol]",
    "Loss of lithium due to loss of active material in negative electrode [mol]",
    "Loss of lithium due to loss of active material in positive electrode [mol]",
    "Total lithium lost from electrolyte [mol]",
)


def describe(error: BaseException) -> str:
    """An exception as one line, for the per-sample status message."""
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


class SampleTimeout(Exception):
    """Raised between experiment steps once a sample exceeds its wall-clock budget."""


REFERENCE_TEMPERATURE_K = 298.15
GAS_CONSTANT = 8.314462618


def rate_factor(name: str, aging: AgingConfig, temperature_c: float) -> float:
    """What a degradation rate is multiplied by: ``aging.acceleration`` (for the parameters in
    ACCELERATED_PARAMETERS) times the Arrhenius factor of its ``aging.activation_energies``."""
    factor = aging.acceleration if name in ACCELERATED_PARAMETERS else 1.0
    energy = aging.activation_energies.get(name, 0.0)
    if energy:
        inverse_temperatures = 1.0 / REFERENCE_TEMPERATURE_K - 1.0 / (temperature_c + 273.15)
        factor *= math.exp(energy / GAS_CONSTANT * inverse_temperatures)
    return factor


def accelerated(inputs: dict[str, float], aging: AgingConfig, temperature_c: float) -> dict[str, float]:
    """The sampled inputs as solved: rates times their :func:`rate_factor`."""
    return {name: value * rate_factor(name, aging, temperature_c) for name, value in inputs.items()}


class TrajectoryFailed(Exception):
    """A part of the trajectory could not be solved; the message says which and why."""


@dataclass
class _Pending:
    """A jump taken and not yet checked: what to restore if its check fails."""

    n: int
    state: StepRun
    boundary: list
    slope: tuple  # (state, monitored) change over the cycle before the jump
    bend: tuple | None  # (state, monitored) curvature the jump used; None: first order
    cycles: int
    planned: int  # the envelope's size, when sharing the room before the RPT cut the jump short; else 0
    simulated: int
    rows: int
    durations: tuple[float, ...]  # of the steps of the cycle before the jump

    @property
    def order(self) -> int:
        return 1 if self.bend is None else 2


@dataclass
class _Envelope:
    """What cycle jumping knows of a trajectory's envelope, kept across RPTs."""

    size: int  # cycles of the next jump
    bend: tuple | None = None  # (state, monitored) curvature from the last checked jump
    slope: tuple | None = None  # (state, monitored) change over the last simulated cycle pair ...
    at: float = 0.0  # ... centred at this cycle

    def predicted(self, cycle: float) -> tuple | None:
        """The slope centred at ``cycle`` (None until a curvature is known)."""
        if self.bend is None or self.slope is None:
            return None
        return tuple(slope + (cycle - self.at) * bend for slope, bend in zip(self.slope, self.bend))


def _number(value) -> float | None:
    """A variable's scale or reference as a number; None when it depends on an input."""
    try:
        return float(value.evaluate()) if isinstance(value, pybamm.Symbol) else float(value)
    except Exception:
        return None


def state_bounds(model: pybamm.BaseModel) -> tuple[np.ndarray, np.ndarray]:
    """The differential states' bounds in the state vector's units. PyBaMM keeps a variable's
    bounds physical (``model.bounds``: a concentration in [0, c_max]) and its state scaled,
    (value - reference) / scale (c / c_max in [0, 1]); a bound whose scale is an input is dropped."""
    lower, upper = (np.array(bound, dtype=float)[: model.len_rhs] for bound in model.bounds)
    for variable in model.rhs:
        where = model.y_slices[variable][0]
        scale, reference = _number(getattr(variable, "scale", 1)), _number(getattr(variable, "reference", 0))
        if scale is None or reference is None or scale <= 0:
            lower[where], upper[where] = -np.inf, np.inf
            continue
        lower[where] = (lower[where] - reference) / scale
        upper[where] = (upper[where] - reference) / scale
    return lower, upper


# The ambient temperature, where the cell also starts, as an input of the aging model. PyBaMM
# refuses its own "Ambient temperature [K]" as an experiment's input (a step may set it); the
# steps here set none, and the parameter refers to this input instead.
AMBIENT_INPUT = "Ambient temperature input [K]"


def fixed_rates(values: pybamm.ParameterValues, aging: AgingConfig, input_names: list[str]) -> dict[str, float]:
    """Fixed (not sampled) degradation rates that :func:`rate_factor` scales with temperature or
    ``aging.acceleration``, at their base values: inputs of the aging model, so that one build
    serves every temperature."""
    names = set(ACCELERATED_PARAMETERS) | set(aging.activation_energies)
    return {
        name: float(values[name])
        for name in sorted(names)
        if name in values.keys() and name not in input_names and isinstance(values[name], numbers.Number)
    }


def aging_parameter_values(
    model_config: ModelConfig, aging: AgingConfig, input_names: list[str]
) -> tuple[pybamm.ParameterValues, dict[str, float]]:
    """The model's parameter values with the sampled ones, the ambient (and starting) temperature
    and the :func:`fixed_rates` as inputs; and those rates' base values (:func:`temperature_inputs`)."""
    values = model_building.parameter_values(model_config, input_names)
    rates = fixed_rates(values, aging, input_names)
    ambient = pybamm.InputParameter(AMBIENT_INPUT)
    values.update(
        {
            "Ambient temperature [K]": lambda y, z, t: ambient,
            "Initial temperature [K]": ambient,
            **{name: "[input]" for name in rates},
        }
    )
    return values, rates


def temperature_inputs(rates: dict[str, float], aging: AgingConfig, temperature_c: float) -> dict[str, float]:
    """The inputs :func:`aging_parameter_values` leaves to the solve, at one ambient temperature:
    the cell starts at and is kept in that ambient, fixed rates times their :func:`rate_factor`."""
    return {
        AMBIENT_INPUT: temperature_c + 273.15,
        **{name: value * rate_factor(name, aging, temperature_c) for name, value in rates.items()},
    }


def recorded_values(values: pybamm.ParameterValues, temperature_c: float) -> pybamm.ParameterValues:
    """The parameter values a sample was solved with as m_i records them: the temperatures as numbers."""
    recorded = values.copy()
    kelvin = temperature_c + 273.15
    recorded.update({"Ambient temperature [K]": kelvin, "Initial temperature [K]": kelvin})
    return recorded


def cell_inputs(
    sampled: dict[str, float], rates: dict[str, float], aging: AgingConfig, temperature_c: float
) -> dict[str, float]:
    """A sample's inputs apart from its protocol levels (what m_i records): the sampled cell
    parameters, rates times their :func:`rate_factor`, and the temperature's."""
    return {**accelerated(sampled, aging, temperature_c), **temperature_inputs(rates, aging, temperature_c)}


def _simulation(model_config, solver_config, values, cycles, mesh) -> pybamm.Simulation:
    return pybamm.Simulation(
        model_building.build_model(model_config),
        parameter_values=values.copy(),
        experiment=pybamm.Experiment(cycles),
        solver=model_building.solver(solver_config),
        var_pts=mesh,
    )


def _opposite_order() -> bool:
    """Whether this worker sets its step models up in reverse order: two workers compiling cold at once
    (odd and even process ids) then each build half of them (:meth:`.DirectExperiment.set_up`)."""
    return os.getpid() % 2 == 1


class AgingSimulator:
    """The aging experiment, built once and solved for any protocol, ambient temperature and cell
    parameters (all of them ``[input]``s: one build and one compiled model per worker).

    Three simulations: ``start`` (conditioning and the first RPT), ``rpt`` and ``cycle`` (one
    aging cycle, its protocol levels as inputs, :func:`.protocol.input_steps`), and the storage
    blocks'. Every step takes its levels as inputs (:func:`.protocol.input_step`), so PyBaMM builds
    (and compiles) one model per control law and cut-off kind, the same model in every simulation
    that has such a step (its compiled library is one file: 5 for the default experiment, against 14
    with the levels written in); a trajectory drives them step by step
    through IDAKLU directly (:mod:`.stepping`), each continuing from the state the previous one
    ended in; between RPTs, cycle jumping (``aging.cycle_jumping``, see :mod:`.cycle_jumping`) may
    skip cycles by extrapolating the cycle-boundary state.
    """

    def __init__(
        self,
        model_config: ModelConfig,
        solver_config: SolverConfig,
        aging: AgingConfig,
        input_names: list[str],
        handoff_names: list[str],
    ):
        model = model_building.build_model(model_config)
        self.model_config = model_config
        self.aging = aging
        self.solver_config = solver_config
        self.input_names = list(input_names)
        self.handoff_names = handoff_names
        self.roles = {step.role: index for index, step in enumerate(aging.rpt) if step.role}
        self.lithium_sinks = [name for name in LITHIUM_SINKS if name in model.variables]
        self.parameter_values, self.fixed_rates = aging_parameter_values(model_config, aging, self.input_names)
        self.mesh = model_building.var_pts(model_config, model)
        steps = reference_steps(aging, as_inputs=True)
        self.simulations = {
            part: _simulation(model_config, solver_config, self.parameter_values, cycles, self.mesh)
            for part, cycles in (
                ("start", [steps["conditioning"], steps["rpt"]]),
                ("rpt", [steps["rpt"]]),
                ("cycle", [input_steps(aging)]),
            )
        }
        self.experiments: dict[str, DirectExperiment] = {}
        self.mappers = StateMappers()
        self._limits: dict[int, tuple] = {}
        self._warm = False
        self._read_monitored = StateReader(list(MONITORED))
        self._read_handoff = StateReader(self.handoff_names)
        self._read_pulse = StateReader(["Voltage [V]", "Current [A]"])
        self._read_lithium = StateReader([LITHIUM_IN_PARTICLES, *self.lithium_sinks])
        self._read_labels = StateReader(
            [
                "Discharge capacity [A.h]",
                "Voltage [V]",
                LITHIUM_IN_PARTICLES,
                *self.lithium_sinks,
                *DEGRADATION_VARIABLES.values(),
            ]
        )

    def solver_inputs(self, protocol: Protocol, inputs: dict[str, float], temperature_c: float | None = None) -> dict[str, float]:
        """Every input of a solve at ``temperature_c`` (the protocol's ambient by default): :func:`cell_inputs`
        and the protocol's levels."""
        temperature = protocol.ambient_temperature_c if temperature_c is None else temperature_c
        return {**cell_inputs(inputs, self.fixed_rates, self.aging, temperature), **protocol_inputs(protocol)}

    def conditions(self, protocol: Protocol, inputs: dict[str, float]) -> dict[str, dict[str, float]]:
        """The inputs of the cycling (and storage) before and after any temperature switch, and of the RPTs."""
        rpt = self.aging.rpt_temperature_c
        return {
            "cycle": self.solver_inputs(protocol, inputs),
            "late": self.solver_inputs(protocol, inputs, protocol.late_ambient_temperature_c),
            "rpt": self.solver_inputs(protocol, inputs, rpt),
        }

    def run(
        self, sample_id: str, protocol: Protocol, inputs: dict[str, float], retried_after: str = ""
    ) -> dict[str, pd.DataFrame]:
        """Status, RPT snapshots, RPT curves, hand-off states, per-cycle capacity and m_i of one
        sample cycled with ``protocol``.

        Only ``ok`` and ``non-physical`` samples carry measurements; a failed or timed-out
        sample is one status row with its reason. ``retried_after``: the failure of an earlier
        attempt at this sample (another solver), recorded in its message.
        """
        cell = cell_inputs(inputs, self.fixed_rates, self.aging, protocol.ambient_temperature_c)
        conditions = self.conditions(protocol, inputs)
        for simulation in self.simulations.values():
            set_durations(simulation.experiment.steps, protocol)
        if not self._warm:
            self._warm_up(conditions["cycle"])
        deadline = time.monotonic() + self.solver_config.timeout_s
        log = JumpLog()
        status, message, tables = STATUS_OK, "", no_measurements()
        try:
            tables = self.trajectory(sample_id, protocol, conditions, deadline, log)
        except SampleTimeout as err:
            status, message = STATUS_TIMEOUT, str(err)
        except TrajectoryFailed as err:
            status, message = STATUS_FAILED, str(err)
        except Exception as err:  # any solver/model failure belongs to this sample only
            status, message = STATUS_FAILED, describe(err)

        if status == STATUS_OK:
            message = non_physical_reason(pd.DataFrame(tables["snapshots"]), self.aging.bounds)
            status = STATUS_NON_PHYSICAL if message else STATUS_OK
        else:
            tables = no_measurements()
        if retried_after:
            retry = f"solved at atol {self.solver_config.atol:g} after a failure at the configured solver: {retried_after}"
            message = f"{message}; {retry}" if message else retry

        return sample_result(
            sample_id,
            status,
            message,
            tables,
            self.aging.rpt_every,
            sample_metadata(
                self.model_config,
                self.solver_config,
                recorded_values(self.parameter_values, protocol.ambient_temperature_c),
                cell,
                self.mesh,
                self.aging,
                protocol.__dict__,
                {"status": status, "message": message, "cycles": log.summary()},
            ),
        )

    def _warm_up(self, inputs: dict[str, float]) -> None:
        """Solve each simulation once, untimed and discarded. PyBaMM builds (and with
        ``solver.compile`` compiles) a step's model at its first solve: seconds for the SPM, a
        quarter of an hour for the DFN, which would count against the first sample's
        ``solver.timeout_s`` on a fresh compile cache and time it out (its status would then
        depend on the cache). A failure here is the sample's to report, in its own solve."""
        self._warm = True
        try:
            for part in ("start", "cycle", "rpt"):
                self._experiment(part, inputs).set_up(inputs, _opposite_order())
            start = self._run("start", None, inputs, None)[-1][-1].end()
            self._run("cycle", start, inputs, None)
            self._run("rpt", start, inputs, None)
        except Exception:  # noqa: BLE001 - the timed solve of the sample reports it
            LOGGER.debug("warm-up solve failed", exc_info=True)

    def integration(self) -> tuple[float, int]:
        """CPU seconds spent inside IDAKLU so far, and the steps it solved (every part, every sample)."""
        return (
            sum(experiment.integration_s for experiment in self.experiments.values()),
            sum(experiment.steps_solved for experiment in self.experiments.values()),
        )

    def _experiment(self, part: str, inputs: dict) -> DirectExperiment:
        if part not in self.experiments:
            self.experiments[part] = DirectExperiment(self.simulations[part], self.mappers, inputs, step_inputs)
        return self.experiments[part]

    def _run(self, part: str, state: StepRun | None, inputs: dict, deadline: float | None) -> list[list[StepRun]]:
        """The cycles of simulation ``part`` (each a list of its steps) from ``state``."""
        try:
            return self._experiment(part, inputs).run(state, inputs, deadline)
        except StepTimeout:
            raise SampleTimeout(f"exceeded {self.solver_config.timeout_s:g} s wall-clock limit") from None
        except StepFailed as err:
            raise TrajectoryFailed(f"{part}: {err}") from None

    def trajectory(
        self, sample_id: str, protocol: Protocol, conditions: dict[str, dict], deadline: float, log: JumpLog
    ) -> dict[str, list]:
        """Conditioning, then RPT, (storage, cycles, RPT) per block: the measurements of one sample.
        ``conditions``: the inputs (:meth:`conditions`) of the cycling before and after a switch, and of the RPTs."""
        inputs = conditions["cycle"]
        start = self._run("start", None, conditions["rpt"], deadline)
        reference = self._read_lithium(start[0][0], at=0)
        tables = no_measurements()
        age = _Age()
        capacity0 = self._record_rpt(tables, sample_id, 0, start[-1], reference, age)
        capacity = capacity0
        state = start[-1][-1].end()
        del start
        scale = self._monitored(state)
        envelope = _Envelope(size=FIRST_JUMP)
        for block in range(self.aging.cycles // self.aging.rpt_every):
            if protocol.switch_after_cycles and block * self.aging.rpt_every == protocol.switch_after_cycles:
                # A new ambient: the envelope of the cycles before it does not carry over.
                inputs, envelope = conditions["late"], _Envelope(size=FIRST_JUMP)
                age.switched()
            if protocol.storage_days > 0:
                state = self._store(state, inputs, deadline, protocol, capacity, age)
            state = self._block(sample_id, block, state, inputs, deadline, log, tables, scale, envelope)
            first_cycle = block * self.aging.rpt_every
            age.add_cycles([row for row in tables["cycles"] if row["cycle"] > first_cycle], self.aging.rpt_every)
            rpt = self._run("rpt", state, conditions["rpt"], deadline)[-1]
            capacity = self._record_rpt(tables, sample_id, block + 1, rpt, reference, age)
            state = rpt[-1].end()
            del rpt
            if self.aging.stop_at_soh is not None and capacity / capacity0 <= self.aging.stop_at_soh:
                break
        return tables

    def _store(self, state: StepRun, inputs: dict, deadline: float, protocol: Protocol, capacity_ah: float, age: "_Age"):
        """One storage block: to the storage SOC, ``storage_days`` at rest, back to full charge."""
        part = "storage" if protocol.storage_soc < 1.0 else "storage_full"
        if part not in self.simulations:
            steps = storage_steps(self.aging, move=part == "storage")
            self.simulations[part] = _simulation(
                self.model_config, self.solver_config, self.parameter_values, [steps], self.mesh
            )
        simulation = self.simulations[part]
        set_durations(simulation.experiment.steps, protocol)
        nominal = float(self.parameter_values["Nominal cell capacity [A.h]"])
        set_storage_durations(simulation.experiment.steps, self.aging, protocol, capacity_ah, nominal)
        if part not in self.experiments:
            self._experiment(part, inputs).set_up(inputs, _opposite_order())
        stored = self._run(part, state, inputs, deadline)[-1]
        age.add(stored, stored_s=protocol.storage_days * 86400.0)
        return stored[-1].end()

    def _record_rpt(self, tables, sample_id: str, snapshot: int, rpt: list[StepRun], reference, age: "_Age") -> float:
        try:
            record, curve, state = self._read_rpt(rpt, reference)
        except Exception as err:  # an RPT that cannot be read fails this sample, not the stage
            raise TrajectoryFailed(f"reading RPT: {describe(err)}") from None
        if snapshot:
            age.add(rpt)
        else:  # the age counts from the end of the first RPT, its EFC in the first RPT's capacity
            age.capacity0_ah = record["rpt_capacity_ah"]
        key = {"sample_id": sample_id, "snapshot": snapshot}
        tables["snapshots"].append({**key, "cycle": snapshot * self.aging.rpt_every, **record, **age.record()})
        tables["curves"].append(pd.DataFrame({**key, **curve}))
        tables["states"].extend(
            {**key, "variable": name, "values": values.tolist()} for name, values in state.items()
        )
        return record["rpt_capacity_ah"]

    def _monitored(self, state: StepRun) -> np.ndarray:
        return np.fromiter(self._read_monitored(state).values(), dtype=float)

    def _state_limits(self, state: StepRun) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
        """The differential states' limits, their number, and the negative particle concentrations' indices."""
        model = state.model
        if id(model) not in self._limits:
            names = [variable.name for variable in model.rhs]
            slices = [model.y_slices[variable][0] for variable in model.rhs]
            lower, upper = state_bounds(model)
            negative = np.concatenate(
                [np.empty(0, dtype=int)]
                + [
                    np.arange(model.len_rhs)[where]
                    for name, where in zip(names, slices)
                    if "negative" in name.lower() and name.lower().endswith("particle concentration [mol.m-3]")
                ]
            )
            self._limits[id(model)] = (*limits(names, slices, lower, upper), model.len_rhs, negative)
        return self._limits[id(model)]

    def _lithium(self, state: StepRun, y: np.ndarray) -> float:
        """The cell's lithium (particles, side reactions, lost active material) in state ``y``."""
        return sum(self._read_lithium(state, y=y).values())

    def _lithium_conserving(self, state, last, lithium, moved, negative, lower, upper) -> np.ndarray | None:
        """``moved`` (differential states) holding ``lithium``, the lithium of ``last`` (see :func:`.conserve_lithium`)."""
        algebraic = last[len(moved) :]
        moved_lithium = self._lithium(state, np.concatenate([moved, algebraic]))
        shifted = moved.copy()
        shifted[negative] += 1.0
        per_unit_shift = self._lithium(state, np.concatenate([shifted, algebraic])) - moved_lithium
        return conserve_lithium(
            moved, negative, moved_lithium - lithium, per_unit_shift, lithium,
            self.aging.cycle_jumping.tolerance, lower, upper,
        )

    def _block(self, sample_id, block, state, inputs, deadline, log, tables, scale, envelope: "_Envelope"):
        """The aging cycles between two RPTs, simulated or jumped; the state before the next RPT.
        ``envelope`` (the next jump's size, the last curvature and slope) carries over blocks."""
        jumping = self.aging.cycle_jumping
        every = self.aging.rpt_every
        first = block * every
        n, boundary, pending = 0, [], None
        while n < every:
            try:
                cycle = self._run("cycle", state, inputs, deadline)[-1]
                durations = step_durations(cycle)
                if pending is not None and lost_steps(pending.durations, durations):
                    # A step that ends at its start (a discharge from a jumped state already at its
                    # cut-off) is a state off the cycle's path: the jump fails, not the sample.
                    raise TrajectoryFailed("a step of a checking cycle ended at its start")
            except SampleTimeout:
                raise
            except Exception:  # a cycle that cannot start from a jumped state fails the jump, not the sample
                if pending is None:
                    raise
                log.rejected.append((first + pending.n, pending.cycles, math.inf))
                retry = size_after_rejection(
                    pending.cycles, math.inf, jumping.tolerance, jumping.max_jump, pending.order
                )
                n, state, boundary = self._undo(pending, log, tables, envelope, retry)
                pending = None
                continue
            n += 1
            state = cycle[-1].end()
            log.simulated.append(first + n)
            tables["cycles"].append(
                {
                    "sample_id": sample_id,
                    "cycle": first + n,
                    "cycle_in_block": n,
                    # The first cycle from a jumped state relaxes the extrapolated particle
                    # concentrations: its capacity is not on the cycle-to-cycle curve.
                    "after_jump": pending is not None and len(tables["cycles"]) == pending.rows,
                    "discharge_capacity_ah": _discharged_ah(cycle),
                    "duration_s": sum(durations),
                }
            )
            del cycle
            if not jumping.enabled:
                continue
            boundary.append((state.last_y.copy(), self._monitored(state) / scale))
            if len(boundary) >= 2:
                slope = (boundary[-1][0] - boundary[-2][0], boundary[-1][1] - boundary[-2][1])
                envelope.slope, envelope.at = slope, first + n - 0.5
            else:
                # One cycle after an RPT: it started from the RPT's rested full charge, so its change is
                # not the per-cycle one. Once a curvature is known, the slope the envelope predicts
                # from the cycles before the RPT stands in for a second warm-up cycle (the jump's
                # check then tests that prediction).
                slope = envelope.predicted(first + n - 0.5) if n == 1 else None
                if slope is None:
                    continue
            if pending is not None:
                used = None if pending.bend is None else pending.bend[1]
                error = jump_error(predicted_slope(pending.slope[1], used, pending.cycles), slope[1], pending.cycles)
                if error > jumping.tolerance:  # undo the jump, retry with at most half of it
                    log.rejected.append((first + pending.n, pending.cycles, error))
                    retry = size_after_rejection(
                        pending.cycles, error, jumping.tolerance, jumping.max_jump, pending.order
                    )
                    n, state, boundary = self._undo(pending, log, tables, envelope, retry)
                    slope = pending.slope
                else:
                    envelope.size = size_after_check(
                        pending.cycles, pending.planned, error, jumping.tolerance, jumping.max_jump, pending.order
                    )
                    if jumping.order == 2:
                        envelope.bend = tuple(curvature(b, a, pending.cycles) for b, a in zip(pending.slope, slope))
                pending = None
            room = every - n - CHECK_CYCLES  # a jump ends before the cycles that check it ahead of the RPT
            cycles = fitted = share_of_room(envelope.size, room)
            lower, upper, differential, negative = self._state_limits(state)
            last = boundary[-1][0]
            lithium = self._lithium(state, last)
            bend = envelope.bend
            moved = None
            while cycles >= MIN_JUMP:
                change = displacement(slope[0][:differential], bend[0][:differential] if bend else None, cycles)
                moved = extrapolate(last[:differential], change, lower, upper)
                if moved is not None:
                    moved = self._lithium_conserving(state, last, lithium, moved, negative, lower, upper)
                if moved is not None:
                    break
                log.limited += 1
                cycles //= 2
            if moved is None:
                envelope.size = max(envelope.size, MIN_JUMP)
                continue
            pending = _Pending(
                n, state, boundary, slope, bend, cycles,
                envelope.size if cycles == fitted < envelope.size else 0,
                len(log.simulated), len(tables["cycles"]), durations,
            )
            log.jumped.append((first + n + 1, first + n + cycles))
            state = state.holding(np.concatenate([moved, last[differential:]]))
            n += cycles
            boundary = []
        return state

    @staticmethod
    def _undo(pending: "_Pending", log: JumpLog, tables, envelope: "_Envelope", retry: int) -> tuple:
        """Forget a jump and the cycles simulated after it: back to where it was taken, to retry it
        with ``retry`` cycles."""
        log.jumped.pop()
        del log.simulated[pending.simulated :]
        del tables["cycles"][pending.rows :]
        envelope.size, envelope.bend = retry, pending.bend
        return pending.n, pending.state, pending.boundary

    def _pulse_resistance(self, steps: list[StepRun], pulse_index: int) -> float:
        """DC resistance: voltage change over the pulse divided by the pulse current."""
        pulse = self._read_pulse(steps[pulse_index])
        before = self._read_pulse(steps[pulse_index - 1] if pulse_index > 0 else steps[pulse_index])
        current = pulse["Current [A]"]
        return abs((before["Voltage [V]"] - pulse["Voltage [V]"]) / current) if current else np.nan

    def _read_rpt(self, steps: list[StepRun], reference: dict[str, float]):
        capacity_step = steps[self.roles["capacity"]]
        discharged = capacity_step.entries("Discharge capacity [A.h]")
        capacity_ah = float(discharged[-1] - discharged[0])
        time_s = capacity_step.entries("Time [s]")
        curve = {
            "time_s": time_s - time_s[0],
            "current_a": capacity_step.entries("Current [A]"),
            "voltage_v": capacity_step.entries("Voltage [V]"),
            "discharged_ah": discharged - discharged[0],
        }

        eis_step = steps[self.roles["eis_state"]]
        at_eis = self._read_labels(eis_step)
        eis_discharged = at_eis["Discharge capacity [A.h]"]
        lithium_initial = reference[LITHIUM_IN_PARTICLES]
        lithium_lost = lithium_initial - at_eis[LITHIUM_IN_PARTICLES]
        lithium_sunk = sum(at_eis[name] - reference[name] for name in self.lithium_sinks)
        record = {
            "rpt_capacity_ah": capacity_ah,
            # SOC by coulomb counting from the empty cell at the end of the capacity test.
            "eis_soc": (discharged[-1] - eis_discharged) / capacity_ah,
            "eis_voltage_v": at_eis["Voltage [V]"],
            "pulse_resistance_ohm": np.nan,
            "lli_pct": 100.0 * lithium_lost / lithium_initial,
            # Lithium conservation: what left the particles is bound somewhere; the residual
            # (a fraction of the cell's lithium) measures how well the solve kept it.
            "lithium_balance_error": (lithium_lost - lithium_sunk) / lithium_initial,
            **{label: at_eis[name] for label, name in DEGRADATION_VARIABLES.items()},
        }
        if "pulse" in self.roles:
            record["pulse_resistance_ohm"] = self._pulse_resistance(steps, self.roles["pulse"])
        # The impedance model's differential states, read from aging variables of the same name.
        return record, curve, self._read_handoff.vectors(eis_step)


@dataclass
class _Age:
    """A trajectory's clock and throughput since the end of its first RPT (the snapshot's age labels)."""

    capacity0_ah: float = math.nan
    elapsed_s: float = 0.0
    discharged_ah: float = 0.0
    stored_s: float = 0.0
    switched_at_s: float | None = None

    def switched(self) -> None:
        self.switched_at_s = self.elapsed_s

    def add(self, cycle: list[StepRun], stored_s: float = 0.0) -> None:
        """A simulated cycle (an RPT, a storage block): its duration, the charge its discharge steps
        delivered and the time it stored the cell."""
        self.elapsed_s += sum(step_durations(cycle))
        self.discharged_ah += _discharged_ah(cycle)
        self.stored_s += stored_s

    def add_cycles(self, rows: list[dict], cycles: int) -> None:
        """A block of ``cycles`` aging cycles whose simulated ones are ``rows``: a jumped cycle takes
        the mean duration and discharge of the block's simulated ones."""
        if not rows:
            return
        duration = np.array([row["duration_s"] for row in rows])
        discharged = np.array([row["discharge_capacity_ah"] for row in rows])
        jumped = cycles - len(rows)
        self.elapsed_s += duration.sum() + jumped * duration.mean()
        self.discharged_ah += discharged.sum() + jumped * discharged.mean()

    def record(self) -> dict[str, float]:
        return {
            "elapsed_days": self.elapsed_s / 86400.0,
            "efc": self.discharged_ah / self.capacity0_ah,
            "stored_days": self.stored_s / 86400.0,
            "switched_days": 0.0 if self.switched_at_s is None else (self.elapsed_s - self.switched_at_s) / 86400.0,
        }


def no_measurements() -> dict[str, list]:
    return {"snapshots": [], "curves": [], "states": [], "cycles": []}


def empty_table(name: str) -> pd.DataFrame:
    """A measurement table with no rows and its key columns."""
    return pd.DataFrame({key: pd.Series(dtype=str if key == "sample_id" else "int64") for key in AGING_TABLE_KEYS[name]})


def sample_result(
    sample_id: str, status: str, message: str, tables: dict[str, list], rpt_every: int, metadata: dict[str, str]
) -> dict[str, pd.DataFrame]:
    """The tables of one sample: its status row, its measurements and its m_i."""
    snapshots = len(tables["snapshots"])
    return {
        "status": pd.DataFrame(
            [
                {
                    "sample_id": sample_id,
                    "status": status,
                    "message": message,
                    "snapshots": snapshots,
                    "cycles_completed": max(0, (snapshots - 1) * rpt_every),
                }
            ]
        ),
        "snapshots": pd.DataFrame(tables["snapshots"]) if tables["snapshots"] else empty_table("snapshots"),
        "curves": pd.concat(tables["curves"], ignore_index=True) if tables["curves"] else empty_table("curves"),
        "states": pd.DataFrame(tables["states"]) if tables["states"] else empty_table("states"),
        "cycles": pd.DataFrame(tables["cycles"]) if tables["cycles"] else empty_table("cycles"),
        "metadata": pd.DataFrame([{"sample_id": sample_id, **metadata}]),
    }


def non_physical_reason(snapshots: pd.DataFrame, bounds: PhysicalBounds) -> str:
    """Why a solved trajectory cannot be trusted, or "" when it can."""
    measured = snapshots.select_dtypes("number").dropna(axis=1, how="all")  # all-NaN: not measured (no pulse)
    if not np.isfinite(measured.to_numpy(dtype=float)).all():
        return "non-finite RPT measurement"
    capacity = snapshots["rpt_capacity_ah"]
    soh = capacity / capacity.iloc[0]
    if (soh > bounds.soh_max).any() or (capacity <= 0).any():
        return f"SOH {soh.max():.4f} outside (0, {bounds.soh_max}]"
    for column in ("lli_pct", "lam_ne_pct", "lam_pe_pct"):
        if (snapshots[column] < -bounds.noise_pct).any():
            return f"{column} {snapshots[column].min():.4g} below -{bounds.noise_pct}"
    worst = snapshots["lithium_balance_error"].abs().max()
    if worst > bounds.lithium_balance_tolerance:
        return f"lithium balance error {worst:.3g} exceeds {bounds.lithium_balance_tolerance}"
    return ""


def step_durations(cycle: list[StepRun]) -> tuple[float, ...]:
    """Seconds each step of a cycle lasted (0 for a step that ended at its start)."""
    return tuple(step.duration_s for step in cycle)


def _discharged_ah(cycle: list[StepRun]) -> float:
    """Charge delivered by the discharge steps of one cycle: the rise of the discharge-capacity
    state over each step that discharges, read from the state vectors (each step has one
    current sign; the integral of the positive current to 1e-13 relative, without building
    PyBaMM's processed variables for every aging cycle)."""
    delivered = 0.0
    for step in cycle:
        if step.ended_at_start:  # e.g. a hold already at its cutoff
            continue
        where = step.state_index("Discharge capacity [A.h]")
        delivered += max(float(step.y[where, -1] - step.y[where, 0]), 0.0)
    return delivered

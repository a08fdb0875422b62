"""Cycle-aging simulation of one sample: experiment, reference performance tests, hand-off state.

An :class:`AgingSimulator` owns one built ``pybamm.Simulation`` for one protocol; it is
created once per worker and protocol and solves any number of samples by changing the
``[input]`` parameters only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pybamm

from ..params import AgingConfig, ModelConfig, SolverConfig
from . import model as model_building

STATUS_OK, STATUS_FAILED, STATUS_TIMEOUT = "ok", "failed", "timeout"

LITHIUM_IN_PARTICLES = "Total lithium in particles [mol]"
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
}


@dataclass(frozen=True)
class Protocol:
    ambient_temperature_c: float
    charge_c_rate: float
    discharge_c_rate: float


def describe(error: BaseException) -> str:
    """An exception as one line, for the per-sample status message."""
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


class SampleTimeout(Exception):
    """Raised between experiment steps once a sample exceeds its wall-clock budget."""


class _Watch(pybamm.callbacks.Callback):
    """Stops a sample that runs past its deadline and keeps the solver's error message."""

    def __init__(self, timeout_s: float):
        self.deadline = time.monotonic() + timeout_s
        self.timeout_s = timeout_s
        self.errors: list[str] = []

    def on_step_start(self, logs):
        if time.monotonic() > self.deadline:
            raise SampleTimeout(f"exceeded {self.timeout_s:g} s wall-clock limit")

    def on_experiment_error(self, logs):
        self.errors.append(" ".join(str(logs.get("error", "solver error")).split()))

    def on_experiment_infeasible_event(self, logs):
        self.errors.append(f"infeasible: stopped by event {logs.get('termination')}")

    def on_experiment_infeasible_time(self, logs):
        self.errors.append("infeasible: a step reached its default duration")


def build_experiment(aging: AgingConfig, protocol: Protocol) -> pybamm.Experiment:
    """[conditioning] + [RPT] + ([cycle] * rpt_every + [RPT]) * (cycles / rpt_every).

    Every step runs at the protocol temperature. The conditioning charge starts from the
    parameter set's initial state: PyBaMM's ``initial_soc`` root-finds the starting
    stoichiometry from the previous solve's guess, which would make results depend on the
    order in which a worker solves its samples.
    """
    temperature = f"{protocol.ambient_temperature_c} oC"
    values = protocol.__dict__
    cycle = tuple(
        pybamm.step.string(text.format(**values), temperature=temperature) for text in aging.cycle
    )
    rpt = tuple(
        pybamm.step.string(
            step.step,
            temperature=temperature,
            period=step.period_s,
            tags=[step.role] if step.role else None,
        )
        for step in aging.rpt
    )
    conditioning = tuple(pybamm.step.string(text, temperature=temperature) for text in aging.conditioning)
    blocks = aging.cycles // aging.rpt_every
    return pybamm.Experiment([conditioning, rpt] + ([cycle] * aging.rpt_every + [rpt]) * blocks)


def _last(solution: pybamm.Solution, name: str) -> np.ndarray:
    return np.asarray(solution[name].entries)[..., -1].ravel(order="F")


def _handoff_state(step_solution: pybamm.Solution, names: list[str]) -> dict[str, np.ndarray]:
    """The impedance model's differential states, read from aging variables of the same name."""
    return {name: _last(step_solution, name) for name in names}


class AgingSimulator:
    """One protocol's aging experiment, built once and solved for many input sets."""

    def __init__(
        self,
        model_config: ModelConfig,
        solver_config: SolverConfig,
        aging: AgingConfig,
        protocol: Protocol,
        input_names: list[str],
        handoff_names: list[str],
    ):
        model = model_building.build_model(model_config)
        self.aging = aging
        self.solver_config = solver_config
        self.handoff_names = handoff_names
        self.roles = {step.role: index for index, step in enumerate(aging.rpt) if step.role}
        self.simulation = pybamm.Simulation(
            model,
            parameter_values=model_building.parameter_values(model_config, input_names),
            experiment=build_experiment(aging, protocol),
            solver=model_building.solver(solver_config),
            var_pts=model_building.var_pts(model_config, model),
        )

    def run(self, sample_id: str, inputs: dict[str, float]) -> dict[str, pd.DataFrame]:
        watch = _Watch(self.solver_config.timeout_s)
        status, message, solution = STATUS_OK, "", None
        try:
            solution = self.simulation.solve(inputs=inputs, callbacks=[watch])
        except SampleTimeout as err:
            status, message = STATUS_TIMEOUT, str(err)
        except Exception as err:  # any solver/model failure belongs to this sample only
            status, message = STATUS_FAILED, describe(err)

        cycles = [] if solution is None else solution.cycles
        expected = 2 + self.aging.cycles // self.aging.rpt_every * (self.aging.rpt_every + 1)
        if status == STATUS_OK and (len(cycles) < expected or watch.errors):
            status = STATUS_FAILED
            message = "; ".join(watch.errors) or f"stopped after {len(cycles)} of {expected} cycles"

        snapshots, curves, states = [], [], []
        try:
            lithium_initial = float(solution.first_state[LITHIUM_IN_PARTICLES].entries[0]) if cycles else np.nan
            for snapshot, index in enumerate(range(1, len(cycles), self.aging.rpt_every + 1)):
                steps = cycles[index].steps
                if len(steps) < len(self.aging.rpt) or any(
                    isinstance(steps[i], pybamm.EmptySolution) for i in self.roles.values()
                ):
                    break
                record, curve, state = self._read_rpt(steps, lithium_initial)
                snapshots.append(
                    {"sample_id": sample_id, "snapshot": snapshot, "cycle": snapshot * self.aging.rpt_every, **record}
                )
                curves.append(pd.DataFrame({"sample_id": sample_id, "snapshot": snapshot, **curve}))
                states.extend(
                    {"sample_id": sample_id, "snapshot": snapshot, "variable": name, "values": values.tolist()}
                    for name, values in state.items()
                )
        except Exception as err:  # an RPT that cannot be read fails this sample, not the stage
            status, message = STATUS_FAILED, f"reading RPT: {describe(err)}"
            snapshots, curves, states = [], [], []
        return {
            "status": pd.DataFrame(
                [
                    {
                        "sample_id": sample_id,
                        "status": status,
                        "message": message,
                        "snapshots": len(snapshots),
                        "cycles_completed": max(0, (len(snapshots) - 1) * self.aging.rpt_every),
                    }
                ]
            ),
            "snapshots": pd.DataFrame(snapshots),
            "curves": pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(),
            "states": pd.DataFrame(states),
        }

    def _read_rpt(self, steps: list[pybamm.Solution], lithium_initial: float):
        capacity_step = steps[self.roles["capacity"]]
        discharged = np.asarray(capacity_step["Discharge capacity [A.h]"].entries)
        capacity_ah = float(discharged[-1] - discharged[0])
        curve = {
            "time_s": capacity_step["Time [s]"].entries - capacity_step["Time [s]"].entries[0],
            "current_a": capacity_step["Current [A]"].entries,
            "voltage_v": capacity_step["Voltage [V]"].entries,
            "discharged_ah": discharged - discharged[0],
        }

        eis_step = steps[self.roles["eis_state"]]
        eis_discharged = float(_last(eis_step, "Discharge capacity [A.h]")[0])
        record = {
            "rpt_capacity_ah": capacity_ah,
            # SOC by coulomb counting from the empty cell at the end of the capacity test.
            "eis_soc": (discharged[-1] - eis_discharged) / capacity_ah,
            "eis_voltage_v": float(_last(eis_step, "Voltage [V]")[0]),
            "pulse_resistance_ohm": np.nan,
            "lli_pct": 100.0 * (1.0 - float(_last(eis_step, LITHIUM_IN_PARTICLES)[0]) / lithium_initial),
            **{label: float(_last(eis_step, name)[0]) for label, name in DEGRADATION_VARIABLES.items()},
        }
        if "pulse" in self.roles:
            record["pulse_resistance_ohm"] = _pulse_resistance(steps, self.roles["pulse"])
        return record, curve, _handoff_state(eis_step, self.handoff_names)


def _pulse_resistance(steps: list[pybamm.Solution], pulse_index: int) -> float:
    """DC resistance: voltage change over the pulse divided by the pulse current."""
    pulse = steps[pulse_index]
    before = steps[pulse_index - 1] if pulse_index > 0 else pulse
    v_rest = float(_last(before, "Voltage [V]")[0])
    v_end = float(_last(pulse, "Voltage [V]")[0])
    current = float(_last(pulse, "Current [A]")[0])
    return abs((v_rest - v_end) / current) if current else np.nan


@dataclass(frozen=True)
class AgingTask:
    """Everything a worker needs to solve one sample; the configs key its model cache."""

    model: ModelConfig
    solver: SolverConfig
    aging: AgingConfig
    input_names: tuple[str, ...]
    handoff_names: tuple[str, ...]
    sample: dict

    def simulator_key(self, protocol: Protocol) -> tuple:
        configs = (self.model, self.solver, self.aging)
        return ("aging", *(c.model_dump_json() for c in configs), self.input_names, self.handoff_names, protocol)


def aging_tasks(
    model: ModelConfig, solver: SolverConfig, aging: AgingConfig, handoff_names: list[str], design: pd.DataFrame
) -> list[AgingTask]:
    """One task per design row, in design order; the sampled cell parameters are the inputs."""
    from ..design import cell_parameter_columns

    input_names = tuple(cell_parameter_columns(design))
    return [
        AgingTask(model, solver, aging, input_names, tuple(handoff_names), sample)
        for sample in design.to_dict("records")
    ]


def solve_sample(task: AgingTask) -> dict[str, pd.DataFrame]:
    from ..executor import cached

    sample = task.sample
    protocol = Protocol(
        float(sample["ambient_temperature_c"]),
        float(sample["charge_c_rate"]),
        float(sample["discharge_c_rate"]),
    )
    simulator = cached(
        task.simulator_key(protocol),
        lambda: AgingSimulator(
            task.model, task.solver, task.aging, protocol, list(task.input_names), list(task.handoff_names)
        ),
    )
    return simulator.run(sample["sample_id"], {name: float(sample[name]) for name in task.input_names})

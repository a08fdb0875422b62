"""Aging tasks: one per design row; a worker reuses its built simulator across tasks."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from ..catalog import STATUS_FAILED, STATUS_TIMEOUT
from ..params import AgingConfig, ModelConfig, SolverConfig
from ..physics import model as model_building
from ..physics.aging import (
    AgingSimulator,
    Protocol,
    aging_parameter_values,
    cell_inputs,
    no_measurements,
    recorded_values,
    sample_result,
)
from ..physics.provenance import sample_metadata


@dataclass(frozen=True)
class AgingTask:
    """Everything a worker needs to solve one sample; the configs key its model cache."""

    model: ModelConfig
    solver: SolverConfig
    aging: AgingConfig
    input_names: tuple[str, ...]
    handoff_names: tuple[str, ...]
    sample: dict

    def cache_token(self) -> str:
        configs = {name: getattr(self, name).model_dump(mode="json") for name in ("model", "solver", "aging")}
        return json.dumps(
            {**configs, "inputs": self.input_names, "handoff": self.handoff_names, "sample": self.sample},
            sort_keys=True,
            default=str,
        )

    def cacheable(self, result: dict[str, pd.DataFrame]) -> bool:
        """A wall-clock timeout depends on the machine: retry it next run rather than keep it."""
        return STATUS_TIMEOUT not in set(result["status"]["status"])

    def failure(self, status: str, message: str) -> dict[str, pd.DataFrame]:
        """The result of a sample whose worker produced nothing (killed at the hard timeout, or died)."""
        model = model_building.build_model(self.model)
        protocol = Protocol.of(self.sample)
        values, rates = aging_parameter_values(self.model, self.aging, list(self.input_names))
        sampled = {name: float(self.sample[name]) for name in self.input_names}
        metadata = sample_metadata(
            self.model,
            self.solver,
            recorded_values(values, protocol.ambient_temperature_c),
            cell_inputs(sampled, rates, self.aging, protocol.ambient_temperature_c),
            model_building.var_pts(self.model, model),
            self.aging,
            protocol.__dict__,
            {"status": status, "message": message},
        )
        return sample_result(
            self.sample["sample_id"], status, message, no_measurements(), self.aging.rpt_every, metadata
        )

    def simulator_key(self, solver: SolverConfig | None = None) -> tuple:
        """Key of a built simulator (with ``solver``, default the task's): one serves every protocol and
        temperature."""
        configs = (self.model, solver or self.solver, self.aging)
        return ("aging", *(c.model_dump_json() for c in configs), self.input_names, self.handoff_names)


def aging_tasks(
    model: ModelConfig,
    solver: SolverConfig,
    aging: AgingConfig,
    handoff_names: list[str],
    design: pd.DataFrame,
) -> list[AgingTask]:
    """One task per design row, in design order; the sampled cell parameters are the inputs."""
    from ..design import cell_parameter_columns

    input_names = tuple(cell_parameter_columns(design))
    return [
        AgingTask(model, solver, aging, input_names, tuple(handoff_names), sample)
        for sample in design.to_dict("records")
    ]


def solve_sample(task: AgingTask) -> dict[str, pd.DataFrame]:
    """One life; a failed one once more at ``solver.retry_atol`` (a second simulator per worker, built
    on the first failure; its compiled functions are the first's, loaded from disk)."""
    from ..executor import cached

    sample = task.sample
    protocol = Protocol.of(sample)
    inputs = {name: float(sample[name]) for name in task.input_names}

    def simulator(solver: SolverConfig) -> AgingSimulator:
        return cached(
            task.simulator_key(solver),
            lambda: AgingSimulator(task.model, solver, task.aging, list(task.input_names), list(task.handoff_names)),
        )

    result = simulator(task.solver).run(sample["sample_id"], protocol, inputs)
    first = result["status"].iloc[0]
    if task.solver.retry_atol is None or first["status"] != STATUS_FAILED:
        return result
    tighter = task.solver.model_copy(update={"atol": task.solver.retry_atol, "retry_atol": None, "suppress_algebraic_error": False})
    return simulator(tighter).run(sample["sample_id"], protocol, inputs, retried_after=str(first["message"]))

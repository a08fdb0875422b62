"""Frequency-domain impedance of a saved aged state with ``pybamm.EISSimulation``.

The impedance model is the aging model with the surface form the linearisation needs
(double-layer capacitance). It is built and discretised once per worker; each spectrum
only replaces the initial state (the aged, rested snapshot) and the inputs.
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

BACKEND = "pybamm.EISSimulation"
_CURRENT_STATE = "Current variable [A]"


def eis_model(model_config: ModelConfig, eis: EisConfig) -> pybamm.BaseModel:
    return model_building.build_model(model_config, **{"surface form": eis.surface_form})


class ImpedanceSimulator:
    def __init__(self, model_config: ModelConfig, eis: EisConfig, input_names: list[str]):
        model = eis_model(model_config, eis)
        self.frequencies_hz = eis.frequencies_hz
        self.simulation = pybamm.EISSimulation(
            model,
            parameter_values=model_building.parameter_values(model_config, input_names),
            var_pts=model_building.var_pts(model_config, model),
        )

    def impedance(self, state: dict[str, np.ndarray], inputs: dict[str, float]) -> np.ndarray:
        """Complex impedance [Ohm] at ``frequencies_hz``, linearised about ``state``."""
        self.simulation.build(inputs=inputs)
        built = self.simulation.built_model
        sizes = {var.name: slices[0].stop - slices[0].start for var, slices in built.y_slices.items()}
        # An x-averaged value stands for every point of a state the impedance model
        # resolves in x (single-particle models broadcast it the same way). PyBaMM reads
        # dict states as time series, hence the trailing time axis of length one.
        state = {
            name: np.broadcast_to(np.asarray(values, dtype=float), (sizes[name],))[:, None].copy()
            for name, values in {**state, _CURRENT_STATE: [0.0]}.items()
        }
        built.set_initial_conditions_from(state, inputs=inputs)
        return self.simulation.solve(self.frequencies_hz, inputs=inputs).impedance


@dataclass(frozen=True)
class SpectrumTask:
    """One sample's snapshots: their saved states and the sample's inputs."""

    model: ModelConfig
    eis: EisConfig
    input_names: tuple[str, ...]
    sample_id: str
    inputs: dict
    temperature_c: float
    snapshots: tuple  # (snapshot, soc, {state name: values})

    def cache_token(self) -> str:
        snapshots = [(snapshot, soc, {k: np.asarray(v).tolist() for k, v in state.items()})
                     for snapshot, soc, state in self.snapshots]
        return json.dumps(
            {
                "model": self.model.model_dump(mode="json"),
                "eis": self.eis.model_dump(mode="json"),
                "inputs": self.inputs,
                "sample_id": self.sample_id,
                "temperature_c": self.temperature_c,
                "snapshots": snapshots,
            },
            sort_keys=True,
        )

    def failure(self, status: str, message: str) -> pd.DataFrame:
        frequencies = self.eis.frequencies_hz
        missing = np.full(frequencies.shape, np.nan + 1j * np.nan)
        frames = [
            _spectrum_frame(self, snapshot, soc, frequencies, missing, f"{status}: {message}")
            for snapshot, soc, _ in self.snapshots
        ]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def spectrum_tasks(
    model: ModelConfig, eis: EisConfig, design: pd.DataFrame, snapshots: pd.DataFrame, states: pd.DataFrame
) -> list[SpectrumTask]:
    """One task per solved sample (sorted by sample_id), carrying its snapshot states by name."""
    from ..design import cell_parameter_columns

    input_names = tuple(cell_parameter_columns(design))
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
                float(sample["ambient_temperature_c"]),
                tuple(
                    (int(row.snapshot), float(row.eis_soc), states_by_snapshot[(sample_id, row.snapshot)])
                    for row in sample_snapshots.sort_values("snapshot").itertuples()
                ),
            )
        )
    return tasks


def solve_spectra(task: SpectrumTask) -> pd.DataFrame:
    from ..executor import cached

    key = ("eis", task.model.model_dump_json(), task.eis.model_dump_json(), task.input_names)
    simulator = cached(key, lambda: ImpedanceSimulator(task.model, task.eis, list(task.input_names)))
    frequencies = simulator.frequencies_hz
    frames = []
    for snapshot, soc, state in task.snapshots:
        status = "ok"
        try:
            impedance = simulator.impedance(state, task.inputs)
            if not np.all(np.isfinite(impedance)):
                status = "failed: non-finite impedance"
        except Exception as err:  # one failed spectrum never stops the others
            impedance = np.full(frequencies.shape, np.nan + 1j * np.nan)
            status = f"failed: {describe(err)}"
        frames.append(_spectrum_frame(task, snapshot, soc, frequencies, impedance, status))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _spectrum_frame(task: SpectrumTask, snapshot: int, soc: float, frequencies, impedance, status: str):
    return pd.DataFrame(
        {
            "sample_id": task.sample_id,
            "snapshot": snapshot,
            "soc": soc,
            "temperature_c": task.temperature_c,
            "frequency_hz": frequencies,
            "z_re_ohm": impedance.real,
            "z_im_ohm": impedance.imag,
            "z_abs_ohm": np.abs(impedance),
            "phase_deg": np.degrees(np.angle(impedance)),
            "backend": BACKEND,
            "solver_status": status,
        }
    )

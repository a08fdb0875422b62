"""Impedance tasks: one per solved sample, carrying its snapshot states; the long spectra table."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..params import EisConfig, ModelConfig
from ..physics.eis import (
    BACKENDS,
    NO_SPECTRUM,
    ImpedanceSimulator,
    Operating,
    SnapshotState,
    Spectrum,
    spectrum,
)


@dataclass(frozen=True)
class SpectrumTask:
    """One sample's snapshots: their saved states and the sample's inputs."""

    model: ModelConfig
    eis: EisConfig
    input_names: tuple[str, ...]
    sample_id: str
    inputs: dict
    snapshots: tuple[SnapshotState, ...]
    seed: int  # draws which spectra are cross-checked (:func:`cross_checked`)

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
                "seed": self.seed,
            },
            sort_keys=True,
        )

    def failure(self, status: str, message: str) -> pd.DataFrame:
        """Every spectrum of the sample as missing, with the reason (worker hung or died)."""
        nothing = np.full(self.eis.frequencies_hz.shape, np.nan + 1j * np.nan)
        result = Spectrum(nothing, BACKENDS[self.eis.backend], f"{status}: {message}", cross_check_status=NO_SPECTRUM)
        return _spectra_table(self, lambda snapshot, point: result)


def spectrum_tasks(
    model: ModelConfig,
    eis: EisConfig,
    design: pd.DataFrame,
    snapshots: pd.DataFrame,
    states: pd.DataFrame,
    seed: int,
) -> list[SpectrumTask]:
    """One task per solved sample (sorted by sample_id), carrying its snapshot states by name.

    ``seed`` (params' ``seed``) draws which spectra are cross-checked (:func:`cross_checked`).
    """
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
                int(seed),
            )
        )
    return tasks


def cross_checked(seed: int, sample_id: str, snapshot: int, temperature_c: float, soc: float, fraction: float) -> bool:
    """Whether this spectrum is cross-checked: a uniform draw in [0, 1) below ``fraction``.

    The draw is a hash of the spectrum's key, so it depends on nothing else (not the order
    or the worker a spectrum is solved on): ``fraction`` 1 checks every spectrum, 0 none,
    and growing it keeps every spectrum checked before.
    """
    key = f"cross_check|{int(seed)}|{sample_id}|{int(snapshot)}|{float(temperature_c)!r}|{float(soc)!r}"
    draw = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little") / 2.0**64
    return draw < fraction


_TEXT_COLUMNS = ("sample_id", "backend", "solver_status", "fallback_reason", "cross_check_status")
SPECTRA_COLUMNS = [
    "sample_id", "snapshot", "soc", "temperature_c", "frequency_hz", "z_re_ohm", "z_im_ohm", "z_abs_ohm",
    "phase_deg", "backend", "solver_status", "fallback_reason", "cross_check_pct", "soc_reached",
    "cross_check_status",
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
    fraction = task.eis.cross_check_fraction

    def solve(snapshot: SnapshotState, point: Operating) -> Spectrum:
        check = cross_checked(task.seed, task.sample_id, snapshot.snapshot, point.temperature_c, point.soc, fraction)
        return spectrum(simulator, snapshot, task.inputs, point, check=check)

    return _spectra_table(task, solve)


def _spectra_table(task: SpectrumTask, solve) -> pd.DataFrame:
    frequencies = task.eis.frequencies_hz
    keys, results = [], []
    for snapshot in task.snapshots:
        for temperature_c in task.eis.temperatures_c:
            for soc in task.eis.socs:
                keys.append((snapshot.snapshot, soc, temperature_c))
                results.append(solve(snapshot, Operating(soc, temperature_c)))
    if not results:
        return pd.DataFrame()
    impedance = np.concatenate([np.asarray(result.impedance, dtype=complex) for result in results])
    points = len(frequencies)

    def per_spectrum(values, dtype) -> np.ndarray:  # one value per spectrum, repeated over its frequencies
        return np.repeat(np.array(values, dtype=dtype), points)

    snapshots, socs, temperatures = zip(*keys)
    return pd.DataFrame(
        {
            "sample_id": per_spectrum([task.sample_id] * len(results), object),
            "snapshot": per_spectrum(snapshots, np.int64),
            "soc": per_spectrum(socs, float),
            "temperature_c": per_spectrum(temperatures, float),
            "frequency_hz": np.tile(frequencies, len(results)),
            "z_re_ohm": impedance.real,
            "z_im_ohm": impedance.imag,
            "z_abs_ohm": np.abs(impedance),
            "phase_deg": np.degrees(np.angle(impedance)),
            "backend": per_spectrum([result.backend for result in results], object),
            "solver_status": per_spectrum([result.solver_status for result in results], object),
            "fallback_reason": per_spectrum([result.fallback_reason for result in results], object),
            "cross_check_pct": per_spectrum([result.cross_check_pct for result in results], float),
            "soc_reached": per_spectrum([result.soc_reached for result in results], float),
            "cross_check_status": per_spectrum([result.cross_check_status for result in results], object),
        }
    )

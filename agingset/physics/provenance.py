"""m_i: the complete, hashed record of how one sample was simulated.

The record holds everything needed to rerun the sample and nothing that depends on
when or where it ran: model family and options, every parameter value used (the
sampled inputs substituted), mesh, solver and tolerances, the experiment steps as
PyBaMM strings, the protocol, package versions and the sample's final status.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json

import pybamm

from ..catalog import RECORDED_PACKAGES
from ..life_reference import protocol_range
from ..params import AgingConfig, ModelConfig, SolverConfig
from .model import serialisable_parameters

PACKAGES = RECORDED_PACKAGES
SOLVER_NAME = "IDAKLUSolver"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def canonical_json(record: dict) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=True)


def sample_metadata(
    model: ModelConfig,
    solver: SolverConfig,
    values: pybamm.ParameterValues,
    inputs: dict[str, float],
    mesh: dict,
    aging: AgingConfig,
    protocol: dict[str, float],
    outcome: dict[str, str],
) -> dict[str, str]:
    """``metadata_json`` (canonical JSON of m_i) and ``metadata_sha256`` (its hash)."""
    record = {
        "model": {
            "family": model.family,
            "options": model.options,
            "parameter_set": model.parameter_set,
            "parameter_overrides": model.parameter_overrides,
            # The calibration the base values come from: fitted values and measurement hashes.
            "calibration": model.calibration,
        },
        "parameters": serialisable_parameters(values, inputs),
        "inputs": {name: float(value) for name, value in sorted(inputs.items())},
        "mesh": {
            str(name): int(points) for name, points in sorted(mesh.items(), key=lambda item: str(item[0]))
        },
        "solver": {
            "name": SOLVER_NAME,
            "rtol": solver.rtol,
            "atol": solver.atol,
            "suppress_algebraic_error": solver.suppress_algebraic_error,
            "timeout_s": solver.timeout_s,
        },
        "experiment": {
            "protocol": protocol,
            "conditioning": aging.conditioning,
            "rpt": [step.model_dump() for step in aging.rpt],
            "cycle": [text.format(**{k: f"{v:g}" for k, v in protocol.items()}) for text in aging.cycle],
            "cycles": aging.cycles,
            "rpt_every": aging.rpt_every,
            "stop_at_soh": aging.stop_at_soh,
            "cycle_jumping": aging.cycle_jumping.model_dump(),
            "acceleration": aging.acceleration,
            "activation_energies": aging.activation_energies,
        },
        # Inside the measured LG M50 fade the rates were fitted to, or extrapolated by their physics.
        "aging_reference": protocol_range(
            protocol, (float(values["Lower voltage cut-off [V]"]), float(values["Upper voltage cut-off [V]"]))
        ),
        "versions": package_versions(),
        "outcome": outcome,
    }
    text = canonical_json(record)
    return {"metadata_json": text, "metadata_sha256": hashlib.sha256(text.encode()).hexdigest()}

"""Build PyBaMM models and parameter values from the typed model configuration.

Sampled cell parameters become ``[input]`` parameters, so a model is discretised once
and each sample only changes the inputs passed to the solver.
"""

from __future__ import annotations

from collections.abc import Iterable

import pybamm

from ..params import BPX_PREFIX, ModelConfig, SolverConfig


def build_model(config: ModelConfig, **extra_options) -> pybamm.BaseModel:
    """The configured lithium-ion model; ``extra_options`` override the configured ones."""
    family = getattr(pybamm.lithium_ion, config.family)
    return family({**config.options, **extra_options})


def base_parameter_values(parameter_set: str) -> pybamm.ParameterValues:
    """A named PyBaMM parameter set, or ``bpx:<path>``: a BPX JSON file (path relative to the project)."""
    if parameter_set.startswith(BPX_PREFIX):
        return pybamm.ParameterValues.create_from_bpx(parameter_set.removeprefix(BPX_PREFIX))
    return pybamm.ParameterValues(parameter_set)


def parameter_values(config: ModelConfig, input_names: Iterable[str]) -> pybamm.ParameterValues:
    values = base_parameter_values(config.parameter_set)
    values.update(dict(config.parameter_overrides))
    values.update({name: "[input]" for name in input_names})
    return values


def solver(config: SolverConfig) -> pybamm.IDAKLUSolver:
    return pybamm.IDAKLUSolver(rtol=config.rtol, atol=config.atol)


def var_pts(config: ModelConfig, model: pybamm.BaseModel) -> dict:
    points = dict(model.default_var_pts)
    points.update(config.var_pts)
    return points


def state_variable_names(model: pybamm.BaseModel) -> list[str]:
    """Names of the variables whose values define the model's state."""
    return [variable.name for variable in model.initial_conditions]

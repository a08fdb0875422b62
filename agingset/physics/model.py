"""Build PyBaMM models and parameter values from the typed model configuration.

Sampled cell parameters become ``[input]`` parameters, so a model is discretised once
and each sample only changes the inputs passed to the solver.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import pybamm

from ..params import BPX_PREFIX, ModelConfig, SolverConfig, pybamm_options


def build_model(config: ModelConfig, **extra_options) -> pybamm.BaseModel:
    """The configured lithium-ion model; ``extra_options`` override the configured ones."""
    family = getattr(pybamm.lithium_ion, config.family)
    return family({**pybamm_options(config.options), **extra_options})


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


def serialisable_parameters(values: pybamm.ParameterValues, inputs: dict[str, float]) -> dict[str, object]:
    """Every parameter value as JSON-ready data, with the sample's inputs substituted.

    Numbers stay numbers; functions are named by module and name; data tables by the
    name PyBaMM gives them.
    """
    record = {}
    for name, value in sorted(values.items()):
        if name in inputs:
            record[name] = float(inputs[name])
        elif isinstance(value, bool | str):
            record[name] = value
        elif isinstance(value, numbers.Number):
            record[name] = float(value)
        elif isinstance(value, pybamm.InputParameter):
            raise ValueError(f"{name!r} is an [input] without a value")
        elif callable(value):
            record[name] = f"function {value.__module__}.{value.__qualname__}"
        elif isinstance(value, tuple) and value and isinstance(value[0], str):
            record[name] = f"data {value[0]}"
        else:
            record[name] = f"{type(value).__name__} {value}"
    return record


def solver(config: SolverConfig) -> pybamm.IDAKLUSolver:
    return pybamm.IDAKLUSolver(rtol=config.rtol, atol=config.atol)


def var_pts(config: ModelConfig, model: pybamm.BaseModel) -> dict:
    points = dict(model.default_var_pts)
    points.update(config.var_pts)
    return points


def impedance_model(config: ModelConfig, surface_form: str) -> pybamm.BaseModel:
    """The aging model with the double-layer surface form impedance needs."""
    return build_model(config, **{"surface form": surface_form})


def handoff_state_names(config: ModelConfig, surface_form: str) -> list[str]:
    """The impedance model's differential states: what the aging stage saves per snapshot.

    Algebraic states (interfacial current densities, electrolyte potential, MacInnes
    function) follow from the differential ones; the impedance stage recomputes them by
    consistent initialisation before it moves the state to each SOC, so they are not
    handed over. The double-layer states are the aging model's surface potential
    differences of the same name, which hold the rested values.
    """
    model = impedance_model(config, surface_form)
    return [variable.name for variable in model.initial_conditions if variable in model.rhs]

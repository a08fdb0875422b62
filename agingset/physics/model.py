"""Build PyBaMM models and parameter values from the typed model configuration.

Sampled cell parameters become ``[input]`` parameters, so a model is discretised once
and each sample only changes the inputs passed to the solver.
"""

from __future__ import annotations

from collections.abc import Iterable

import pybamm

from ..params import ModelConfig, SolverConfig


def build_model(config: ModelConfig, **extra_options) -> pybamm.BaseModel:
    """The configured lithium-ion model; ``extra_options`` override the configured ones."""
    family = getattr(pybamm.lithium_ion, config.family)
    return family({**config.options, **extra_options})


def parameter_values(config: ModelConfig, input_names: Iterable[str]) -> pybamm.ParameterValues:
    values = pybamm.ParameterValues(config.parameter_set)
    values.update(dict(config.parameter_overrides))
    values.update({name: "[input]" for name in input_names})
    return values


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

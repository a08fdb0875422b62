"""Compiled state hand-over between simulations that continue each other's solutions.

Within one experiment PyBaMM hands the state from one step's model to the next with a
compiled mapper, built for every pair of consecutive steps. A solve that starts from another
simulation's solution (an RPT after an aging cycle, a cycle after a jump) finds no mapper for
that pair and falls back to ``BaseModel.set_initial_conditions_from``, which rebuilds and
evaluates the initial-condition expressions in Python: ~4 ms per solve, ~10 % of a jumped
life. :func:`link_start` compiles the missing mapper once per pair of models, the way
``Simulation`` compiles its own (``Simulation._build_experiment_state_mappers``).
"""

from __future__ import annotations

import pybamm
from pybamm.solvers.base_solver import process


def link_start(simulation: pybamm.Simulation, state: pybamm.Solution, inputs: dict) -> bool:
    """Make ``simulation``'s first step start from ``state`` through a compiled mapper.

    Builds ``simulation`` first if needed, so that its very first solve takes the same path as
    every later one (a result must not depend on what a worker solved before). Returns False
    when the pair is already linked or when this PyBaMM has no compiled mappers: the solve then
    takes PyBaMM's own path.
    """
    if not state.all_models:
        return False
    if not getattr(simulation, "steps_to_built_models", None):
        simulation.build_for_experiment(inputs=inputs)
    mappers = getattr(simulation, "_compiled_model_state_mappers", None)
    built = getattr(simulation, "steps_to_built_models", None)
    if mappers is None or not built:
        return False
    source = state.all_models[-1]
    target = built.get(simulation.experiment.steps[0].basic_repr())
    if target is None or target is source or (source, target) in mappers:
        return False
    try:
        mapper = target.build_initial_state_mapper(source)
        # The mapper's inputs are the source model's, ordered by name, as PyBaMM orders them.
        names = sorted(parameter.name for parameter in source.input_parameters)
        variables = pybamm.BaseSolver._get_vars_for_processing(source, {name: inputs.get(name, 0) for name in names})
        if not hasattr(source, "calculate_sensitivities"):
            source.calculate_sensitivities = []
        function, jacobian, parameter_jacobian, _ = process(mapper, "mapper", variables)
    except (AttributeError, TypeError, ValueError, pybamm.ModelError) as err:  # PyBaMM internals moved
        pybamm.logger.debug(f"no compiled state mapper ({err}): PyBaMM's own hand-over")
        return False
    mappers[(source, target)] = (function, jacobian, parameter_jacobian)
    return True

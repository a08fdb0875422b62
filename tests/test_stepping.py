"""The aging loop's direct IDAKLU stepping against PyBaMM's own experiment loop, number for number."""

import numpy as np
import pybamm
import pytest

from agingset.design import build_design, cell_parameter_columns
from agingset.physics.aging import AgingSimulator
from agingset.physics.protocol import STEP_VALUE, Protocol, cut_off_name, set_durations, step_inputs
from agingset.physics.stepping import DirectExperiment, ModelStepper, StateMappers, StepFailed, StepRun

PROTOCOL = Protocol(25.0, 1.0, 1.0, 4.2, 2.5, 0.05)


@pytest.fixture(scope="module")
def simulator_and_inputs(tiny_params):
    design = build_design(tiny_params.design, 1, tiny_params.seed)
    sampled = {name: float(design.iloc[0][name]) for name in cell_parameter_columns(design)}
    simulator = AgingSimulator(tiny_params.model, tiny_params.solver, tiny_params.aging, list(sampled), [])
    return simulator, simulator.solver_inputs(PROTOCOL, sampled)


def _steps(solution: pybamm.Solution, cycles: int) -> list:
    """The steps of the last ``cycles`` cycles (a solve from a starting solution lists it as a first cycle)."""
    return [step for cycle in solution.cycles[-cycles:] for step in cycle.steps]


def test_direct_steps_are_pybammsolve_bit_for_bit(simulator_and_inputs, monkeypatch):
    """Conditioning and the first RPT from the set's initial state (its first step, a charge to a
    cell already above 4.2 V, ends at its start in both): every step's times and states identical to
    ``Simulation.solve``'s, its loop given each step's levels as the direct loop gives them. Then an
    aging cycle from that end state, another simulation's: PyBaMM maps the state between the two
    models symbolically, the direct loop through a compiled mapper, which may differ in the last bit
    of a state (here 6e-17), so the cycle is the same within the solver's tolerance."""
    simulator, inputs = simulator_and_inputs
    step_inputs_of = pybamm.Simulation._build_experiment_step_inputs

    def with_levels(self, user_inputs, step, *args, **kwargs):
        return {**step_inputs_of(self, user_inputs, step, *args, **kwargs), **step_inputs(step, user_inputs)}

    monkeypatch.setattr(pybamm.Simulation, "_build_experiment_step_inputs", with_levels)
    for simulation in simulator.simulations.values():
        set_durations(simulation.experiment.steps, PROTOCOL)
    every_level = {name: 1.0 for name in (STEP_VALUE, cut_off_name(0))}  # names the models' build asks for
    start = simulator.simulations["start"].solve(inputs={**every_level, **inputs}, calc_esoh=False)
    cycle = simulator.simulations["cycle"].solve(starting_solution=start.last_state, inputs={**every_level, **inputs}, calc_esoh=False)

    mappers = StateMappers()
    direct_start = DirectExperiment(simulator.simulations["start"], mappers, inputs, step_inputs).run(None, inputs)
    direct_cycle = DirectExperiment(simulator.simulations["cycle"], mappers, inputs, step_inputs).run(
        direct_start[-1][-1].end(), inputs
    )

    for reference, direct, exact in ((start, direct_start, True), (cycle, direct_cycle, False)):
        runs = [run for steps in direct for run in steps]
        steps = _steps(reference, len(direct))
        assert len(runs) == len(steps)
        for run, step in zip(runs, steps):
            assert run.ended_at_start == isinstance(step, pybamm.EmptySolution)
            if run.ended_at_start:
                continue
            if exact:
                np.testing.assert_array_equal(run.t, step.t)
                np.testing.assert_array_equal(run.y, step.all_ys[-1])
            else:
                np.testing.assert_allclose(run.t, step.t, rtol=1e-7, atol=1e-2)
                np.testing.assert_allclose(run.y, step.all_ys[-1], rtol=1e-5, atol=1e-5)
    assert direct_start[0][0].ended_at_start  # the set's cell starts fully charged
    # Variables read from a direct step are PyBaMM's own.
    capacity = direct_start[-1][simulator.roles["capacity"]]
    reference = start.cycles[-1].steps[simulator.roles["capacity"]]
    np.testing.assert_array_equal(capacity.entries("Voltage [V]"), reference["Voltage [V]"].entries)
    labels = simulator._read_labels(capacity)
    assert labels["Voltage [V]"] == pytest.approx(float(reference["Voltage [V]"].entries[-1]), abs=1e-12)


def test_a_step_stopped_by_a_safety_event_fails_with_its_name():
    """A 3-hour 1C discharge meets the model's own minimum voltage: not a cut-off the experiment
    asked for, so the step fails (PyBaMM's loop calls it infeasible) and names the event."""
    simulation = pybamm.Simulation(
        pybamm.lithium_ion.SPM(),
        parameter_values=pybamm.ParameterValues("Chen2020"),
        experiment=pybamm.Experiment(["Discharge at 1C for 3 hours"]),
        solver=pybamm.IDAKLUSolver(),
    )
    direct = DirectExperiment(simulation, StateMappers(), {})
    with pytest.raises(StepFailed, match=r"infeasible, stopped by event Minimum voltage \[V\]"):
        direct.run(None, {})


def test_model_stepper_is_basesolver_step_bit_for_bit():
    """The impedance stage's moves and rests: one model stepped on from its own state (a discharge, a rest,
    and a discharge that meets the minimum voltage), as ``BaseSolver.step`` steps them."""
    values = pybamm.ParameterValues("Chen2020")
    values["Current function [A]"] = "[input]"
    simulation = pybamm.Simulation(pybamm.lithium_ion.SPM(), parameter_values=values)
    simulation.build()
    model = simulation.built_model
    reference_solver, stepper = pybamm.IDAKLUSolver(), ModelStepper(pybamm.IDAKLUSolver(), model)
    start = reference_solver.step(None, model, 60.0, inputs={"Current function [A]": 1.0})
    state = StepRun(model, {}, start.t[-1:], start.y[:, -1:])
    steps = ((600.0, 5.0, "final time"), (600.0, 0.0, "final time"), (7200.0, 10.0, "event: Minimum voltage [V]"))
    for duration, current, termination in steps:
        inputs = {"Current function [A]": current}
        reference = reference_solver.step(start, model, duration, inputs=inputs, save=False)
        run, stopped = stepper.step(state, duration, inputs)
        assert reference.termination == stopped == termination
        np.testing.assert_array_equal(run.t, reference.t)
        np.testing.assert_array_equal(run.y, reference.y)
        start, state = reference, run.end()


def test_setting_every_step_up_first_in_either_order_changes_no_number(tiny_params, simulator_and_inputs):
    """Workers set their step models up in opposite orders (each compiles what the other is not);
    a run after that is the run without it, state for state."""
    simulator, inputs = simulator_and_inputs
    reference = DirectExperiment(simulator.simulations["start"], StateMappers(), inputs, step_inputs).run(None, inputs)
    fresh = AgingSimulator(tiny_params.model, tiny_params.solver, tiny_params.aging, list(simulator.input_names), [])
    simulation = fresh.simulations["start"]
    experiment = DirectExperiment(simulation, StateMappers(), inputs, step_inputs)
    experiment.set_up(inputs, reverse=True)
    for step in simulation.experiment.steps:
        assert simulation._get_built_experiment_model(step) in simulation._get_built_experiment_solver(step)._model_set_up
    runs = [run for cycle in experiment.run(None, inputs) for run in cycle]
    expected = [run for cycle in reference for run in cycle]
    assert len(runs) == len(expected)
    for run, other in zip(runs, expected):
        np.testing.assert_array_equal(run.t, other.t)
        np.testing.assert_array_equal(run.y, other.y)

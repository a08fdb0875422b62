"""The aging loop's direct IDAKLU stepping against PyBaMM's own experiment loop, number for number."""

import numpy as np
import pybamm
import pytest

from agingset.design import build_design, cell_parameter_columns
from agingset.physics.aging import AgingSimulator
from agingset.physics.protocol import Protocol, set_durations
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


def test_direct_steps_are_pybammsolve_bit_for_bit(simulator_and_inputs):
    """Conditioning and the first RPT from the set's initial state (its first step, a charge to a
    cell already above 4.2 V, ends at its start in both), then an aging cycle from another
    simulation's end state: every step's times and states identical to ``Simulation.solve``'s."""
    simulator, inputs = simulator_and_inputs
    set_durations(simulator.simulations["cycle"].experiment.steps, simulator.aging, PROTOCOL)
    start = simulator.simulations["start"].solve(inputs=inputs, calc_esoh=False)
    cycle = simulator.simulations["cycle"].solve(starting_solution=start.last_state, inputs=inputs, calc_esoh=False)

    mappers = StateMappers()
    direct_start = DirectExperiment(simulator.simulations["start"], mappers, inputs).run(None, inputs)
    direct_cycle = DirectExperiment(simulator.simulations["cycle"], mappers, inputs).run(direct_start[-1][-1].end(), inputs)

    for reference, direct in ((start, direct_start), (cycle, direct_cycle)):
        runs = [run for steps in direct for run in steps]
        steps = _steps(reference, len(direct))
        assert len(runs) == len(steps)
        for run, step in zip(runs, steps):
            assert run.ended_at_start == isinstance(step, pybamm.EmptySolution)
            if run.ended_at_start:
                continue
            np.testing.assert_array_equal(run.t, step.t)
            np.testing.assert_array_equal(run.y, step.all_ys[-1])
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
    reference = DirectExperiment(simulator.simulations["start"], StateMappers(), inputs).run(None, inputs)
    fresh = AgingSimulator(tiny_params.model, tiny_params.solver, tiny_params.aging, list(simulator.input_names), [])
    simulation = fresh.simulations["start"]
    experiment = DirectExperiment(simulation, StateMappers(), inputs)
    experiment.set_up(inputs, reverse=True)
    for step in simulation.experiment.steps:
        assert simulation._get_built_experiment_model(step) in simulation._get_built_experiment_solver(step)._model_set_up
    runs = [run for cycle in experiment.run(None, inputs) for run in cycle]
    expected = [run for cycle in reference for run in cycle]
    assert len(runs) == len(expected)
    for run, other in zip(runs, expected):
        np.testing.assert_array_equal(run.t, other.t)
        np.testing.assert_array_equal(run.y, other.y)

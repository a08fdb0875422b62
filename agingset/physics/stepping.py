"""An experiment driven step by step through IDAKLU directly: a life's cost is its integration.

PyBaMM's ``Simulation.solve`` wraps every experiment step in machinery an aging life does not
need: a ``Solution`` per step, added into cycle and experiment solutions, input flattening and
checks, callbacks and summary variables. Profiled on the default dataset's lives that was ~62 % of
their CPU against ~38 % integrating (docs/execution.md, "Where a life's time goes").
:class:`DirectExperiment` takes the models and solvers a built ``pybamm.Simulation`` made for its
experiment (one per distinct step, the protocol levels as ``[input]`` parameters) and makes for
each step what ``BaseSolver.step`` makes for it — the same state hand-over (the simulation's
compiled state mappers), consistent initialisation, time grid and inputs — but calls the
compiled IDAKLU solver itself and keeps the states as arrays (:class:`StepRun`). Variables are
read only where a label needs them: a ``pybamm.Solution`` of one step is built on demand (an RPT's
curves), scalars at a step's end by one CasADi function per model (:class:`ScalarReader`).

Relies on ``IDAKLUSolver`` internals (``_setup["solver"]``, ``_set_consistent_initialization``,
``_set_up_model_inputs``) of the pinned PyBaMM; ``tests/test_stepping.py`` checks the result
against ``Simulation.solve`` number for number, so a PyBaMM change that breaks it fails there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import casadi
import numpy as np
import pybamm
from pybamm.solvers.base_solver import process

from .buffered import BufferedFunction

ROOT_RETURN = 2  # IDA_ROOT_RETURN: an event stopped the step
EXPERIMENT_TAG = "[experiment]"


class StepFailed(Exception):
    """A step could not be solved, or stopped where the experiment does not allow it."""


class StepTimeout(Exception):
    """A step was about to start past the run's deadline."""


@dataclass
class StepRun:
    """One experiment step as solved: its model and inputs, and the states at its output times
    (``y``: states x times). A step that ended at its start (its cut-off already met) holds the
    state it started from, with ``ended_at_start`` set."""

    model: pybamm.BaseModel
    inputs: dict
    t: np.ndarray
    y: np.ndarray
    ended_at_start: bool = False
    compiled: bool = False
    _solution: pybamm.Solution | None = field(default=None, repr=False, compare=False)

    @property
    def duration_s(self) -> float:
        return 0.0 if self.ended_at_start else float(self.t[-1] - self.t[0])

    @property
    def last_y(self) -> np.ndarray:
        return self.y[:, -1]

    def end(self) -> StepRun:
        """The state at the step's end, as a one-point run (the next part starts from it)."""
        return self.holding(self.last_y)

    def holding(self, y: np.ndarray) -> StepRun:
        """A one-point run at the step's end time holding state ``y`` (a jumped state)."""
        return replace(self, t=self.t[-1:], y=np.asarray(y, dtype=float).reshape(-1, 1), ended_at_start=False, _solution=None)

    def state_index(self, name: str) -> int:
        """Where the differential state ``name`` (a scalar) sits in ``y``."""
        return next(self.model.y_slices[state][0].start for state in self.model.rhs if state.name == name)

    def solution(self) -> pybamm.Solution:
        """The step as a ``pybamm.Solution`` (built once, on demand), to read any variable over it."""
        if self._solution is None:
            self._solution = pybamm.Solution(
                [self.t], [self.y], [self.model],
                [{name: np.atleast_1d(np.asarray(value, dtype=float)) for name, value in self.inputs.items()}],
                termination="final time",
                options={"compile": self.compiled},
            )
        return self._solution

    def entries(self, name: str) -> np.ndarray:
        """Variable ``name`` over the step (PyBaMM's processed variable)."""
        return np.asarray(self.solution()[name].entries)


class StateReader:
    """Variables of one state, evaluated by one CasADi function per model: PyBaMM's per-variable
    observation costs ~0.3 ms of set-up per variable and solution, which every aging cycle
    (monitored capacities) and RPT (about 16 labels and the impedance hand-off) would pay."""

    def __init__(self, names: list[str]):
        self.names = list(names)
        self._functions: dict[tuple, tuple[BufferedFunction, np.ndarray]] = {}

    def vectors(self, run: StepRun, y: np.ndarray | None = None, at: int = -1) -> dict[str, np.ndarray]:
        """The variables (flattened as the discretisation orders them) at time index ``at`` of
        ``run``, or at its end time with state ``y``."""
        model, inputs = run.model, run.inputs
        key = (id(model), tuple(inputs))
        if key not in self._functions:
            t = casadi.MX.sym("t")
            states = casadi.MX.sym("y", model.len_rhs_and_alg)
            parameters = {name: casadi.MX.sym(name, int(np.size(value))) for name, value in inputs.items()}
            outputs = [model.get_processed_variable(name).to_casadi(t, states, inputs=parameters) for name in self.names]
            ends = np.cumsum([output.numel() for output in outputs])[:-1]
            function = casadi.Function("read", [t, states, *parameters.values()], [casadi.vertcat(*outputs)])
            self._functions[key] = (BufferedFunction(function), ends)
        function, ends = self._functions[key]
        state = run.y[:, at] if y is None else y
        values = function(run.t[at], state, *(np.ravel(value) for value in inputs.values()))
        return dict(zip(self.names, np.split(values, ends)))

    def __call__(self, run: StepRun, y: np.ndarray | None = None, at: int = -1) -> dict[str, float]:
        """Scalar variables, as :meth:`vectors` reads them."""
        return {name: float(value[0]) for name, value in self.vectors(run, y, at).items()}


def _buffered(function):
    return BufferedFunction(function) if isinstance(function, casadi.Function) else function


class StateMappers:
    """Compiled maps of the state of one built model to the initial state of another (PyBaMM's
    ``build_initial_state_mapper``), shared by every experiment of a worker: a part starts from the
    state another simulation's model ended in, which ``BaseSolver.step`` would otherwise map by
    re-evaluating the initial conditions symbolically (~3 ms a time)."""

    def __init__(self):
        # Keyed by the models' ids; each entry keeps its models alive, so an id is never reused.
        self._mappers: dict[tuple[int, int], tuple] = {}
        self._input_names: dict[int, list[str]] = {}

    def add(self, simulation: pybamm.Simulation) -> None:
        for (previous, following), mapper in simulation._compiled_model_state_mappers.items():
            self._mappers.setdefault((id(previous), id(following)), (previous, following, _buffered(mapper[0])))

    def __call__(self, previous: StepRun, model: pybamm.BaseModel, t: float, inputs: dict):
        """The initial state of ``model`` at ``t`` from ``previous``'s end; ``inputs``: the new step's
        (the mapper takes the previous model's input parameters, valued as the new step has them)."""
        source = previous.model
        names = self._input_names.get(id(source))
        if names is None:
            names = self._input_names[id(source)] = sorted(p.name for p in source.input_parameters)
        ordered = {name: inputs.get(name, 0) for name in names}
        key = (id(source), id(model))
        if key not in self._mappers:
            symbolic = model.build_initial_state_mapper(source)
            function = process(symbolic, "mapper", pybamm.BaseSolver._get_vars_for_processing(source, ordered))[0]
            self._mappers[key] = (source, model, _buffered(function))
        stacked = np.array([float(value) for value in ordered.values()])
        return np.asarray(self._mappers[key][2](t, previous.y[:, -1:], stacked), dtype=float).reshape(-1, 1)


class _Stepping:
    """What ``BaseSolver.step`` does for one step of a built model, with its IDAKLU solver called directly.
    ``integration_s`` and ``steps_solved`` count the CPU seconds spent inside IDAKLU and the steps it
    solved (what ``benchmarks/life_profile.py`` reports a life's cost against)."""

    integration_s: float = 0.0
    steps_solved: int = 0

    def __init__(self):
        self._names: dict[int, list[str]] = {}
        self._event_names: dict[int, list[str]] = {}
        self._rhs: dict[int, BufferedFunction] = {}
        self._events: dict[int, BufferedFunction] = {}

    def _model_inputs(self, model, solver, inputs: dict) -> dict:
        """The inputs as the model takes them (sorted by name), as ``BaseSolver.step`` orders them."""
        names = self._names.get(id(model))
        if names is None:
            names = self._names[id(model)] = list(solver._set_up_model_inputs(model, inputs))
        return {name: inputs[name] for name in names}

    @staticmethod
    def _time_grid(t_start: float, t_eval: np.ndarray, t_interp: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """A step's grids (from 0) moved to its start, the first point just after the previous step's last."""
        t_eval, t_interp = t_start + t_eval, t_start + t_interp
        shifted = t_start if t_start == 0 else np.nextafter(t_start, np.inf)
        t_eval[0] = shifted
        if t_interp.size > 0 and t_interp[0] == t_start:
            t_interp[0] = shifted
        return t_eval, t_interp, shifted

    @staticmethod
    def _set_up(model, solver, model_inputs: dict) -> bool:
        """Set the solver up for ``model`` at its first step; whether this was it."""
        first_use = model not in solver._model_set_up
        if first_use:
            solver.set_up(model, model_inputs)
            solver._model_set_up.update({model: {"initial conditions": model.concatenated_initial_conditions}})
        return first_use

    def _solve(self, model, solver, t_eval, t_interp, shifted: float, model_inputs: dict):
        """IDAKLU from ``model.y0_list``: the raw solution, the states (states x times) and the flat inputs.
        Raises ``pybamm.SolverError`` as ``BaseSolver.step`` would (a failure, an event at the start)."""
        flat_inputs = np.array(list(model_inputs.values()), dtype=float)
        y0, ydot0 = self._consistent(model, solver, shifted, model_inputs, flat_inputs)
        solver._check_event_violation_on_initialisation(t_eval, model, model.y0, model_inputs)
        tick = time.process_time()
        solution = solver._setup["solver"].solve(
            t_eval, t_interp, y0, ydot0, flat_inputs[np.newaxis, :], logger=None, pbar=np.empty((0, 0))
        )[0]
        self.integration_s += time.process_time() - tick
        self.steps_solved += 1
        if solution.flag < 0:
            raise pybamm.SolverError(pybamm.solvers.idaklu_solver.idaklu.sundials_error_message(solution.flag))
        y = np.asarray(solution.y).reshape(solution.t.size, model.len_rhs_and_alg).T
        if solution.t.size == 1 and solution.flag == ROOT_RETURN:
            solver._check_event_violation_post_solve(t_eval, model, y[:, -1], model_inputs)
        return solution, y, flat_inputs

    def _consistent(self, model, solver, t: float, model_inputs: dict, flat_inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The step's initial state and its time derivative (rows), as ``IDAKLUSolver`` makes them
        (``_set_consistent_initialization``). For a model without algebraic states (every step but a
        constant-voltage hold) that is the state and the right-hand side at it, computed here with
        the inputs as one array instead of PyBaMM's per-call CasADi stacking, through the function's
        buffer (:mod:`.buffered`)."""
        if model.len_alg or not model.is_standard_form_dae or not model.uses_stacked_inputs:
            solver._set_consistent_initialization(model, t, [model_inputs])
            return np.vstack(model.y0full), np.vstack(model.ydot0full)
        y0 = model.y0_list[0]
        y0 = (y0.full() if isinstance(y0, casadi.DM) else np.asarray(y0, dtype=float)).flatten()
        ydot0 = np.zeros_like(y0)
        rhs = self._rhs.get(id(model))
        if rhs is None:
            rhs = self._rhs[id(model)] = BufferedFunction(model.rhs_eval)
        ydot0[: model.len_rhs] = rhs(t, y0, flat_inputs)
        return y0[np.newaxis, :], ydot0[np.newaxis, :]

    def _event(self, solver, model, run: StepRun, flat_inputs: np.ndarray) -> str:
        """The termination event that stopped a step (as ``IDAKLUSolver`` names it)."""
        names = self._event_names.get(id(model))
        if names is None:
            termination = pybamm.EventType.TERMINATION
            names = self._event_names[id(model)] = [event.name for event in model.events if event.event_type == termination]
        events = self._events.get(id(model))
        if events is None:
            events = self._events[id(model)] = BufferedFunction(solver._setup["rootfn_casadi"])
        values = np.abs(events(float(run.t[-1]), run.last_y, flat_inputs))
        return names[int(np.nanargmin(values) if np.isnan(values).any() else np.argmin(values))]


class DirectExperiment(_Stepping):
    """The experiment of a ``pybamm.Simulation`` (built with its first solve), solved step by step
    through each step's IDAKLU solver; :meth:`run` returns the steps as :class:`StepRun`."""

    def __init__(self, simulation: pybamm.Simulation, mappers: StateMappers, user_inputs: dict, step_inputs=None):
        """``step_inputs(step, user_inputs)``: the inputs of one step beyond the user's (its levels, when
        the experiment's steps take them as inputs: :func:`.protocol.step_inputs`); None: none."""
        super().__init__()
        self.step_inputs = step_inputs or (lambda step, user_inputs: {})
        if not simulation.steps_to_built_models:
            simulation.build_for_experiment(inputs=self._any_step_inputs(simulation, user_inputs))
        if simulation._experiment_uses_unified_model:  # one model for all steps: not what this drives
            raise ValueError("DirectExperiment needs one built model per experiment step")
        self.simulation = simulation
        self.mappers = mappers
        mappers.add(simulation)

    def set_up(self, user_inputs: dict, reverse: bool = False) -> None:
        """Set up every step's solver now (compiling its model, or loading the compiled library), in
        experiment order or, with ``reverse``, the opposite one: workers that start cold together and
        go through their steps in opposite orders each compile what the other is not compiling (a
        library under build is locked, :mod:`agingset.compiled`). No result depends on the order."""
        simulation = self.simulation
        seen, set_ups = set(), []
        for step in simulation.experiment.steps:
            model = simulation._get_built_experiment_model(step)
            if id(model) not in seen:
                seen.add(id(model))
                set_ups.append((step, model, simulation._get_built_experiment_solver(step)))
        for step, model, solver in reversed(set_ups) if reverse else set_ups:
            inputs = self._inputs(step, user_inputs, 0.0)
            self._set_up(model, solver, self._model_inputs(model, solver, inputs))

    def _any_step_inputs(self, simulation: pybamm.Simulation, user_inputs: dict) -> dict:
        """The user's inputs and every step's input names (valued as some step has them): what building
        the experiment's models and state mappers asks for."""
        inputs = dict(user_inputs)
        for step in simulation.experiment.steps:
            inputs.update(self.step_inputs(step, user_inputs))
        return inputs

    def _inputs(self, step, user_inputs: dict, t_start: float) -> dict:
        """A step's inputs, as ``BaseSolver.step`` gets them from PyBaMM's experiment loop, and its levels."""
        inputs = self.simulation._build_experiment_step_inputs(user_inputs, step, t_start, None, include_temperature=False)
        inputs.update(self.step_inputs(step, user_inputs))
        return inputs

    def run(self, start: StepRun | None, user_inputs: dict, deadline: float | None = None) -> list[list[StepRun]]:
        """The experiment's cycles, each the list of its steps, from state ``start`` (None: the
        model's initial conditions); ``deadline`` (``time.monotonic``) is checked before each step."""
        experiment = self.simulation.experiment
        steps = iter(experiment.steps)
        cycles: list[list[StepRun]] = []
        current = start
        for length in experiment.cycle_lengths:
            cycle = []
            for step in (next(steps) for _ in range(length)):
                if deadline is not None and time.monotonic() > deadline:
                    raise StepTimeout
                run = self._step(step, current, user_inputs)
                cycle.append(run)
                # As PyBaMM's experiments: a first step that ends at its start leaves no state, and
                # the next step starts from its own model's initial conditions too.
                current = None if current is None and run.ended_at_start else run
            cycles.append(cycle)
        return cycles

    def _step(self, step, previous: StepRun | None, user_inputs: dict) -> StepRun:
        simulation = self.simulation
        model = simulation._get_built_experiment_model(step)
        solver = simulation._get_built_experiment_solver(step)
        t_start = 0.0 if previous is None else float(previous.t[-1])
        inputs = self._inputs(step, user_inputs, t_start)
        model_inputs = self._model_inputs(model, solver, inputs)
        t_eval, t_interp = step.setup_timestepping(solver, step.duration, None)
        t_eval, t_interp, shifted = self._time_grid(t_start, t_eval, solver.process_t_interp(t_interp, t_eval=t_eval))

        first_use = self._set_up(model, solver, model_inputs)
        if previous is None:
            if not first_use:
                solver.set_up(model, model_inputs, ics_only=True)
        elif previous.model is model:
            model.y0_list = [previous.y[:, -1:]]
        else:
            model.y0_list = [self.mappers(previous, model, shifted, inputs)]
        try:
            solution, y, flat_inputs = self._solve(model, solver, t_eval, t_interp, shifted, model_inputs)
        except pybamm.SolverError as error:
            if "non-positive at initial conditions" in error.message and EXPERIMENT_TAG in error.message:
                if previous is None:
                    y0 = np.asarray(model.y0_list[0], dtype=float).reshape(-1, 1)
                    return StepRun(model, model_inputs, np.array([t_start]), y0, ended_at_start=True)
                return replace(previous.end(), ended_at_start=True)
            raise StepFailed(f"{step}: {' '.join(error.message.split())}") from None

        run = StepRun(model, model_inputs, np.asarray(solution.t), y, compiled=bool(solver._options["compile"]))
        if solution.flag == ROOT_RETURN:
            event = self._event(solver, model, run, flat_inputs)
            if EXPERIMENT_TAG not in event:
                raise StepFailed(f"{step}: infeasible, stopped by event {event}")
        elif step.uses_default_duration:
            raise StepFailed(f"{step}: infeasible, reached its default duration")
        return run


class ModelStepper(_Stepping):
    """Steps of one built model, each continued from the state the last one ended in (no experiment:
    the impedance stage's SOC moves and rests), solved as ``BaseSolver.step`` solves them."""

    def __init__(self, solver: pybamm.IDAKLUSolver, model: pybamm.BaseModel):
        super().__init__()
        self.solver, self.model = solver, model

    def step(self, start: StepRun, duration: float, inputs: dict, t_interp: np.ndarray | None = None) -> tuple[StepRun, str]:
        """``duration`` seconds from the end of ``start`` (a state of this model): the step and its
        termination, "final time" or "event: NAME"; a solver failure raises ``pybamm.SolverError``."""
        model, solver = self.model, self.solver
        model_inputs = self._model_inputs(model, solver, inputs)
        t_eval = np.array([0.0, duration])
        t_eval, t_interp, shifted = self._time_grid(float(start.t[-1]), t_eval, solver.process_t_interp(t_interp, t_eval=t_eval))
        self._set_up(model, solver, model_inputs)
        model.y0_list = [start.y[:, -1:]]
        solution, y, flat_inputs = self._solve(model, solver, t_eval, t_interp, shifted, model_inputs)
        run = StepRun(model, model_inputs, np.asarray(solution.t), y, compiled=bool(solver._options["compile"]))
        termination = f"event: {self._event(solver, model, run, flat_inputs)}" if solution.flag == ROOT_RETURN else "final time"
        return run, termination

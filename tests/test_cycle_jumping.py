"""Cycle jumping: extrapolation limits, step control, and jumped against full simulation."""

import json
import time
from types import SimpleNamespace

import numpy as np
import pybamm
import pytest

from agingset.config import parse_params
from agingset.design import build_design, cell_parameter_columns
from agingset.params import CycleJumping, ParamsError
from agingset.physics import cycle_jumping
from agingset.physics import model as model_building
from agingset.physics.aging import AgingSimulator, _discharged_ah, accelerated, rate_factor, state_bounds
from agingset.physics.protocol import Protocol, build_experiment
from agingset.physics.stepping import StepRun
from agingset.tasks.aging import aging_tasks

PROTOCOL = Protocol(25.0, 1.0, 1.0, 4.2, 2.5, 0.05)


def test_extrapolation_never_crosses_a_limit():
    lower, upper = np.array([0.0, 0.0, -np.inf]), np.array([1.0, np.inf, np.inf])
    before, last = np.array([0.50, 0.10, -1.0]), np.array([0.45, 0.09, -2.0])
    slope = last - before

    def moved(cycles):
        return cycle_jumping.extrapolate(last, cycle_jumping.displacement(slope, None, cycles), lower, upper)

    np.testing.assert_allclose(moved(5), [0.20, 0.04, -7.0])
    assert moved(9) is None  # 0.09 - 9 * 0.01 = 0: a fraction gone
    assert moved(10) is None  # concentration below zero


def test_lithium_is_taken_back_from_the_negative_particles_or_the_jump_halved():
    lower, upper = np.zeros(4), np.array([1.0, 1.0, 1.0, np.inf])
    moved, negative = np.array([0.50, 0.52, 0.30, 7.0]), np.array([0, 1])
    # 0.02 mol created, 2 mol per unit shift of both negative concentrations: shifted by -0.01.
    conserved = cycle_jumping.conserve_lithium(moved, negative, 0.02, 2.0, 10.0, 5e-3, lower, upper)
    np.testing.assert_allclose(conserved, [0.49, 0.51, 0.30, 7.0])
    assert cycle_jumping.conserve_lithium(moved, negative, -0.02, 2.0, 10.0, 5e-3, lower, upper)[0] == 0.51
    assert cycle_jumping.conserve_lithium(moved, negative, 0.06, 2.0, 10.0, 5e-3, lower, upper) is None
    assert cycle_jumping.conserve_lithium(moved, negative, float("nan"), 2.0, 10.0, 5e-3, lower, upper) is None
    full = np.array([0.999, 0.5, 0.3, 7.0])  # the shift would fill a concentration to its limit
    assert cycle_jumping.conserve_lithium(full, negative, -0.04, 2.0, 10.0, 5e-3, lower, upper) is None


def test_second_order_envelope_is_exact_on_a_quadratic_and_its_check_sees_a_cubic():
    """Along y(k) = a k^2 + b k the quadratic envelope lands exactly, from the slopes before
    a jump and after its checking cycles; on a cubic the first-order error estimate is far
    above the second-order one, which is what lets jumps grow."""
    for y, exact in ((lambda k: 0.3 * k**2 - 2.0 * k, True), (lambda k: 0.002 * k**3 + 0.3 * k**2, False)):
        n0, jumped, later = 10, 6, 9
        slope_before = np.array([y(n0) - y(n0 - 1)])
        after_check = n0 + jumped + cycle_jumping.CHECK_CYCLES
        slope_after = np.array([y(after_check) - y(after_check - 1)])
        bend = cycle_jumping.curvature(slope_before, slope_after, jumped)
        landed = y(after_check) + cycle_jumping.displacement(slope_after, bend, later)
        first_order = y(after_check) + cycle_jumping.displacement(slope_after, None, later)
        error = abs(landed[0] - y(after_check + later))
        if exact:
            assert error < 1e-9 < abs(first_order[0] - y(after_check + later))
        else:
            assert 0 < error < 0.2 * abs(first_order[0] - y(after_check + later))
        # The jump's own check: the first-order envelope predicted the old slope.
        assert cycle_jumping.predicted_slope(slope_before, None, jumped) is slope_before
        np.testing.assert_allclose(cycle_jumping.predicted_slope(slope_before, bend, jumped), slope_after)


def test_degradation_states_are_bounded_below_by_zero_counters_are_not():
    names = ["Discharge capacity [A.h]", "X-averaged negative electrode active material volume fraction"]
    lower, _upper = cycle_jumping.limits(
        names, [slice(0, 1), slice(1, 2)], np.full(2, -np.inf), np.full(2, np.inf)
    )
    assert lower[0] == -np.inf and lower[1] == 0.0


def test_step_control_grows_shrinks_and_caps():
    assert cycle_jumping.next_jump(10, 0.0, 1e-4, 50) == 20
    assert cycle_jumping.next_jump(40, 0.0, 1e-4, 50) == 50
    assert cycle_jumping.next_jump(40, 1e-2, 1e-4, 50) == 10
    assert cycle_jumping.next_jump(2, 1.0, 1e-4, 50) == cycle_jumping.MIN_JUMP
    assert cycle_jumping.next_jump(40, 1e-3, 1e-4, 50, order=2) == 16  # 40 * 0.9 * (1/10)^(1/3)
    assert cycle_jumping.ranges([1, 2, 3, 7, 9, 10]) == [[1, 3], [7, 7], [9, 10]]


def test_a_jump_cut_short_by_an_rpt_keeps_its_size_and_a_rejection_at_least_halves():
    # 12 cycles left before the RPT's checking cycles, the envelope had reached 80: the short jump's
    # tiny error is no reason to shrink (nor its size to cap the growth at 2 x 12), nor to grow past
    # what the error allows.
    assert cycle_jumping.size_after_check(12, 80, 1e-6, 2e-3, 100, 2) == 80
    assert cycle_jumping.size_after_check(12, 0, 1e-6, 2e-3, 100, 2) == 24
    assert cycle_jumping.size_after_check(40, 0, 1e-3, 1e-4, 100, 2) == 16  # not cut short: it may shrink
    # Rejected at 25 with 5x the tolerance (first order): the error asks for 25 * 0.9 / sqrt(5) = 10.
    assert cycle_jumping.size_after_rejection(25, 1e-2, 2e-3, 100, 1) == 10
    assert cycle_jumping.size_after_rejection(25, 2.1e-3, 2e-3, 100, 1) == 12  # never more than half
    assert cycle_jumping.size_after_rejection(25, float("inf"), 2e-3, 100, 2) == 12  # a cycle failed: half


def test_the_room_before_an_rpt_is_shared_by_equal_jumps():
    assert cycle_jumping.share_of_room(100, 97) == 97  # one jump fills it
    assert cycle_jumping.share_of_room(85, 97) == 49  # two equal ones, not 85 and a 10-cycle rest
    assert cycle_jumping.share_of_room(30, 97) == 25  # four
    assert cycle_jumping.share_of_room(30, 1) == 1 and cycle_jumping.share_of_room(30, 0) == 0
    for size in range(2, 120):
        for room in range(1, 98):
            cycles = cycle_jumping.share_of_room(size, room)
            jumps = -(-room // size)
            assert cycles <= size and jumps * cycles >= room > (jumps - 1) * cycles


def test_bad_jumping_settings_name_the_key(tiny_params_raw):
    tiny_params_raw["aging"]["cycle_jumping"] = {"enabled": True, "tolerance": 0.5, "max_jump": 20}
    with pytest.raises(ParamsError, match=r"aging\.cycle_jumping\.tolerance"):
        parse_params(tiny_params_raw)
    tiny_params_raw["aging"]["cycle_jumping"] = {"enabled": True, "max_jump": 1}
    with pytest.raises(ParamsError, match=r"aging\.cycle_jumping\.max_jump"):
        parse_params(tiny_params_raw)


def _aging(tiny_params, enabled: bool, cycles: int = 40, rpt_every: int = 20, max_jump: int = 16):
    jumping = {"enabled": enabled, "tolerance": 2e-4, "max_jump": max_jump}
    return tiny_params.aging.model_copy(
        update={
            "cycles": cycles,
            "rpt_every": rpt_every,
            "acceleration": 30.0,
            "stop_at_soh": None,
            "cycle_jumping": CycleJumping.model_validate(jumping),
        }
    )


def _inputs(tiny_params):
    design = build_design(tiny_params.design, 1, tiny_params.seed)
    return {name: float(design.iloc[0][name]) for name in cell_parameter_columns(design)}


@pytest.fixture(scope="module")
def jumped_and_full(tiny_params):
    """One simulator, solved with jumping on and off (the setting is read at run time)."""
    inputs = _inputs(tiny_params)
    simulator = AgingSimulator(
        tiny_params.model, tiny_params.solver, _aging(tiny_params, True), list(inputs), []
    )
    jumped = simulator.run("s", PROTOCOL, inputs)
    simulator.aging = _aging(tiny_params, False)
    full = simulator.run("s", PROTOCOL, inputs)
    return jumped, full, simulator, inputs


def test_jumped_agrees_with_full_simulation(jumped_and_full):
    jumped, full, _, _ = jumped_and_full
    assert set(jumped["status"]["status"]) == set(full["status"]["status"]) == {"ok"}
    a, b = jumped["snapshots"], full["snapshots"]
    soh_a = a["rpt_capacity_ah"] / a["rpt_capacity_ah"].iloc[0]
    soh_b = b["rpt_capacity_ah"] / b["rpt_capacity_ah"].iloc[0]
    assert soh_b.iloc[-1] < 0.995  # the accelerated cell does age
    assert np.abs(soh_a - soh_b).max() <= 0.005
    for column in ("lli_pct", "lam_ne_pct", "lam_pe_pct"):
        np.testing.assert_allclose(a[column].iloc[1:], b[column].iloc[1:], rtol=0.05, atol=1e-3)
    cycles = json.loads(jumped["metadata"]["metadata_json"][0])["outcome"]["cycles"]
    assert cycles["cycles_jumped"] > 0 and cycles["cycles_simulated"] + cycles["cycles_jumped"] == 40
    # Simulated cycles are the rows of the per-cycle table; jumped ones have none.
    assert len(jumped["cycles"]) == cycles["cycles_simulated"]
    # The first cycle after each kept jump (and only it) is flagged: it follows a jumped range.
    after_jumped_range = {last + 1 for _, last in cycles["jumped_cycles"]}
    flagged = set(jumped["cycles"].loc[jumped["cycles"]["after_jump"], "cycle"])
    assert flagged and flagged == after_jumped_range
    assert not full["cycles"]["after_jump"].any()


def test_extrapolated_states_stay_physical(jumped_and_full):
    jumped, _, _, _ = jumped_and_full
    snapshots = jumped["snapshots"]
    assert (snapshots[["lli_pct", "lam_ne_pct", "lam_pe_pct"]] >= -1e-3).all().all()
    assert (snapshots[["lam_ne_pct", "lam_pe_pct"]] < 100).all().all()
    assert snapshots["lithium_balance_error"].abs().max() < 1e-3


def test_an_extrapolated_state_keeps_the_cells_lithium(jumped_and_full):
    """On a real state of the model: lithium created in the particles (as an extrapolation of noisy
    boundary concentrations does) is taken back from the negative particles; more than the
    tolerance halves the jump instead."""
    _, _, simulator, inputs = jumped_and_full
    state = simulator._run("start", None, simulator.solver_inputs(PROTOCOL, inputs), None)[-1][-1].end()
    lower, upper, differential, negative = simulator._state_limits(state)
    last = state.last_y
    tolerance = simulator.aging.cycle_jumping.tolerance
    before = simulator._lithium(state, last)
    for factor, kept in ((1 + 0.5 * tolerance, True), (1 + 20 * tolerance, False)):
        moved = last[:differential].copy()
        moved[negative] *= factor
        conserved = simulator._lithium_conserving(state, last, before, moved, negative, lower, upper)
        if not kept:
            assert conserved is None
            continue
        assert simulator._lithium(state, np.concatenate([moved, last[differential:]])) > before * (1 + 1e-5)
        after = simulator._lithium(state, np.concatenate([conserved, last[differential:]]))
        assert after == pytest.approx(before, rel=1e-12)
        outside = np.setdiff1d(np.arange(differential), negative)
        np.testing.assert_array_equal(conserved[outside], moved[outside])


def test_jumping_disabled_is_the_full_simulation(jumped_and_full, tiny_params):
    """Every cycle simulated, and the RPTs of the chained solve are those of the whole
    trajectory solved as one PyBaMM experiment (the hand-over between the three simulations
    re-initialises the state by name: 1.1e-4 relative at the default atol 1e-5, 3e-5 at 1e-6, after
    40 cycles that cost 26 % of the capacity)."""
    _, full, simulator, inputs = jumped_and_full
    cycles = json.loads(full["metadata"]["metadata_json"][0])["outcome"]["cycles"]
    assert cycles["cycles_jumped"] == 0 and cycles["simulated_cycles"] == [[1, 40]]
    aging = _aging(tiny_params, False)
    whole = pybamm.Simulation(
        model_building.build_model(tiny_params.model),
        parameter_values=simulator.parameter_values.copy(),
        experiment=build_experiment(aging, PROTOCOL),
        solver=model_building.solver(tiny_params.solver),
        var_pts=simulator.mesh,
    ).solve(inputs=simulator.solver_inputs(PROTOCOL, inputs), calc_esoh=False)
    capacity_step = simulator.roles["capacity"]
    capacities = [
        float(np.ptp(cycle.steps[capacity_step]["Discharge capacity [A.h]"].entries))
        for cycle in whole.cycles[1 :: aging.rpt_every + 1]
    ]
    np.testing.assert_allclose(full["snapshots"]["rpt_capacity_ah"], capacities, rtol=3e-4)


def test_cache_key_and_metadata_cover_the_jumping_settings(tiny_params):
    design = build_design(tiny_params.design, 1, tiny_params.seed)
    tokens, keys = set(), set()
    for enabled, tolerance, max_jump, order in (
        (False, 2e-4, 16, 1),
        (True, 2e-4, 16, 1),
        (True, 1e-4, 16, 1),
        (True, 2e-4, 8, 1),
        (True, 2e-4, 8, 2),
    ):
        jumping = {"enabled": enabled, "tolerance": tolerance, "max_jump": max_jump, "order": order}
        aging = tiny_params.aging.model_copy(update={"cycle_jumping": CycleJumping.model_validate(jumping)})
        (task,) = aging_tasks(tiny_params.model, tiny_params.solver, aging, [], design)
        tokens.add(task.cache_token())
        keys.add(task.simulator_key())
        record = json.loads(task.failure("failed", "x")["metadata"]["metadata_json"][0])
        assert record["experiment"]["cycle_jumping"] == jumping
        assert record["experiment"]["acceleration"] == aging.acceleration
    assert len(tokens) == 5 and len(keys) == 5


def test_rates_scale_with_acceleration_and_activation_energy(tiny_params):
    name = "Negative electrode LAM constant proportional term [s-1]"
    aging = tiny_params.aging.model_copy(
        update={"acceleration": 10.0, "activation_energies": {name: 40_000.0}}
    )
    assert rate_factor(name, aging, 25.0) == pytest.approx(10.0)
    assert rate_factor(name, aging, 45.0) == pytest.approx(
        10.0 * np.exp(40_000 / 8.314462618 * (1 / 298.15 - 1 / 318.15))
    )
    assert rate_factor("Contact resistance [Ohm]", aging, 45.0) == 1.0
    scaled = accelerated({name: 1e-7, "Contact resistance [Ohm]": 0.01}, aging, 0.0)
    assert scaled["Contact resistance [Ohm]"] == 0.01 and scaled[name] < 1e-6


def test_activation_energies_must_name_parameters(tiny_params_raw):
    tiny_params_raw["aging"]["activation_energies"] = {"Not a parameter [s-1]": 1000.0}
    with pytest.raises(ParamsError, match=r"aging\.activation_energies: 'Not a parameter \[s-1\]'"):
        parse_params(tiny_params_raw)


def test_per_cycle_capacity_counts_discharging_steps_and_skips_empty_ones():
    """The discharge-capacity state rises over a discharge and falls over a charge; a step that
    ended at its start delivers nothing."""
    counter = pybamm.Variable("Discharge capacity [A.h]")
    model = SimpleNamespace(rhs={counter: None}, y_slices={counter: [slice(1, 2)]})

    def step(start, end, ended_at_start=False):
        return StepRun(model, {}, np.array([0.0, 1.0]), np.array([[9.0, 9.0], [start, end]]), ended_at_start)

    cycle = [step(0.0, 4.8), step(4.8, 4.8), step(0.0, 3.0, ended_at_start=True), step(4.8, 0.1)]
    assert _discharged_ah(cycle) == pytest.approx(4.8)


def test_the_first_samples_clock_starts_after_the_models_are_built(tiny_params, monkeypatch):
    """Building and compiling the models at a worker's first solve (a quarter of an hour for the
    DFN) is not the sample's time: a warm-up that takes longer than ``solver.timeout_s`` leaves
    the first sample ok, and runs once per simulator."""
    inputs = _inputs(tiny_params)
    solver = tiny_params.solver.model_copy(update={"timeout_s": 5.0})
    simulator = AgingSimulator(tiny_params.model, solver, _aging(tiny_params, False, cycles=2, rpt_every=2), list(inputs), [])
    warm_up, calls = simulator._warm_up, []

    def slow_warm_up(solver_inputs):
        calls.append(1)
        warm_up(solver_inputs)
        time.sleep(5.5)  # as long as a slow compile

    monkeypatch.setattr(simulator, "_warm_up", slow_warm_up)
    for _ in range(2):
        result = simulator.run("s", PROTOCOL, inputs)
        assert list(result["status"]["status"]) == ["ok"]
    assert calls == [1]


def test_state_limits_are_in_the_state_vectors_units():
    """PyBaMM's bounds are physical (0 <= c <= c_max) and its states scaled (c / c_max): the jump
    limits must compare like with like, or a jump can put a particle above its maximum
    concentration (on the DFN at 0 oC that state failed IDA's initialisation, IDA_BAD_K)."""
    simulation = pybamm.Simulation(pybamm.lithium_ion.SPM(), parameter_values=pybamm.ParameterValues("OKane2022"))
    simulation.build()
    model = simulation.built_model
    lower, upper = state_bounds(model)
    y0 = model.concatenated_initial_conditions.evaluate().ravel()[: model.len_rhs]
    for variable in model.rhs:
        where = model.y_slices[variable][0]
        if variable.name.endswith("particle concentration [mol.m-3]"):
            assert np.all(lower[where] == 0.0) and np.allclose(upper[where], 1.0)
            assert np.all((y0[where] > lower[where]) & (y0[where] < upper[where]))
            assert model.bounds[1][where].max() > 1e4  # physical c_max, what the limits compared with before
        else:
            assert np.all(np.isinf(upper[where]))


def test_a_checking_cycle_may_lose_a_vanishing_step_but_not_a_real_one():
    """After a jump, a CC charge that had shrunk to 1 % of the cycle may end at its start (the
    cold cell meets the upper voltage at once); a discharge that took a fifth of it may not."""
    before = (900.0, 300.0, 45.0, 3150.0, 300.0)
    assert cycle_jumping.lost_steps(before, (880.0, 300.0, 0.0, 3160.0, 300.0)) == []
    assert cycle_jumping.lost_steps(before, (0.0, 300.0, 40.0, 3160.0, 300.0)) == [0]
    assert cycle_jumping.lost_steps((900.0, 300.0, 200.0, 3000.0, 300.0), (880.0, 300.0, 0.0, 3160.0, 300.0)) == [2]
    # A step already empty before the jump is not lost by being empty after it.
    assert cycle_jumping.lost_steps((900.0, 300.0, 0.0, 3150.0, 300.0), (880.0, 300.0, 0.0, 3160.0, 300.0)) == []



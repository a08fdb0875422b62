"""Physics sanity on a tiny design, solved in-process with the real PyBaMM models."""

import numpy as np
import pandas as pd
import pytest

from agingset.design import build_design, cell_parameter_columns
from agingset.features import build_features
from agingset.impedance_features import spectrum_feature_table
from agingset.labels import build_labels
from agingset.physics.model import handoff_state_names
from agingset.tasks.aging import aging_tasks, solve_sample
from agingset.tasks.eis import solve_spectra, spectrum_tasks


def _handoff(params):
    return handoff_state_names(params.model, params.eis.surface_form)


@pytest.fixture(scope="module")
def tiny_solved(tiny_params):
    """The tiny design solved in-process (aging, spectra, labels); not the `agingset run` tiny_solved."""
    p = tiny_params
    design = build_design(p.design, p.samples, p.seed)
    results = [solve_sample(task) for task in aging_tasks(p.model, p.solver, p.aging, _handoff(p), design)]
    tables = {key: pd.concat([r[key] for r in results], ignore_index=True) for key in results[0]}
    tasks = spectrum_tasks(p.model, p.eis, design, tables["snapshots"], tables["states"], p.seed)
    tables["spectra"] = pd.concat([solve_spectra(task) for task in tasks], ignore_index=True)
    tables["per_spectrum"] = spectrum_feature_table(tables["spectra"])
    tables["design"] = design
    tables["labels"] = build_labels(tables["snapshots"], tables["cycles"], p.labels)
    return tables


def test_every_sample_solves_with_all_snapshots(tiny_solved, tiny_params):
    status = tiny_solved["status"]
    assert (status["status"] == "ok").all(), status.to_dict("records")
    expected = tiny_params.aging.cycles // tiny_params.aging.rpt_every + 1
    assert (status["snapshots"] == expected).all()


def test_soh_starts_at_one_and_falls(tiny_solved):
    for _, trajectory in tiny_solved["labels"].groupby("sample_id"):
        soh = trajectory.sort_values("snapshot")["soh"].to_numpy()
        assert soh[0] == pytest.approx(1.0)
        assert np.all(soh <= 1.0 + 1e-9)
        assert np.all(np.diff(soh) < 0), soh
        assert soh[-1] < 0.995  # the sampled SEI range ages the cell visibly in 10 cycles


def test_measured_capacity_is_coulomb_counted_not_theoretical(tiny_solved):
    curves = tiny_solved["curves"]
    for (sid, snap), curve in curves.groupby(["sample_id", "snapshot"]):
        integral = np.trapezoid(curve["current_a"], curve["time_s"]) / 3600
        row = tiny_solved["snapshots"].query("sample_id == @sid and snapshot == @snap").iloc[0]
        assert integral == pytest.approx(row["rpt_capacity_ah"], rel=2e-3)


def test_degradation_modes_are_physical(tiny_solved):
    labels = tiny_solved["labels"]
    assert (labels[["lli_pct", "lam_ne_pct", "lam_pe_pct"]] >= -1e-6).all().all()
    last = labels.sort_values("snapshot").groupby("sample_id").tail(1)
    assert (last["lli_pct"] > 0).all()
    assert (labels["resistance_ohm"] > 0).all()
    # More lithium lost, less capacity: SOH and LLI move in opposite directions.
    assert np.corrcoef(labels["soh"], labels["lli_pct"])[0, 1] < 0


def test_spectra_have_positive_real_part_and_capacitive_arc(tiny_solved):
    spectra = tiny_solved["spectra"]
    assert (spectra["solver_status"] == "ok").all()
    assert (spectra["z_re_ohm"] > 0).all()
    for _, spectrum in spectra.groupby(["sample_id", "snapshot"]):
        assert spectrum["z_abs_ohm"].std() > 1e-4  # not a constant
        assert (spectrum["z_im_ohm"] < 0).any()  # capacitive behaviour somewhere


def test_impedance_grows_with_sei(tiny_solved):
    """R_ct grows with SEI (the film resistance sits in the Faradaic branch) at every SOC;
    SPM has no electrolyte, so its R0 (contact + electrode) does not fall but need not grow
    (tests/test_impedance.py checks R0 growth with SPMe/DFN)."""
    per_spectrum = tiny_solved["per_spectrum"].merge(tiny_solved["snapshots"], on=["sample_id", "snapshot"])
    for _, trajectory in per_spectrum.groupby(["sample_id", "temperature_c", "soc"]):
        trajectory = trajectory.sort_values("snapshot")
        assert np.all(np.diff(trajectory["capacity_lost_sei_ah"]) > 0)
        assert np.all(np.diff(trajectory["eis_rct_ohm"]) > 0), trajectory["eis_rct_ohm"].tolist()
        fitted = trajectory["eis_ecm_rct_ohm"].dropna()  # a fit that did not converge is NaN
        assert np.all(np.diff(fitted) > 0), trajectory["eis_ecm_rct_ohm"].tolist()
        r0 = trajectory["eis_r0_ohm"].to_numpy()
        # LAM shrinks the double-layer capacitance, which moves the capacitive tail at f_max: up to 3e-5
        # relative with the tiny config's LAM (rates x 10).
        assert np.all(np.diff(r0) > -1e-4 * r0[0]), r0


def test_every_clean_spectrum_passes_lin_kk_and_the_backend_cross_check(tiny_solved):
    spectra = tiny_solved["spectra"]
    assert (tiny_solved["per_spectrum"]["kk_residual_pct"] < 0.1).all()
    assert (spectra["cross_check_pct"] < 2.0).all(), spectra["cross_check_pct"].max()
    assert (spectra["cross_check_status"] == "checked").all()  # tests check every spectrum (fraction 1)


def test_circuit_fit_describes_every_spectrum(tiny_solved):
    features = tiny_solved["per_spectrum"]
    # A fit whose faster arc drifts outside the measured time constants (a redundant arc, ~2 %
    # of the default dataset's spectra) is reported as not converged rather than as numbers.
    assert features["eis_ecm_converged"].mean() >= 0.8, features["eis_ecm_converged"].tolist()
    fit = features[features["eis_ecm_converged"] == 1.0]
    assert (fit["eis_ecm_fit_error_pct"] < 3.0).all(), fit["eis_ecm_fit_error_pct"].describe()
    assert np.allclose(fit["eis_ecm_r0_ohm"], fit["eis_r0_ohm"], rtol=0.1)


def test_features_cover_every_snapshot(tiny_solved, tiny_params):
    features = build_features(
        tiny_solved["design"],
        tiny_solved["curves"],
        tiny_solved["spectra"],
        tiny_solved["per_spectrum"],
        tiny_params.labels.voltage_grid,
    )
    assert len(features) == len(tiny_solved["labels"])
    curve_columns = [c for c in features.columns if c.startswith("rpt_q_ah_at_")]
    assert len(curve_columns) == tiny_params.labels.voltage_grid.points
    for soc in tiny_params.eis.socs:
        for temperature in tiny_params.eis.temperatures_c:
            suffix = f"soc{round(100 * soc)}_t{temperature:g}c"
            columns = [f"eis_r0_ohm_{suffix}", f"eis_rct_ohm_{suffix}", f"eis_kk_residual_pct_{suffix}"]
            assert features[columns].notna().all().all()
            assert (features[f"eis_soc_reached_{suffix}"] == soc).all()  # tiny fresh cells reach every SOC


def _one_sample_task(params, **changes):
    design = build_design(params.design, 1, params.seed).assign(**changes)
    return aging_tasks(params.model, params.solver, params.aging, _handoff(params), design)[0]


def test_solver_failure_is_recorded_not_raised(tiny_params):
    # An electrode with almost no active material cannot carry the cycling current.
    task = _one_sample_task(tiny_params, **{"Negative electrode active material volume fraction": 0.02})
    status = solve_sample(task)["status"].iloc[0]
    assert status["status"] == "failed"
    assert status["message"]


def test_sample_timeout_is_recorded(tiny_params):
    slow = tiny_params.model_copy(update={"solver": tiny_params.solver.model_copy(update={"timeout_s": 1e-3})})
    status = solve_sample(_one_sample_task(slow))["status"].iloc[0]
    assert status["status"] == "timeout"
    assert "wall-clock" in status["message"]


def test_a_solve_that_stops_progressing_fails_its_sample_instead_of_hanging(tiny_params):
    # Every solve covers less than a day in its first step: with the check at one step, each "stalls".
    stalled = tiny_params.solver.model_copy(update={"no_progress_steps": 1, "no_progress_s": 86400.0})
    result = solve_sample(_one_sample_task(tiny_params.model_copy(update={"solver": stalled})))
    status = result["status"].iloc[0]
    assert status["status"] == "failed"
    assert status["message"]
    assert result["snapshots"].empty
    # The default check never fires on a healthy trajectory.
    assert solve_sample(_one_sample_task(tiny_params))["status"].iloc[0]["status"] == "ok"


@pytest.mark.slow
def test_reused_simulator_results_do_not_depend_on_solve_order(tiny_params):
    """Build-once reuse must not leak one sample's solve (or protocol) into the next (byte-identical outputs)."""
    from agingset.physics.aging import AgingSimulator, Protocol

    design = build_design(tiny_params.design, 4, tiny_params.seed)
    names = cell_parameter_columns(design)
    handoff = _handoff(tiny_params)
    rows = [{name: float(row[name]) for name in names} for _, row in design.iterrows()]
    # One simulator serves every protocol at its temperature: alternate two of them.
    protocols = [Protocol(25.0, 1.0, 1.0, 4.2, 2.5, 0.05), Protocol(25.0, 0.5, 2.0, 4.1, 3.3, 0.1)]

    simulator = AgingSimulator(tiny_params.model, tiny_params.solver, tiny_params.aging, names, handoff)

    def solve(order):
        return {index: simulator.run(str(index), protocols[index % 2], rows[index]) for index in order}

    # One simulator for both passes: each sample has another history in each (sample 0 first on the fresh
    # simulator, then after the whole forward pass and samples 3, 2, 1).
    forward, backward = solve([0, 1, 2, 3]), solve([3, 2, 1, 0])
    # The last sample solved was protocols[0]: its cycle steps ran with the durations PyBaMM gives the literal
    # steps (a 1C charge: 2 h, infeasible if it takes that long), not the one-day placeholder of the build.
    charge = simulator.simulations["cycle"].experiment.steps[2]
    assert charge.duration == 7200 and charge.uses_default_duration
    for index in range(4):
        for table in ("snapshots", "curves", "states", "cycles", "metadata"):
            pd.testing.assert_frame_equal(forward[index][table], backward[index][table], check_exact=True)


def test_every_step_takes_its_levels_as_inputs(tiny_params):
    """One built model serves every protocol, temperature and level of a control law: a step's value
    and cut-offs are inputs, whether written as numbers (the RPT's) or as placeholders (the cycle's);
    the rest of the step is as written."""
    import pybamm

    from agingset.physics.aging import AgingSimulator
    from agingset.physics.protocol import (
        STEP_VALUE,
        Protocol,
        cut_off_name,
        input_step,
        protocol_inputs,
        step_inputs,
        storage_steps,
    )

    discharge = input_step("Discharge at {discharge_c_rate}C until {lower_voltage_v} V", "25 oC")
    assert discharge.direction == "discharge"
    (value,) = [leaf for leaf in discharge.value.pre_order() if isinstance(leaf, pybamm.InputParameter)]
    assert value.name == STEP_VALUE
    (termination,) = discharge.termination
    assert termination.value.name == cut_off_name(0) and termination.operator == "<"
    levels = protocol_inputs(Protocol(25.0, 2.0, 1.5, 4.1, 2.8, 0.05))
    assert step_inputs(discharge, levels) == {STEP_VALUE: 1.5, cut_off_name(0): 2.8}
    charge = input_step("Charge at {charge_c_rate}C until {upper_voltage_v} V", "25 oC")
    assert charge.termination[0].operator == ">"
    assert charge.value.evaluate(inputs={STEP_VALUE: 2.0}) == -2.0
    # The RPT's discharge, written with numbers: the cycle's model, its own levels and duration.
    written = input_step("Discharge at C/5 until 2.5 V", "25 oC", period=60, tags=["capacity"])
    literal = pybamm.step.string("Discharge at C/5 until 2.5 V", temperature="25 oC")
    assert written.basic_repr() == discharge.basic_repr()
    assert step_inputs(written, {}) == {STEP_VALUE: 0.2, cut_off_name(0): 2.5}
    assert (written.duration, written.uses_default_duration) == (literal.duration, literal.uses_default_duration)
    assert (written.period, written.tags) == (60, ["capacity"])
    rest = input_step("Rest for 5 minutes", "25 oC")
    assert rest.duration == 300 and not rest.termination and step_inputs(rest, {}) == {}
    # The default experiment: conditioning, RPT, cycle and storage in five models (14 with the levels written in).
    simulator = AgingSimulator(tiny_params.model, tiny_params.solver, tiny_params.aging, [], [])
    steps = [step for simulation in simulator.simulations.values() for step in simulation.experiment.steps]
    steps += pybamm.Experiment([storage_steps(tiny_params.aging, move=True)]).copy().steps  # as a Simulation holds them
    assert len({step.basic_repr() for step in steps}) == 5


@pytest.mark.slow
def test_the_compiled_aging_model_gives_the_interpreted_results(tiny_params, tmp_path, monkeypatch):
    """`solver.compile` (the pipeline's default; the other tests run interpreted) changes how fast, not what:
    the compiled C and casadi's virtual machine round differently, within the solver tolerance (and jump
    decisions taken at the jumping tolerance carry that on: LAM differed by 1.1e-4 relative once, and a LAM of
    0.05 % by 2.8e-5 % absolute, 5.7e-4 relative, another time: hence an absolute floor of 1e-4 in the columns' units)."""
    from agingset.physics.aging import AgingSimulator, Protocol

    monkeypatch.setenv("PYBAMM_CASADI_AOT_CACHE", str(tmp_path))  # compiled here, not taken from a cache
    model = tiny_params.model.model_copy(update={"var_pts": {"x_n": 3, "x_s": 3, "x_p": 3, "r_n": 5, "r_p": 5}})
    design = build_design(tiny_params.design, 1, tiny_params.seed)
    names = cell_parameter_columns(design)
    inputs = {name: float(design[name].iloc[0]) for name in names}
    protocol = Protocol(25.0, 1.0, 1.0, 4.2, 2.5, 0.05)
    results = {}
    for compiled in (False, True):
        solver = tiny_params.solver.model_copy(update={"compile": compiled})
        simulator = AgingSimulator(model, solver, tiny_params.aging, names, [])
        results[compiled] = simulator.run("s", protocol, inputs)
        assert (results[compiled]["status"]["status"] == "ok").all()
    assert any(tmp_path.iterdir())  # the compiled build really compiled
    columns = ["rpt_capacity_ah", "lli_pct", "lam_ne_pct", "lam_pe_pct", "eis_voltage_v"]
    np.testing.assert_allclose(
        results[True]["snapshots"][columns], results[False]["snapshots"][columns], rtol=5e-4, atol=1e-4
    )

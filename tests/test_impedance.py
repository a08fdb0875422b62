"""Impedance on aged states: two independent backends agree, SOC moves are real, lin-KK flags bad spectra."""

import numpy as np
import pybamm
import pytest

from agingset.config import parse_params
from agingset.design import build_design
from agingset.impedance_features import kk_residual_pct, spectrum_feature_table
from agingset.physics import eis
from agingset.physics.model import handoff_state_names
from agingset.tasks import eis as eis_tasks
from agingset.tasks.aging import aging_tasks, solve_sample
from tests.conftest import tiny_params_dict

# Spanning the diffusion tail (0.01-0.1 Hz) and the charge-transfer arc (1-100 Hz, apex near 10 Hz).
CROSS_CHECK_HZ = np.array([1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3])


def _aged_sample(family: str = "SPM", cycles: int = 10, acceleration: float | None = None, **options):
    """One tiny-design sample aged ``cycles`` cycles (an RPT every 5: the tiny config's), its spectrum task."""
    raw = tiny_params_dict()
    raw["aging"]["cycles"] = cycles
    if acceleration is not None:
        raw["aging"]["acceleration"] = acceleration
    raw["model"]["family"] = family
    raw["model"]["options"].update(options)
    raw["eis"].update({"socs": [0.5]})
    # SPMe/DFN interpreted: compiling their SOC moves and sines costs a fresh machine ~5 min of gcc (CI: the DFN
    # case took 310 s), interpreted their three spectra take ~5 s.
    raw["eis"]["compile"] = family == "SPM"
    params = parse_params(raw)
    design = build_design(params.design, 1, params.seed)
    handoff = handoff_state_names(params.model, params.eis.surface_form)
    result = solve_sample(aging_tasks(params.model, params.solver, params.aging, handoff, design)[0])
    assert (result["status"]["status"] == "ok").all(), result["status"].to_dict("records")
    task = eis_tasks.spectrum_tasks(params.model, params.eis, design, result["snapshots"], result["states"], params.seed)[0]
    return params, task


@pytest.fixture(scope="module")
def aged():
    params, task = _aged_sample()
    simulator = eis.ImpedanceSimulator(params.model, params.eis, list(task.input_names))
    return simulator, task


def _rested(aged, soc, snapshot=-1, temperature_c=25.0):
    simulator, task = aged
    state = task.snapshots[snapshot]
    return simulator.rested(state.state, task.inputs, state.soc, state.capacity_ah, eis.Operating(soc, temperature_c))


def test_frequency_and_time_domain_backends_agree_on_an_aged_state(aged):
    """Linearisation and a 1 % C sine excitation of the same aged state give the same Z.

    The time-domain answer carries the sine's residual transient and the solver's error
    on a millivolt response (rtol 1e-9); both stay far below 2 % / 2 deg (measured:
    <= 0.05 % and <= 0.05 deg here, ~1 % / 1.5 deg at 1 mHz, see `python -m benchmarks run eis_backends`).
    """
    simulator, _ = aged
    rested = _rested(aged, 0.5)
    frequency_domain = simulator.frequency_domain_impedance(rested, CROSS_CHECK_HZ)
    time_domain = simulator.time_domain_impedance(rested, CROSS_CHECK_HZ)
    magnitude_error = np.abs(np.abs(time_domain) / np.abs(frequency_domain) - 1)
    phase_error_deg = np.degrees(np.abs(np.angle(time_domain / frequency_domain)))
    assert magnitude_error.max() < 0.02, magnitude_error
    assert phase_error_deg.max() < 2.0, phase_error_deg
    # Not a trivially flat spectrum: the arc is there and both backends see it.
    assert np.ptp(frequency_domain.real) > 0.3 * np.abs(frequency_domain).min()


def test_soc_is_reached_by_charge_and_rest_not_by_reset(aged):
    _, task = aged
    snapshot = task.snapshots[-1]
    voltages = {}
    for soc in (0.2, 0.5, 0.8):
        rest = _rested(aged, soc).rest
        voltages[soc] = rest.entries("Voltage [V]")[-1]
        assert np.allclose(rest.entries("Current [A]"), 0.0), "the spectrum's state is rested"
    assert voltages[0.2] < voltages[0.5] < voltages[0.8]
    # The lithium lost to aging stays lost: moving SOC conserves the particles' lithium
    # up to what the move current puts in or takes out.
    moved = _rested(aged, 0.8).rest
    discharged_ah = moved.entries("Discharge capacity [A.h]")[-1] - snapshot.state["Discharge capacity [A.h]"][0]
    assert discharged_ah == pytest.approx((snapshot.soc - 0.8) * snapshot.capacity_ah, rel=1e-6)


def test_a_charge_stopped_by_the_voltage_limit_records_the_soc_it_reached(aged):
    """A move the cell cannot complete (here: to 150 % of its measured capacity) stops at the
    voltage limit, rests there, and the spectrum is taken at the SOC reached, recorded."""
    simulator, task = aged
    snapshot = task.snapshots[-1]
    rested = _rested(aged, 1.5)
    assert snapshot.soc < rested.soc_reached < 1.5
    discharged_ah = rested.rest.entries("Discharge capacity [A.h]")[-1] - snapshot.state["Discharge capacity [A.h]"][0]
    assert discharged_ah == pytest.approx((snapshot.soc - rested.soc_reached) * snapshot.capacity_ah, rel=1e-6)
    result = eis.spectrum(simulator, snapshot, task.inputs, eis.Operating(1.5, 25.0))
    assert result.solver_status == "ok" and result.soc_reached == pytest.approx(rested.soc_reached)
    assert np.all(np.isfinite(result.impedance)) and np.all(result.impedance.real > 0)


def test_low_soc_spectrum_differs_from_high_soc(aged):
    simulator, _ = aged
    frequencies = simulator.eis.frequencies_hz
    low = simulator.frequency_domain_impedance(_rested(aged, 0.2), frequencies)
    high = simulator.frequency_domain_impedance(_rested(aged, 0.8), frequencies)
    assert np.max(np.abs(low - high) / np.abs(high)) > 0.05


def test_fallback_to_time_domain_is_recorded(aged, monkeypatch):
    simulator, task = aged

    def broken(*_):
        raise RuntimeError("singular Jacobian")

    monkeypatch.setattr(simulator, "frequency_domain_impedance", broken)
    # Time-domain spectra cost a few periods per frequency: two decades of the arc suffice here.
    narrow = type(simulator.eis).model_validate({**simulator.eis.model_dump(), "f_min_hz": 1.0, "f_max_hz": 100.0})
    monkeypatch.setattr(simulator, "eis", narrow)
    result = eis.spectrum(simulator, task.snapshots[0], task.inputs, eis.Operating(0.5, 25.0))
    assert (result.backend, result.solver_status) == (eis.TIME_DOMAIN, "ok")
    assert "singular Jacobian" in result.fallback_reason
    assert np.all(np.isfinite(result.impedance))
    assert np.isnan(result.cross_check_pct)  # no second backend left to check against


def _eis_simulation_impedance(task, rested, frequencies_hz):
    """PyBaMM's own path, per spectrum: initial conditions set from the rested solution's
    variables, then ``EISSimulation.solve`` (a sparse solve per frequency)."""
    building = eis.model_building
    model = building.impedance_model(task.model, task.eis.surface_form)
    values = building.parameter_values(task.model, [*task.input_names, "Ambient temperature [K]"])
    simulation = pybamm.EISSimulation(model, parameter_values=values, var_pts=building.var_pts(task.model, model))
    simulation.build(inputs=rested.inputs)
    built = simulation.built_model
    state = {
        variable.name: rested.rest.entries(variable.name)[..., -1].ravel(order="F")[:, None]
        for variable in built.initial_conditions
        if variable.name != "Current variable [A]"
    }
    state["Current variable [A]"] = np.zeros((1, 1))
    built.set_initial_conditions_from(state, inputs=rested.inputs)
    return np.asarray(simulation.solve(frequencies_hz, inputs=rested.inputs).impedance)


def test_the_linearisation_is_pybamm_s_eis_simulation_solved_about_the_rested_state(aged):
    """One built model, Jacobians per state and a dense solve of every frequency at once give
    PyBaMM's EISSimulation answer (rebuilt initial conditions, a sparse solve per frequency), plus j omega L."""
    simulator, task = aged
    frequencies = simulator.eis.frequencies_hz
    for soc, temperature_c in ((0.2, 25.0), (0.8, 10.0)):
        rested = _rested(aged, soc, temperature_c=temperature_c)
        ours = simulator.frequency_domain_impedance(rested, frequencies)
        # PyBaMM's answer plus the cell's series inductance, which the models do not hold.
        inductive = 2j * np.pi * frequencies * simulator.series_inductance_h
        reference = _eis_simulation_impedance(task, rested, frequencies) + inductive
        assert np.max(np.abs(ours - reference) / np.abs(reference)) < 1e-9


def test_the_cells_series_inductance_is_added_to_both_backends(aged):
    """Z + j omega L, with L the model's ``Cell series inductance [H]``: what turns a spectrum inductive
    above a few hundred hertz, the same in the linearisation and the sine excitation."""
    from agingset.physics.model import SERIES_INDUCTANCE

    inductive, task = aged  # the tiny config's model sets 2e-7 H
    params = parse_params(tiny_params_dict())
    overrides = {**params.model.parameter_overrides, SERIES_INDUCTANCE: 0.0}
    plain = eis.ImpedanceSimulator(
        params.model.model_copy(update={"parameter_overrides": overrides}), params.eis, list(task.input_names)
    )
    assert (plain.series_inductance_h, inductive.series_inductance_h) == (0.0, 2e-7)
    rested = _rested(aged, 0.5)
    frequencies = np.array([1.0, 1e2, 1e4])
    for backend in ("frequency_domain_impedance", "time_domain_impedance"):
        added = getattr(inductive, backend)(rested, frequencies) - getattr(plain, backend)(rested, frequencies)
        np.testing.assert_allclose(added, 2j * np.pi * frequencies * 2e-7, rtol=0, atol=1e-7)
    assert inductive.frequency_domain_impedance(rested, frequencies)[-1].imag > 0  # -Im Z < 0 at 10 kHz
    assert plain.frequency_domain_impedance(rested, frequencies)[-1].imag < 0


def test_every_dataset_spectrum_ends_inductive(tiny_dataset):
    """The calibrated series inductance reaches every spectrum of the dataset: -Im Z < 0 at its highest frequency."""
    import pandas as pd

    spectra = pd.read_parquet(tiny_dataset / "data/eis/spectra.parquet")
    spectra = spectra[spectra["solver_status"] == "ok"]
    highest = spectra[spectra["frequency_hz"] == spectra["frequency_hz"].max()]
    assert len(highest) == spectra.groupby(["sample_id", "snapshot", "temperature_c", "soc"]).ngroups > 0
    assert (highest["z_im_ohm"] > 0).all()


def test_cross_checked_spectra_are_a_seeded_share_drawn_per_spectrum():
    keys = [("s1", snapshot, temperature, soc) for snapshot in range(50) for temperature in (10.0, 25.0)
            for soc in (0.2, 0.5, 0.8)]  # fmt: skip
    draws = {fraction: {key for key in keys if eis_tasks.cross_checked(7, *key, fraction)} for fraction in (0, 0.1, 0.5, 1)}
    assert draws[0] == set() and draws[1] == set(keys)
    assert draws[0.1] <= draws[0.5]  # growing the fraction keeps every spectrum checked before
    assert 0.05 < len(draws[0.1]) / len(keys) < 0.15 and 0.4 < len(draws[0.5]) / len(keys) < 0.6
    assert {key for key in reversed(keys) if eis_tasks.cross_checked(7, *key, 0.5)} == draws[0.5]  # order-free
    assert {key for key in keys if eis_tasks.cross_checked(8, *key, 0.5)} != draws[0.5]  # the seed matters
    assert eis_tasks.cross_checked(7, "s1", np.int64(3), np.float64(25.0), np.float64(0.5), 0.5) == eis_tasks.cross_checked(
        7, "s1", 3, 25, 0.5, 0.5
    )  # numpy or Python numbers alike


def test_unchecked_spectra_say_so_and_keep_their_impedance(aged):
    simulator, task = aged
    import dataclasses

    half = dataclasses.replace(
        task, eis=task.eis.model_copy(update={"cross_check_fraction": 0.5}), snapshots=task.snapshots[:2]
    )
    spectra = eis_tasks.solve_spectra(half)
    per_spectrum = spectra.groupby(["snapshot", "soc", "temperature_c"]).first()
    checked = per_spectrum["cross_check_status"] == eis.CHECKED
    expected = [
        eis_tasks.cross_checked(half.seed, half.sample_id, snapshot, temperature_c, soc, 0.5)
        for snapshot, soc, temperature_c in per_spectrum.index
    ]
    assert checked.tolist() == expected
    assert per_spectrum.loc[checked, "cross_check_pct"].between(0, 2).all()
    assert per_spectrum.loc[~checked, "cross_check_pct"].isna().all()
    assert (per_spectrum.loc[~checked, "cross_check_status"] == eis.NOT_SAMPLED).all()
    assert (spectra["solver_status"] == "ok").all()
    every = eis_tasks.solve_spectra(dataclasses.replace(half, eis=half.eis.model_copy(update={"cross_check_fraction": 1.0})))
    np.testing.assert_array_equal(spectra["z_re_ohm"], every["z_re_ohm"])  # the check never changes Z


def _two_arcs_and_finite_diffusion(frequency_hz):
    """R0 + two RC arcs + a reflective (finite-space) Warburg: causal, linear, stable."""
    omega = 2 * np.pi * frequency_hz
    root = np.sqrt(1j * omega * 100.0)
    warburg = 0.01 / (root * np.tanh(root))
    return 0.015 + 1 / (1j * omega * 2.0 + 1 / 0.03) + 1 / (1j * omega * 0.05 + 1 / 0.01) + warburg


def test_lin_kk_passes_a_causal_spectrum_and_flags_a_corrupted_one():
    frequencies = np.logspace(-3, 4, 36)
    clean = _two_arcs_and_finite_diffusion(frequencies)
    corrupted = clean.copy()
    corrupted[18] *= 1.02  # one point off by 2 %, as from a drifting or nonlinear measurement
    assert kk_residual_pct(frequencies, clean) < 0.1
    assert kk_residual_pct(frequencies, corrupted) > 0.5
    assert np.isnan(kk_residual_pct(frequencies, np.where(frequencies > 1, np.nan, clean)))


@pytest.mark.slow
@pytest.mark.parametrize("family", ["SPMe", "DFN"])
def test_spme_and_dfn_hand_their_aged_state_to_the_impedance_model(family):
    """Resistances grow with SEI: R_ct through the film in the Faradaic branch, R0 through the
    electrolyte the SEI displaces from the pores (SPM has no electrolyte, so its R0 cannot)."""
    # Not the tiny config's x10: with the SEI porosity change that closes SPMe's negative pores so far
    # in 10 cycles (porosity x concentration halved) that its CV hold fails at the default SEI resistivity.
    params, task = _aged_sample(family, cycles=10, acceleration=3.0, **{"SEI porosity change": "true"})
    spectra = eis_tasks.solve_spectra(task)
    assert (spectra["solver_status"] == "ok").all()
    assert (spectra["backend"] == eis.FREQUENCY_DOMAIN).all()
    features = spectrum_feature_table(spectra)
    assert (features["kk_residual_pct"] < 0.1).all()
    per_snapshot = features.groupby("snapshot")[["eis_r0_ohm", "eis_rct_ohm"]].first()
    # SEI fills the negative pores: SPMe's series electrolyte resistance grows with it, DFN's
    # distributed one far less (the double layer shorts the electrode at high frequency). Only the
    # lumped-thermal cell's warmer electrolyte could lower R0, and by well under 1 %.
    r0 = per_snapshot["eis_r0_ohm"].to_numpy()
    assert np.all(np.diff(r0) > -0.01 * r0[0]), per_snapshot
    assert np.all(np.diff(per_snapshot["eis_rct_ohm"]) > 0), per_snapshot

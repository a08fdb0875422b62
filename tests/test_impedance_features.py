"""Spectrum features never hand a model a number it cannot hold, whatever the spectrum looks like."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agingset.impedance_features import (
    FEATURE_NAMES,
    arc_and_tail,
    circuit_and_jacobian,
    circuit_impedance,
    fit_circuit,
    spectrum_features,
)
from agingset.quality import MAX_FEATURE_MAGNITUDE

FREQUENCIES = np.logspace(-3, 4, 36)
OMEGA = 2 * np.pi * FREQUENCIES


def _arc(r, c):
    return r / (1 + 1j * OMEGA * r * c)


def _tail(sigma):
    return sigma * (1 - 1j) / np.sqrt(OMEGA)


SHAPES = {
    "flat": lambda: np.full(FREQUENCIES.shape, 0.02 + 0j),
    "single arc": lambda: 0.01 + _arc(0.02, 1.0),
    "pure tail": lambda: 0.001 + _tail(0.01),
    "two arcs and a tail": lambda: 0.015 + _arc(0.03, 2.0) + _arc(0.01, 0.05) + _tail(0.002),
    "pure capacitor": lambda: 1 / (1j * OMEGA * 100.0),
    "inductive loop": lambda: 0.02 + 1j * OMEGA * 1e-6 + _arc(0.01, 1.0),
}


def _assert_model_ready(features: dict):
    assert set(FEATURE_NAMES) <= set(features)
    for name, value in features.items():
        assert not np.isinf(value), name
        assert np.isnan(value) or abs(value) < MAX_FEATURE_MAGNITUDE, (name, value)
    assert features["eis_ecm_converged"] in (0.0, 1.0)
    ecm = [value for name, value in features.items() if name.startswith("eis_ecm_") and name != "eis_ecm_converged"]
    if features["eis_ecm_converged"] == 0.0:
        assert np.all(np.isnan(ecm)), "a fit that did not converge reports no number"
    else:
        assert np.all(np.isfinite(ecm))


@settings(max_examples=15, deadline=None)
@given(
    shape=st.sampled_from(sorted(SHAPES)),
    # Tiny to huge, within what a cell's impedance can be in any unit (nano- to megaohm scale).
    magnitude=st.sampled_from([1e-9, 1e-3, 1.0, 1e5]),
    noise_pct=st.sampled_from([0.0, 0.3, 10.0]),
    seed=st.integers(0, 2**16),
)
@example(shape="flat", magnitude=1e5, noise_pct=0.3, seed=742)  # found by CI: a singular step system
def test_features_of_any_spectrum_are_finite_and_bounded_or_missing(shape, magnitude, noise_pct, seed):
    rng = np.random.default_rng(seed)
    impedance = SHAPES[shape]() * magnitude
    noise = 1 + noise_pct / 100 * (rng.standard_normal(len(impedance)) + 1j * rng.standard_normal(len(impedance)))
    _assert_model_ready(spectrum_features(FREQUENCIES, impedance * noise))


def test_a_clean_two_arc_spectrum_converges_and_is_described():
    impedance = SHAPES["two arcs and a tail"]()
    features = spectrum_features(FREQUENCIES, impedance)
    assert features["eis_ecm_converged"] == 1.0
    assert features["eis_ecm_fit_error_pct"] < 2.0
    assert features["eis_ecm_r0_ohm"] == pytest.approx(0.015, rel=0.1)


def test_known_circuits_are_recovered_and_a_batch_fits_each_spectrum_as_alone():
    from agingset.impedance_features import fit_circuits

    rng = np.random.default_rng(3)
    truths = [
        np.array([0.015, 0.004, 2.0, 0.95, 0.012, 0.5, 0.85, 0.01, 200.0, 2e-7]),
        np.array([0.020, 0.002, 20.0, 0.9, 0.020, 1.0, 0.9, 0.005, 50.0, 5e-8]),
        np.array([0.010, 0.001, 0.5, 1.0, 0.008, 5.0, 0.8, 0.02, 1000.0, 1e-12]),  # no inductor: it vanishes
    ]
    spectra = [circuit_and_jacobian(truth, OMEGA)[0] for truth in truths]
    spectra.append(spectra[0])
    geometries = [arc_and_tail(FREQUENCIES, z.real, z.imag) for z in spectra[:3]] + [
        dict(r0_ohm=0.01, rct_ohm=0.01, apex_hz=0.0)  # no finite start: that fit fails, not the batch
    ]
    order = rng.permutation(len(spectra))
    batch = fit_circuits(FREQUENCIES, np.array(spectra)[order], [geometries[i] for i in order])
    batch = [batch[list(order).index(i)] for i in range(len(spectra))]
    for truth, spectrum, geometry, fitted in zip(truths, spectra, geometries, batch):
        assert fitted["ecm_converged"] == 1.0
        assert fitted["ecm_fit_error_pct"] < 0.05
        # the two arcs may come back in either order; their sum and the series resistance may not
        assert fitted["ecm_r0_ohm"] == pytest.approx(truth[0], rel=0.02)
        assert fitted["ecm_rct_ohm"] == pytest.approx(truth[1] + truth[4], rel=0.02)
        # bit for bit: a spectrum's fit does not depend on the batch it is in (nor on the worker count)
        assert fitted == fit_circuit(FREQUENCIES, spectrum, geometry)
    assert batch[3]["ecm_converged"] == 0.0 and np.isnan(batch[3]["ecm_r0_ohm"])


def test_a_flat_spectrum_is_a_resistor_or_not_converged():
    # A flat spectrum has no arc and no tail: those elements vanish, or the fit says it failed.
    impedance = SHAPES["flat"]()
    result = fit_circuit(FREQUENCIES, impedance, arc_and_tail(FREQUENCIES, impedance.real, impedance.imag))
    if result["ecm_converged"] == 1.0:
        assert result["ecm_r0_ohm"] == pytest.approx(0.02, rel=1e-3)
        assert result["ecm_rct_ohm"] < 1e-5
    else:
        assert np.isnan(result["ecm_r0_ohm"])


def test_a_spectrum_with_missing_points_has_missing_features():
    impedance = SHAPES["single arc"]().copy()
    impedance[3] = np.nan
    features = spectrum_features(FREQUENCIES, impedance)
    assert all(np.isnan(features[name]) for name in FEATURE_NAMES if name != "eis_ecm_converged")
    assert features["eis_ecm_converged"] == 0.0


def test_features_computed_per_sample_on_workers_equal_the_whole_table(monkeypatch, tmp_path):
    import pandas as pd

    from agingset.cache import ResultCache
    from agingset.executor import Settings, run_tasks
    from agingset.impedance_features import (
        sample_spectrum_features,
        spectrum_feature_table,
        spectrum_feature_tasks,
    )

    spectra = pd.DataFrame(
        [
            {"sample_id": sample, "snapshot": snapshot, "temperature_c": 25.0, "soc": soc, "frequency_hz": f,
             "z_re_ohm": z.real, "z_im_ohm": z.imag, "soc_reached": soc}
            for sample, scale in (("b", 2.0), ("a", 1.0))
            for snapshot in (0, 1)
            for soc in (0.2, 0.8)
            for f, z in zip(FREQUENCIES, SHAPES["two arcs and a tail"]() * scale * (1 + snapshot + soc))
        ]
    )  # fmt: skip
    whole = spectrum_feature_table(spectra)
    parts, _ = run_tasks(
        sample_spectrum_features, spectrum_feature_tasks(spectra), "features", settings=Settings(workers=2, quiet=True)
    )
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)
    assert list(whole["sample_id"]) == ["a"] * 4 + ["b"] * 4
    # Cached per sample, keyed on its spectra: the same spectra hit, changed (noisy, re-solved) ones miss.
    cache = ResultCache(tmp_path, "features")
    cached, report = run_tasks(
        sample_spectrum_features, spectrum_feature_tasks(spectra), "features", cache=cache, settings=Settings(workers=1, quiet=True)
    )
    again, report_again = run_tasks(
        sample_spectrum_features, spectrum_feature_tasks(spectra), "features", cache=cache, settings=Settings(workers=1, quiet=True)
    )
    pd.testing.assert_frame_equal(pd.concat(again, ignore_index=True), whole)
    assert (report.computed, report_again.computed, report_again.from_cache) == (2, 0, 2)
    changed = spectra.assign(z_re_ohm=spectra["z_re_ohm"].where(spectra["sample_id"] == "a", spectra["z_re_ohm"] * 1.01))
    tokens = [task.cache_token() for task in spectrum_feature_tasks(changed)]
    assert tokens[0] == spectrum_feature_tasks(spectra)[0].cache_token() != spectrum_feature_tasks(spectra)[1].cache_token()
    assert tokens[1] != spectrum_feature_tasks(spectra)[1].cache_token()


@pytest.mark.parametrize(
    "parameters",
    [
        [0.015, 0.03, 2.0 / 0.03, 0.9, 0.01, 0.05 / 0.01, 0.8, 0.002, 100.0, 2e-7],
        [1e-3, 1e-9, 1e6, 0.3, 5.0, 1e-6, 1.0, 1e-8, 1e-6, 1e-12],  # vanishing arc, Warburg, inductor; extreme time constants
        [2.0, 0.5, 1e-3, 0.6, 0.1, 10.0, 0.95, 3.0, 1e4, 1e-4],
    ],
)
def test_the_fitted_circuit_is_impedance_py_s_and_its_jacobian_is_its_derivative(parameters):
    """The fit's vectorised circuit equals impedance.py's elements; its Jacobian (log parameters,
    linear CPE exponents) equals central differences of them."""
    parameters = np.array(parameters)
    omega = 2 * np.pi * FREQUENCIES
    impedance, jacobian = circuit_and_jacobian(parameters, omega)
    reference = circuit_impedance(parameters, FREQUENCIES)
    assert np.max(np.abs(impedance - reference) / np.abs(reference)) < 1e-12
    logarithmic = np.array([True, True, True, False, True, True, False, True, True, True])
    step = 1e-6
    for k in range(len(parameters)):
        up, down = parameters.copy(), parameters.copy()
        if logarithmic[k]:
            up[k] *= np.exp(step)
            down[k] *= np.exp(-step)
        else:
            up[k] += step
            down[k] -= step
        difference = (circuit_impedance(up, FREQUENCIES) - circuit_impedance(down, FREQUENCIES)) / (2 * step)
        assert np.max(np.abs(jacobian[:, k] - difference)) <= 1e-6 * np.max(np.abs(reference)), k

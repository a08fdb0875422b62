"""ICA/DVA on curves whose peaks are known analytically."""

import numpy as np
import pandas as pd
import pytest

from agingset.ica import differential_voltage, incremental_capacity, peak_features, peaks, track_peaks

CENTRES_V = np.array([3.45, 3.65, 3.95])
AMOUNTS_AH = np.array([1.5, 2.0, 1.0])
WIDTH_V = 0.02


def _capacity_below(voltage_v):
    """Capacity stored below a voltage: a sum of smoothed steps, i.e. dQ/dV peaks at CENTRES_V."""
    steps = (1 + np.tanh((voltage_v[:, None] - CENTRES_V) / WIDTH_V)) / 2
    return steps @ AMOUNTS_AH


@pytest.fixture(scope="module")
def discharge():
    voltage = np.linspace(4.1, 3.0, 400)
    discharged = _capacity_below(np.array([4.1]))[0] - _capacity_below(voltage)
    return discharged, voltage


def test_ica_peaks_sit_at_the_known_voltages(discharge):
    grid, dqdv = incremental_capacity(*discharge, smoothing_v=0.005)
    found = peaks(grid, dqdv, count=3)
    np.testing.assert_allclose(found["position"], CENTRES_V, atol=0.003)
    # dQ/dV of a tanh step peaks at amount / (2 width); smoothing only lowers it a little.
    np.testing.assert_allclose(found["height"], AMOUNTS_AH / (2 * WIDTH_V), rtol=0.1)
    # The area under dQ/dV is the capacity.
    assert np.trapezoid(dqdv, grid) == pytest.approx(AMOUNTS_AH.sum(), rel=0.01)


def test_charge_and_discharge_give_the_same_curve(discharge):
    discharged, voltage = discharge
    charged = discharged[-1] - discharged
    grid_d, dqdv_d = incremental_capacity(discharged, voltage)
    grid_c, dqdv_c = incremental_capacity(charged[::-1], voltage[::-1])
    np.testing.assert_allclose(grid_c, grid_d)
    np.testing.assert_allclose(dqdv_c, dqdv_d, rtol=1e-9)


def test_relaxation_blip_does_not_break_the_inverse(discharge):
    discharged, voltage = discharge
    blipped = voltage.copy()
    blipped[200:203] += 0.01  # a short recovery in the middle of the discharge
    _, clean = incremental_capacity(discharged, voltage)
    _, noisy = incremental_capacity(discharged, blipped)
    assert np.all(np.isfinite(noisy)) and np.all(noisy >= -1e-9)
    assert np.trapezoid(noisy) == pytest.approx(np.trapezoid(clean), rel=0.02)


def test_dva_peaks_between_the_plateaus(discharge):
    capacity, dvdq = differential_voltage(*discharge)
    found = peaks(capacity, dvdq, count=2)
    # Plateaus are the ICA peaks; between them dV/dQ peaks at the cumulative capacity.
    np.testing.assert_allclose(found["position"], np.cumsum(AMOUNTS_AH)[:2], atol=0.08)


def test_tracking_and_fixed_columns():
    assert np.allclose(track_peaks([3.5, 3.7], [3.49, 3.9], max_shift=0.05), [3.49, np.nan], equal_nan=True)
    x = np.linspace(0, 1, 200)
    features = peak_features(x, np.exp(-((x - 0.3) / 0.05) ** 2), count=2, prefix="ica")
    assert features["ica_peak0_position"] == pytest.approx(0.3, abs=0.01)
    assert np.isnan(features["ica_peak1_position"]) and len(features) == 4


def test_bad_curves_are_rejected():
    with pytest.raises(ValueError, match="same length"):
        incremental_capacity([0, 1, 2], [4, 3])
    with pytest.raises(ValueError, match="at least 4"):
        incremental_capacity([0, 1, np.nan], [4, 3, 2])


def test_dataset_features_carry_ica_and_dva_peaks_inside_the_curve():
    from agingset.features import ica_dva_features

    capacity = np.linspace(0.0, 5.0, 400)
    # Two plateaus (staging-like) on a sloping discharge: dQ/dV has two peaks.
    voltage = 4.1 - 0.12 * capacity - 0.15 * np.tanh((capacity - 1.5) / 0.1) - 0.15 * np.tanh((capacity - 3.5) / 0.1)
    curves = pd.DataFrame({"sample_id": "s", "snapshot": 0, "discharged_ah": capacity, "voltage_v": voltage})
    row = ica_dva_features(curves).iloc[0]
    for k in (0, 1):
        assert voltage.min() <= row[f"ica_peak{k}_position"] <= voltage.max()
        assert row[f"ica_peak{k}_height"] > 0
        assert 0.0 <= row[f"dva_peak{k}_position"] <= 5.0
    assert row["dva_peak0_position"] == pytest.approx(1.5, abs=0.1)
    assert row["dva_peak1_position"] == pytest.approx(3.5, abs=0.1)

"""Instrument noise: zero levels give the clean values, a seed gives the same bytes whatever the
order or grouping of the rows, the levels do what they say, and the defaults match the real data."""

import io
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from agingset.config import parse_params
from agingset.features import curve_observables, noisy_curve_features
from agingset.noise import (
    estimate_impedance_relative_noise,
    estimate_voltage_levels,
    noisy_curves,
    noisy_impedance,
    noisy_spectra,
    sample_offsets,
    spectrum_rng,
)
from agingset.params import NoiseConfig, ParamsError, VoltageGrid
from tests.conftest import ROOT, tiny_params_dict

ZERO = NoiseConfig(impedance_relative=0, voltage_noise_v=0, voltage_resolution_v=0, current_offset_a=0)
DEFAULT = NoiseConfig()
LOUD = NoiseConfig(impedance_relative=0.01, voltage_noise_v=2e-3, voltage_resolution_v=1e-3, current_offset_a=0.05)
GRID = VoltageGrid(v_min=3.0, v_max=4.1, points=12)


def _curves(samples=3, snapshots=3, points=200):
    """C/5-like discharges from 4.2 V to 2.5 V: a smooth OCV-shaped curve per (sample, snapshot)."""
    rows = []
    for s in range(samples):
        for k in range(snapshots):
            capacity = 5.0 * (1 - 0.02 * k - 0.01 * s)
            t = np.linspace(0, capacity / 1.0 * 3600, points)
            q = t / 3600.0
            x = q / capacity
            v = 4.2 - 0.6 * x - 0.05 * np.sin(6 * x) - 1.0 * x**8
            rows.append(pd.DataFrame({"sample_id": f"s{s}", "snapshot": k, "time_s": t, "current_a": 1.0,
                                      "voltage_v": v, "discharged_ah": q}))
    return pd.concat(rows, ignore_index=True)


def _spectrum():
    f = np.logspace(-3, 4, 36)
    w = 2 * np.pi * f
    z = 0.014 + 0.004 / (1 + 1j * w * 0.004 / 0.01) + 0.002 / np.sqrt(1j * w) / 10
    return f, z


def test_zero_levels_reproduce_the_clean_values_exactly():
    f, z = _spectrum()
    assert np.array_equal(noisy_impedance(f, z, ZERO, np.random.default_rng(0)), z)
    curves = _curves()
    pd.testing.assert_frame_equal(noisy_curves(curves, ZERO, seed=7), curves, check_exact=True)
    clean = curve_observables(curves, GRID)
    noisy = noisy_curve_features(curves, GRID, ZERO, seed=7)
    noisy.columns = [c.removeprefix("noisy_") for c in noisy.columns]
    pd.testing.assert_frame_equal(noisy, clean, check_exact=True)
    assert (sample_offsets(curves["sample_id"], ZERO, 7)["current_offset_a"] == 0).all()


def _parquet_bytes(frame):
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def test_a_fixed_seed_gives_identical_bytes_whatever_the_row_order_or_grouping():
    curves = _curves()
    first = noisy_curve_features(curves, GRID, DEFAULT, seed=7)
    assert _parquet_bytes(first) == _parquet_bytes(noisy_curve_features(curves, GRID, DEFAULT, seed=7))
    # Shuffled rows, or one sample on its own (as one worker would see it): the same numbers.
    shuffled = noisy_curves(curves.sample(frac=1, random_state=3), DEFAULT, seed=7).sort_index()
    pd.testing.assert_frame_equal(shuffled, noisy_curves(curves, DEFAULT, seed=7), check_exact=True)
    alone = noisy_curves(curves[curves["sample_id"] == "s1"], DEFAULT, seed=7)
    whole = noisy_curves(curves, DEFAULT, seed=7)
    pd.testing.assert_frame_equal(alone, whole[whole["sample_id"] == "s1"], check_exact=True)
    # Another seed or seed offset draws other noise.
    other = noisy_curve_features(curves, GRID, DEFAULT.model_copy(update={"seed_offset": 1}), seed=7)
    assert _parquet_bytes(other) != _parquet_bytes(first)
    f, z = _spectrum()
    a = noisy_impedance(f, z, DEFAULT, spectrum_rng(7, DEFAULT, "s1", 2, 0.5, 25))
    b = noisy_impedance(f, z, DEFAULT, spectrum_rng(7, DEFAULT, "s1", np.int64(2), np.float64(0.5), 25.0))
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != noisy_impedance(f, z, DEFAULT, spectrum_rng(7, DEFAULT, "s1", 2, 0.2, 25)).tobytes()


def test_levels_do_what_they_say():
    f, z = _spectrum()
    draws = np.array([noisy_impedance(f, z, LOUD, np.random.default_rng(i)) for i in range(400)])
    relative = (draws - z) / np.abs(z)
    assert np.std(relative.real) == pytest.approx(0.01, rel=0.05)
    assert np.std(relative.imag) == pytest.approx(0.01, rel=0.05)

    curves = _curves(samples=2, snapshots=3)
    noisy = noisy_curves(curves, LOUD, seed=7)
    steps = noisy["voltage_v"].to_numpy() / 1e-3
    assert np.allclose(steps, np.round(steps), atol=1e-6)  # quantised to the resolution
    assert np.std(noisy["voltage_v"] - curves["voltage_v"]) == pytest.approx(2e-3, rel=0.2)
    # The coulomb counter integrates the offset: error = offset x t, one offset per sample.
    offsets = sample_offsets(curves["sample_id"], LOUD, 7).set_index("sample_id")["current_offset_a"]
    error_ah = noisy["discharged_ah"] - curves["discharged_ah"]
    expected_ah = curves["sample_id"].map(offsets) * curves["time_s"] / 3600
    assert np.allclose(error_ah, expected_ah, rtol=1e-9, atol=1e-12)
    assert offsets.abs().min() > 0


def test_estimation_recovers_known_levels():
    rng = np.random.default_rng(0)
    current = np.r_[np.full(300, -2.0), np.zeros(600), np.full(300, -1.0), np.zeros(600)] - 0.002
    relaxation = 3.7 + 0.01 * np.exp(-np.arange(len(current)) / 400.0)
    voltage = np.round((relaxation + 3e-4 * rng.standard_normal(len(current))) / 1e-4) * 1e-4
    levels = estimate_voltage_levels(current, voltage, rest_current_a=0.01)
    assert levels.voltage_noise_v == pytest.approx(3e-4, rel=0.15)
    assert levels.voltage_resolution_v == pytest.approx(1e-4)
    assert levels.current_offset_a == pytest.approx(-0.002)

    f, z = _spectrum()
    measured = z + 0.002 * np.abs(z) * (rng.standard_normal(len(z)) + 1j * rng.standard_normal(len(z)))
    estimate = estimate_impedance_relative_noise(f, measured, draws=100)
    assert 0.001 < estimate.relative < 0.004


def test_default_levels_are_the_ones_estimated_from_the_real_data(tmp_path):
    # The noise_levels benchmark estimates them (docs/noise.md); tests never import benchmarks, so it runs as a
    # user runs it, its result JSON directed into tmp_path.
    result = tmp_path / "noise_levels.json"
    subprocess.run(
        [sys.executable, "-m", "benchmarks", "run", "--output", str(result), "noise_levels"],
        cwd=ROOT, env={**os.environ, "PYBAMM_DISABLE_TELEMETRY": "true"}, capture_output=True, check=True,
    )  # fmt: skip
    estimated = json.loads(result.read_text())["figures"]["defaults"]
    configured = yaml.safe_load((ROOT / "params.yaml").read_text())["noise"]
    for name, value in estimated.items():
        assert configured[name] == pytest.approx(value), name
        assert getattr(NoiseConfig(), name) == pytest.approx(value), name


def test_noise_params_are_validated():
    raw = tiny_params_dict()
    raw["noise"] = {"impedance_relative": -0.1}
    with pytest.raises(ParamsError, match="noise.impedance_relative"):
        parse_params(raw)
    raw["noise"] = {"voltage_noise": 1e-3}
    with pytest.raises(ParamsError, match="noise.voltage_noise: unknown key"):
        parse_params(raw)
    raw = tiny_params_dict()
    raw.pop("noise", None)
    assert parse_params(raw).noise == NoiseConfig()


def test_zero_level_on_real_shaped_levels_namespace():
    # The functions read only the level attributes (any object with them works, e.g. the lead's callers).
    levels = SimpleNamespace(seed_offset=0, impedance_relative=0.0, voltage_noise_v=0.0, voltage_resolution_v=0.0,
                             current_offset_a=0.0)
    f, z = _spectrum()
    assert np.array_equal(noisy_impedance(f, z, levels, np.random.default_rng(1)), z)


def _spectra_table():
    f, z = _spectrum()
    frames = []
    for sample in ("a", "b"):
        for snapshot in (0, 1):
            for soc in (0.2, 0.8):
                frames.append(pd.DataFrame({"sample_id": sample, "snapshot": snapshot, "soc": soc, "temperature_c": 25.0,
                                            "frequency_hz": f, "z_re_ohm": z.real, "z_im_ohm": z.imag,
                                            "z_abs_ohm": np.abs(z), "phase_deg": np.degrees(np.angle(z))}))
    return pd.concat(frames, ignore_index=True)


def test_noisy_spectra_table_is_seeded_per_spectrum_and_clean_at_zero():
    spectra = _spectra_table()
    pd.testing.assert_frame_equal(noisy_spectra(spectra, ZERO, 7)[spectra.columns], spectra, check_exact=True)
    noisy = noisy_spectra(spectra, DEFAULT, 7)
    shuffled = noisy_spectra(spectra.sample(frac=1, random_state=1), DEFAULT, 7).sort_index()
    pd.testing.assert_frame_equal(shuffled, noisy, check_exact=True)
    assert _parquet_bytes(noisy) == _parquet_bytes(noisy_spectra(spectra, DEFAULT, 7))
    # The table function draws what noisy_impedance draws for that spectrum.
    one = spectra[(spectra["sample_id"] == "b") & (spectra["snapshot"] == 1) & (spectra["soc"] == 0.8)]
    expected = noisy_impedance(one["frequency_hz"].to_numpy(), (one["z_re_ohm"] + 1j * one["z_im_ohm"]).to_numpy(),
                               DEFAULT, spectrum_rng(7, DEFAULT, "b", 1, 0.8, 25.0))
    assert np.array_equal(noisy.loc[one.index, "z_re_ohm"].to_numpy(), expected.real)
    assert np.allclose(noisy["z_abs_ohm"], np.hypot(noisy["z_re_ohm"], noisy["z_im_ohm"]))


def test_loader_returns_clean_noisy_or_all_observables(tmp_path):
    from agingset.loader import DatasetError, load_dataset

    rows = pd.DataFrame({"sample_id": ["a", "a", "b"], "snapshot": [0, 1, 0], "cell_design_id": ["c1", "c1", "c2"],
                         "split": ["train", "train", "test"]})
    (tmp_path / "data/split").mkdir(parents=True)
    (tmp_path / "data/labels").mkdir(parents=True)
    (tmp_path / "data/eis").mkdir(parents=True)
    rows.to_parquet(tmp_path / "data/split/split.parquet", index=False)
    rows[["sample_id", "snapshot", "cell_design_id"]].assign(soh=[1.0, 0.9, 1.0]).to_parquet(
        tmp_path / "data/labels/labels.parquet", index=False)
    features = rows[["sample_id", "snapshot"]].assign(charge_c_rate=1.0, rpt_q=[5.0, 4.5, 5.0],
                                                      noisy_rpt_q=[5.01, 4.49, 5.0])
    features.to_parquet(tmp_path / "data/labels/features.parquet", index=False)
    pd.DataFrame({"sample_id": ["a"], "snapshot": [0], "frequency_hz": [1.0], "z_re_ohm": [0.01],
                  "z_im_ohm": [-0.001]}).to_parquet(tmp_path / "data/eis/spectra.parquet", index=False)
    (tmp_path / "data/validate").mkdir(parents=True)
    pd.DataFrame({"sample_id": ["a"], "snapshot": [0], "soc": [0.5], "temperature_c": [25.0], "usable": [True]}).to_parquet(
        tmp_path / "data/validate/spectra.parquet", index=False)
    assert list(load_dataset(tmp_path).features.columns) == ["charge_c_rate", "rpt_q"]
    noisy = load_dataset(tmp_path, observables="noisy").features
    assert list(noisy.columns) == ["charge_c_rate", "noisy_rpt_q"] and noisy["noisy_rpt_q"].tolist() == [5.01, 4.49]
    assert len(load_dataset(tmp_path, observables="all").features.columns) == 3
    features.drop(columns="noisy_rpt_q").to_parquet(tmp_path / "data/labels/features.parquet", index=False)
    with pytest.raises(DatasetError, match="no noisy_ observables"):
        load_dataset(tmp_path, observables="noisy")

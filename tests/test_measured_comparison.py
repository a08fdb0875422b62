"""The dataset's fresh spectra scored against the measured cell's: complex error, envelope, tail."""

import json

import numpy as np
import pandas as pd
import pytest

from agingset.calibration.measurements import MeasuredSpectrum
from agingset.measured_comparison import fresh_points, measured_comparison

MEASURED_HZ = np.geomspace(0.005, 5000.0, 41)  # reaches past the band on both sides
GRID_HZ = np.geomspace(0.001, 2000.0, 64)  # the dataset's own grid: other frequencies, so points are interpolated
BAND_HZ = (0.01, 1000.0)


def cell(frequency_hz: np.ndarray) -> np.ndarray:
    """A Randles cell with a Warburg tail and a series inductance, in ohm (capacitive: Im Z < 0)."""
    omega = 2 * np.pi * frequency_hz
    warburg = 2e-3 * (1 - 1j) / np.sqrt(omega)
    return 0.015 + 1j * omega * 2e-7 + 1 / (1 / (0.006 + warburg) + 1j * omega * 0.5)


def measured(*socs: float) -> list[MeasuredSpectrum]:
    return [MeasuredSpectrum(soc, 3.6, MEASURED_HZ, cell(MEASURED_HZ)) for soc in socs]


def spectra_table(scales: np.ndarray, soc: float = 0.5) -> pd.DataFrame:
    """Each sample's first spectrum (25 oC) is the cell times its scale; later snapshots and the 10 oC
    spectra are three times the cell: anything read from them shows."""
    frames = []
    for index, scale in enumerate(scales):
        for snapshot, temperature, factor in ((0, 25.0, scale), (1, 25.0, 3.0), (0, 10.0, 3.0)):
            z = factor * cell(GRID_HZ)
            frames.append(pd.DataFrame({
                "sample_id": f"s{index:02d}", "snapshot": snapshot, "soc": soc, "temperature_c": temperature,
                "frequency_hz": GRID_HZ, "z_re_ohm": z.real, "z_im_ohm": z.imag, "solver_status": "ok",
            }))
    return pd.concat(frames, ignore_index=True)


def compare(spectra: pd.DataFrame, spectra_measured, checked=None) -> dict:
    return measured_comparison(
        fresh_points(spectra, spectra_measured, 25.0, BAND_HZ, checked), spectra_measured, 25.0, BAND_HZ
    )


def test_a_dataset_spread_around_the_measured_cell_contains_it_with_its_own_error():
    scales = 1 + np.linspace(-0.1, 0.1, 21)
    result = compare(spectra_table(scales), measured(0.5))["spectra"]["soc50"]
    band = MEASURED_HZ[(MEASURED_HZ >= BAND_HZ[0]) & (MEASURED_HZ <= BAND_HZ[1])]
    assert result["samples"] == 21 and result["frequencies"] == band.size
    # A cell scaled by (1 + d) is |d| away in complex error at every frequency (up to the interpolation);
    # the samples' median spectrum is the measured one.
    assert result["sample_complex_error_pct"]["median"] == pytest.approx(100 * np.median(np.abs(scales - 1)), abs=0.3)
    assert result["sample_complex_error_pct"]["p95"] == pytest.approx(100 * np.percentile(np.abs(scales - 1), 95), abs=0.3)
    assert result["median_spectrum_complex_error_pct"] < 0.3
    assert result["median_spectrum_complex_error_below_0_1hz_pct"] < 0.3
    assert result["envelope_coverage_pct"] == result["abs_z_coverage_pct"] == 100.0
    assert result["envelope_coverage_below_0_1hz_pct"] == 100.0
    assert result["tail_frequency_hz"] == pytest.approx(band[0])
    tail = result["tail_minus_im_z_mohm"]
    assert tail["measured"] == pytest.approx(-1e3 * cell(band[:1]).imag[0], rel=1e-3)
    assert tail["dataset_median"] == pytest.approx(tail["measured"], rel=0.01)


def test_a_dataset_that_misses_the_measured_cell_covers_none_of_it():
    result = compare(spectra_table(1.2 + np.linspace(0, 0.1, 11)), measured(0.5))["spectra"]["soc50"]
    assert result["envelope_coverage_pct"] == result["abs_z_coverage_pct"] == 0.0
    assert result["median_spectrum_complex_error_pct"] == pytest.approx(25.0, abs=0.5)
    assert result["median_spectrum_complex_error_below_0_1hz_pct"] == pytest.approx(25.0, abs=0.5)
    assert result["sample_complex_error_pct"]["median"] == pytest.approx(25.0, abs=0.5)


def test_a_dataset_right_in_size_but_not_in_shape_covers_abs_z_only():
    """The inductive end and the tail: the samples' Im Z flipped in sign where the measured is small."""
    spectra = spectra_table(1 + np.linspace(-0.2, 0.2, 11))
    spectra["z_im_ohm"] = -spectra["z_im_ohm"]
    result = compare(spectra, measured(0.5))["spectra"]["soc50"]
    assert result["abs_z_coverage_pct"] == 100.0
    assert result["envelope_coverage_pct"] <= 5.0


def test_unusable_and_failed_spectra_are_left_out_and_a_measured_soc_without_spectra_says_so():
    spectra = spectra_table(1 + np.linspace(-0.05, 0.05, 5))
    spectra.loc[(spectra.sample_id == "s00") & (spectra.snapshot == 0), "solver_status"] = "failed"
    checked = spectra[["sample_id", "snapshot", "soc", "temperature_c"]].drop_duplicates().assign(usable=True)
    checked.loc[(checked.sample_id == "s01") & (checked.snapshot == 0), "usable"] = False
    result = compare(spectra, measured(0.5, 0.8), checked)["spectra"]
    # s00 and s01 lost their first spectrum: their later (tripled) ones are not fresh and not taken.
    assert result["soc50"]["samples"] == 3
    assert result["soc50"]["sample_complex_error_pct"]["p95"] < 6.0
    assert result["soc80"] == {"samples": 0}


def test_points_taken_block_by_block_are_the_whole_tables():
    spectra, spectra_measured = spectra_table(1 + np.linspace(-0.1, 0.1, 6)), measured(0.5)
    whole = fresh_points(spectra, spectra_measured, 25.0, BAND_HZ)
    blocks = pd.concat(
        [fresh_points(part, spectra_measured, 25.0, BAND_HZ) for _, part in spectra.groupby(spectra.sample_id < "s03")]
    ).sort_values(["sample_id", "frequency_hz"], ignore_index=True)
    pd.testing.assert_frame_equal(whole.sort_values(["sample_id", "frequency_hz"], ignore_index=True), blocks)


def test_the_validate_stage_scores_the_tiny_datasets_fresh_spectra(tiny_dataset):
    comparison = json.loads((tiny_dataset / "metrics" / "quality.json").read_text())["measured_spectra"]
    samples = len(pd.read_parquet(tiny_dataset / "data" / "design" / "samples.parquet"))
    # The tiny dataset has spectra at SOC 0.2 and 0.8 (25 oC), none at the measured 0.5.
    assert comparison["spectra"]["soc50"] == {"samples": 0}
    table = pd.read_csv(tiny_dataset / "reference-data" / "lgm50lt_eis_soc20_50_80.csv")
    for name, soc in (("soc20", 20), ("soc80", 80)):
        entry = comparison["spectra"][name]
        assert entry["samples"] == samples
        assert 0.0 <= entry["envelope_coverage_pct"] <= 100.0
        # The tiny calibration fits two parameters in two steps, so its cell is nearly the stock set's (70-86 %
        # off the measured spectra in complex error): off, but not by a unit's orders of magnitude.
        assert 0.0 < entry["median_spectrum_complex_error_pct"] < 100.0
        assert 0.0 <= entry["abs_z_coverage_pct"] <= 100.0
        rows = table[(table.soc_pct == soc) & (table.frequency_hz >= 0.01)]
        tail = rows.loc[rows.frequency_hz.idxmin()]
        assert entry["tail_minus_im_z_mohm"]["measured"] == pytest.approx(-1e3 * tail.z_im_ohm, rel=1e-3)
    # The points scored are written for the card: every sample at the two SOCs, on the measured band's frequencies.
    points = pd.read_parquet(tiny_dataset / "data" / "validate" / "dataset_fresh_spectra.parquet")
    assert sorted(points["soc"].unique()) == [0.2, 0.8]
    assert points.groupby("soc")["sample_id"].nunique().tolist() == [samples, samples]
    assert set(points["frequency_hz"]) <= set(table["frequency_hz"][(table.frequency_hz >= 0.01) & (table.frequency_hz <= 1000)])

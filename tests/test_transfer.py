"""`agingset transfer`: baselines trained on a built dataset, scored on real-like aged cells made by another model."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from agingset.standin_cells import StandinConfig, standin_cells
from agingset.transfer import (
    MODELS,
    POLARISATION_MAX_HZ,
    Limits,
    UserCellsError,
    feature_names,
    interpolated_spectrum,
    nearest_grid_points,
    relative_spectrum_features,
    user_checkups,
    validate_user_cells,
)
from tests.conftest import ROOT

# Two cells, three check-ups, a coarse grid of the stand-in instrument (not the dataset's), at the tiny dataset's
# SOC 0.8 and 25 C: SPMe with Chen2020 and imposed aging, seconds.
TINY_STANDIN = StandinConfig(cells=2, checkups=3, f_min_hz=1e-3, f_max_hz=1e3, points_per_decade=3, soc=0.8, seed=3)


@pytest.fixture(scope="module")
def standin():
    return standin_cells(TINY_STANDIN)


def _transfer(*args, cwd):
    env = {**os.environ, "PYBAMM_DISABLE_TELEMETRY": "true"}
    return subprocess.run(
        [sys.executable, "-m", "agingset", "transfer", *map(str, args)], check=False, cwd=cwd, env=env, capture_output=True,
        text=True
    )


def _relative_capacity(cells: pd.DataFrame) -> pd.Series:
    """Computed here from the file, independently of agingset.transfer: capacity / the lowest measurement's."""
    capacity = cells.groupby(["cell_id", "measurement"])["capacity_ah"].first()  # sorted: the lowest first
    return capacity / capacity.groupby(level="cell_id").transform("first")


def test_standin_cells_lose_capacity_and_gain_impedance_as_imposed(standin):
    assert set(standin["cell_id"]) == {"standin-00", "standin-01"}
    relative = _relative_capacity(standin)
    for cell, values in relative.groupby(level=0):
        assert np.all(np.diff(values.to_numpy()) < 0), cell  # more LLI/LAM at every check-up
        assert 0.75 < values.iloc[-1] < 0.99
    # The capacitive arc has -Im Z > 0 (z_im_ohm < 0), as in the dataset's spectra; the inductance shows at the top.
    spectrum = standin[(standin["cell_id"] == "standin-00") & (standin["measurement"] == 0)].sort_values("frequency_hz")
    assert (spectrum.loc[spectrum["frequency_hz"].between(0.1, 10), "z_im_ohm"] < 0).all()
    low = spectrum.iloc[0]
    last = standin[(standin["cell_id"] == "standin-00") & (standin["measurement"] == 200)].sort_values("frequency_hz").iloc[0]
    assert last["z_re_ohm"] > low["z_re_ohm"]  # slower kinetics, more series resistance, less active material


def test_transfer_scores_the_standin_cells_against_trivial_baselines(tiny_dataset, standin, tmp_path):
    cells_file, output = tmp_path / "cells.csv", tmp_path / "scores.json"
    standin.to_csv(cells_file, index=False)
    done = _transfer("--dataset", tiny_dataset, "--cells", cells_file, "--output", output, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "grid point 25 C, SOC 0.8" in done.stdout  # the tiny dataset's (25 C; SOC 0.2, 0.8), 0 away
    for name in MODELS:
        assert any(line.startswith(name) for line in done.stdout.splitlines()), name
    report = json.loads(output.read_text())
    scores = {row["model"]: row for row in report["scores"]}
    assert set(scores) == set(MODELS)
    assert all(np.isfinite(value) for row in report["scores"] for value in row.values() if isinstance(value, float))

    predictions = pd.DataFrame(report["predictions"])
    truth = _relative_capacity(standin)
    merged = predictions.set_index(["cell_id", "measurement"]).join(truth.rename("expected"))
    np.testing.assert_allclose(merged["relative_capacity"], merged["expected"], rtol=1e-12)
    later = ~predictions["is_reference"]
    assert later.sum() == 4 and len(predictions) == 6
    # "No change" predicts every check-up as its reference: its MAE is the mean capacity loss, exactly.
    loss_pct = 100 * (1 - merged.loc[~merged["is_reference"], "expected"])
    assert scores["no_change"]["mae_pct"] == pytest.approx(loss_pct.mean(), rel=1e-12)
    assert scores["no_change"]["mae_all_pct"] == pytest.approx(loss_pct.sum() / len(predictions), rel=1e-12)
    for name in MODELS:
        values = predictions[name].to_numpy()
        assert np.all((values > 0) & (values <= 1.2)), name
        error = 100 * np.abs(values - predictions["relative_capacity"].to_numpy())
        assert scores[name]["mae_pct"] == pytest.approx(error[later].mean(), rel=1e-9)
        assert scores[name]["mae_all_pct"] == pytest.approx(error.mean(), rel=1e-9)
    # The tiny dataset's cells lose capacity along their RPTs: its mean is below 1, so is dummy's constant.
    assert predictions["dummy"].nunique() == 1 and predictions["dummy"].iloc[0] < 1.0
    # Seeded: a second run gives the same scores.
    again = _transfer("--dataset", tiny_dataset, "--cells", cells_file, cwd=tmp_path)
    assert again.stdout == done.stdout


BAD_FILES = {
    "missing column": (lambda t: t.drop(columns="z_im_ohm"), "z_im_ohm"),
    "text in a number column": (lambda t: t.assign(capacity_ah=t["capacity_ah"].astype(object).where(t.index > 3, "n/a")), "capacity_ah"),
    "a NaN": (lambda t: t.assign(z_re_ohm=t["z_re_ohm"].where(t.index != 5)), "z_re_ohm"),
    "soc in percent": (lambda t: t.assign(soc=80.0), "soc"),
    "a cell with one check-up": (lambda t: t[(t["cell_id"] == "standin-00") | (t["measurement"] == 0)], "measurement"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_malformed_cells_file_is_one_line_naming_the_column(standin, tmp_path, case):
    change, column = BAD_FILES[case]
    cells_file, output = tmp_path / "cells.csv", tmp_path / "scores.json"
    change(standin.copy()).to_csv(cells_file, index=False)
    done = _transfer("--dataset", tmp_path / "no-dataset", "--cells", cells_file, "--output", output, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(cells_file) in lines[0] and column in lines[0], done.stderr
    assert not output.exists() and list(tmp_path.iterdir()) == [cells_file]


def test_a_checkup_far_from_the_dataset_grid_is_refused(tiny_dataset, standin, tmp_path):
    cells_file = tmp_path / "cells.csv"
    standin.assign(soc=0.5).to_csv(cells_file, index=False)  # 0.3 from the tiny dataset's SOCs 0.2 and 0.8
    done = _transfer("--dataset", tiny_dataset, "--cells", cells_file, cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "column soc" in done.stderr and "0.15" in done.stderr
    loose = _transfer("--dataset", tiny_dataset, "--cells", cells_file, "--max-soc-distance", "0.3", cwd=tmp_path)
    assert loose.returncode == 0, loose.stderr
    assert "0.3 SOC away" in loose.stdout


def test_features_are_relative_to_the_cells_own_reference_and_blind_to_its_series_resistance():
    frequencies = np.logspace(-2, 3, 11)
    reference = (0.02 + 0.01 / (1 + 1j * frequencies)) - 0.002j / np.sqrt(frequencies)
    features = relative_spectrum_features(np.vstack([reference, 2 * reference]), np.vstack([reference, reference]), frequencies)
    np.testing.assert_allclose(features[0], 0.0, atol=1e-15)  # the reference against itself
    n = int((frequencies <= POLARISATION_MAX_HZ).sum())
    assert features.shape[1] == len(feature_names(frequencies)) == 3 * n + 2
    np.testing.assert_allclose(features[1, : 2 * n], np.log(2.0))  # the polarisation doubled everywhere
    # A grown series resistance (contacts, electrolyte: what the dataset's cells lack) moves no feature.
    ohmic = relative_spectrum_features(reference + 0.005, reference, frequencies)
    np.testing.assert_allclose(ohmic, 0.0, atol=1e-12)
    # Interpolation in log frequency is exact on a spectrum linear in log f.
    z = (1 + np.log10(frequencies)) - 1j * (2 - np.log10(frequencies))
    onto = np.logspace(-1.5, 2.5, 7)
    np.testing.assert_allclose(interpolated_spectrum(frequencies[::-1], z[::-1], onto), (1 + np.log10(onto)) - 1j * (2 - np.log10(onto)))


def test_user_cells_are_ordered_by_measurement_and_averaged_per_frequency(standin):
    table = standin.assign(measurement=standin["measurement"].map({0: "a-start", 100: "b-mid", 200: "c-end"}))
    table = pd.concat([table, table.iloc[:1].assign(z_re_ohm=table["z_re_ohm"].iloc[0] * 3)])  # a repeated point
    checked = validate_user_cells(table.iloc[::-1])
    checkups = user_checkups(checked)
    assert list(checkups.loc[checkups["cell_id"] == "standin-00", "measurement"]) == ["a-start", "b-mid", "c-end"]
    assert checkups.loc[checkups["is_reference"], "relative_capacity"].eq(1.0).all()
    first = checked.iloc[0]
    assert first["z_re_ohm"] == pytest.approx(2 * standin["z_re_ohm"].iloc[0])  # mean of x and 3x
    located = nearest_grid_points(
        checkups.assign(temperature_c=19.0, soc=0.7), pd.DataFrame({"temperature_c": [10.0, 25.0, 25.0], "soc": [0.5, 0.5, 0.8]}), Limits()
    )
    assert (located["grid_temperature_c"] == 25.0).all() and (located["grid_soc"] == 0.8).all()
    with pytest.raises(UserCellsError, match="column temperature_c"):
        nearest_grid_points(checkups.assign(temperature_c=40.0), pd.DataFrame({"temperature_c": [25.0], "soc": [0.8]}), Limits())


def test_readme_stays_short():
    assert len((ROOT / "README.md").read_bytes()) <= 12_000

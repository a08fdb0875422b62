"""The loader returns exactly the split file's rows, aligned across x, y, m, spectra and curves."""

import numpy as np
import pandas as pd
import pytest

from agingset.loader import DatasetError, load_dataset


@pytest.mark.parametrize("side", ["train", "test"])
def test_loader_returns_the_rows_of_the_split_file(tiny_dataset, side):
    split = pd.read_parquet(tiny_dataset / "data/split/split.parquet")
    expected = split[split["split"] == side][["sample_id", "snapshot"]].reset_index(drop=True)
    data = load_dataset(tiny_dataset, split=side, targets=["soh", "lli_pct"])
    pd.testing.assert_frame_equal(data.meta[["sample_id", "snapshot"]], expected)
    assert len(data.features) == len(data.targets) == len(data.spectra) == len(expected)
    assert list(data.targets.columns) == ["soh", "lli_pct"]
    assert not {"sample_id", "snapshot"} & set(data.features.columns)
    labels = pd.read_parquet(tiny_dataset / "data/labels/labels.parquet")
    truth = expected.merge(labels, on=["sample_id", "snapshot"])
    np.testing.assert_array_equal(data.targets["soh"].to_numpy(), truth["soh"].to_numpy())


def test_spectra_and_curves_are_aligned_with_rows(tiny_dataset):
    data = load_dataset(tiny_dataset, split=None, curves=True)
    spectra = pd.read_parquet(tiny_dataset / "data/eis/spectra.parquet")
    conditions = spectra.groupby(["temperature_c", "soc"]).ngroups
    assert data.spectra.shape == (len(data), conditions, spectra["frequency_hz"].nunique())
    assert np.all(np.diff(data.frequencies_hz) > 0)
    first = data.meta.iloc[0]
    own = spectra[(spectra["sample_id"] == first["sample_id"]) & (spectra["snapshot"] == first["snapshot"])]
    coldest_lowest_soc = own[(own["temperature_c"] == own["temperature_c"].min()) & (own["soc"] == own["soc"].min())]
    np.testing.assert_allclose(data.spectra[0, 0].real, coldest_lowest_soc.sort_values("frequency_hz")["z_re_ohm"])
    assert np.all(data.spectra.real > 0)  # a cell's resistance is positive at every frequency
    labels = pd.read_parquet(tiny_dataset / "data/labels/labels.parquet").set_index(["sample_id", "snapshot"])
    for row, curve in zip(data.meta.itertuples(), data.curves):
        # The coulomb count of the saved C/5 curve is the capacity behind SOH.
        assert curve[-1, 0] == pytest.approx(
            labels.loc[(row.sample_id, row.snapshot), "rpt_capacity_ah"], rel=1e-3
        )
        assert curve[-1, 1] < curve[0, 1]  # discharging lowers the voltage


def test_loader_errors_name_what_is_allowed(tiny_dataset, tmp_path):
    with pytest.raises(DatasetError, match="allowed: test, train"):
        load_dataset(tiny_dataset, split="validation")
    with pytest.raises(DatasetError, match="unknown targets.*allowed: soh"):
        load_dataset(tiny_dataset, targets=["capacity"])
    with pytest.raises(DatasetError, match="build the dataset first"):
        load_dataset(tmp_path)

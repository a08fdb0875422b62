"""Features relative to each cell's first RPT: ratios of resistances and band |Z|, shifts of ICA/DVA peaks."""

import numpy as np
import pandas as pd
import pytest

from agingset.relative_features import with_relative_features


def _table():
    rows = []
    for sample, scale in (("a", 1.0), ("b", 2.0)):
        for snapshot, growth in ((0, 1.0), (1, 1.5), (2, 2.0)):
            rows.append(
                {
                    "sample_id": sample,
                    "snapshot": snapshot,
                    "eis_rct_ohm_soc50_t25c": 0.01 * scale * growth,
                    "noisy_eis_rct_ohm_soc50_t25c": 0.011 * scale * growth,
                    "z_re_ohm_at_0.1hz_soc50_t25c": 0.03 * scale * growth,
                    "z_im_ohm_at_0.1hz_soc50_t25c": -0.04 * scale * growth,
                    "z_re_ohm_at_1.259hz_soc50_t25c": 0.02 * scale,
                    "z_im_ohm_at_1.259hz_soc50_t25c": -0.001 * scale,
                    "z_re_ohm_at_100hz_soc50_t25c": 0.015 * scale,
                    "z_im_ohm_at_100hz_soc50_t25c": 0.0,
                    "ica_peak0_position": 3.60 + 0.01 * snapshot + (0.05 if sample == "b" else 0.0),
                    "eis_apex_hz_soc50_t25c": 10.0 * growth,  # not a resistance: no ratio
                }
            )
    # Stored out of order: the reference is each sample's lowest snapshot, not its first row.
    return pd.DataFrame(rows).iloc[[5, 0, 3, 1, 4, 2]].reset_index(drop=True)


def test_each_cell_is_measured_against_its_own_first_rpt():
    table = _table()
    relative = with_relative_features(table)
    assert list(relative.columns[: len(table.columns)]) == list(table.columns)  # the absolute features stay
    by_key = relative.set_index(["sample_id", "snapshot"]).sort_index()
    # The two cells differ by 2x fresh and age alike: relative to themselves they are the same cell.
    for name in ("rel_eis_rct_ohm_soc50_t25c", "rel_abs_z_at_0.1hz_soc50_t25c", "noisy_rel_eis_rct_ohm_soc50_t25c"):
        np.testing.assert_allclose(by_key.loc["a", name], [1.0, 1.5, 2.0])
        np.testing.assert_allclose(by_key.loc["b", name], [1.0, 1.5, 2.0])
    np.testing.assert_allclose(by_key["rel_abs_z_at_1hz_soc50_t25c"], 1.0)  # nearest grid point: 1.259 Hz
    np.testing.assert_allclose(by_key["rel_abs_z_at_100hz_soc50_t25c"], 1.0)
    np.testing.assert_allclose(by_key.loc["b", "shift_ica_peak0_position"], [0.0, 0.01, 0.02], atol=1e-12)
    assert "rel_eis_apex_hz_soc50_t25c" not in relative


def test_a_missing_first_value_leaves_the_relative_feature_missing():
    table = _table()
    first_of_a = (table["sample_id"] == "a") & (table["snapshot"] == 0)
    table.loc[first_of_a, "eis_rct_ohm_soc50_t25c"] = np.nan
    relative = with_relative_features(table)
    assert relative.loc[relative["sample_id"] == "a", "rel_eis_rct_ohm_soc50_t25c"].isna().all()
    assert relative.loc[relative["sample_id"] == "b", "rel_eis_rct_ohm_soc50_t25c"].notna().all()
    assert with_relative_features(table.iloc[:0]).empty


@pytest.mark.parametrize("prefix", ["", "noisy_"])
def test_relative_features_are_numbers_a_model_can_take(prefix):
    relative = with_relative_features(_table())
    names = [c for c in relative.columns if c.startswith(f"{prefix}rel_") or c.startswith(f"{prefix}shift_")]
    assert names and all(relative[name].dtype == float for name in names)

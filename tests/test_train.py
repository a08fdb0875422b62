"""Baselines: features never include labels, models beat the dummy on held-out cell designs, metrics are complete."""

import numpy as np
import pandas as pd
import pytest

from agingset.labels import LABEL_COLUMNS
from agingset.train import feature_columns, train_baselines

MODELS = ("dummy", "random_forest", "hist_gradient_boosting")


def _table(groups=12, samples_per_group=2, snapshots=5, seed=0):
    """SOH fades with a cell-design rate; an observable capacity feature tracks it, another is noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(groups):
        rate = rng.uniform(0.01, 0.05)
        q0 = rng.uniform(4.5, 5.0)
        for k in range(samples_per_group):
            for s in range(snapshots):
                soh = 1.0 - rate * s * (1 + 0.3 * k)
                rul = (soh - 0.8) / (rate * (1 + 0.3 * k))
                rows.append(
                    {
                        "sample_id": f"s{g}_{k}", "snapshot": s, "cell_design_id": f"c{g}",
                        "split": "test" if g < 4 else "train",
                        "rpt_q_ah": q0 * soh, "q0_ah": q0, "noise": rng.normal(),
                        "soh": soh, "lli_pct": 100 * (1 - soh) * 0.6, "lam_ne_pct": 100 * (1 - soh) * 0.3,
                        "lam_pe_pct": 100 * (1 - soh) * 0.1, "rul80_cycles": max(rul, 0.0) if rul < 3 else 3.0,
                        "rul80_source": "simulated" if rul < 3 else "censored",
                    }
                )
    return pd.DataFrame(rows)


def test_feature_columns_never_select_labels_ids_or_provenance():
    features = pd.DataFrame(
        {
            "sample_id": ["a"], "snapshot": [0], "cell_design_id": ["c"], "charge_c_rate": [1.0],
            "rpt_q_ah_at_3.000v": [4.0], "eis_r0_ohm": [0.02], "ica_peak_v": [3.6], "has_plating": [False],
            "soh": [1.0], "lli_pct": [0.0], "rul80_source": ["censored"], "m_contact_resistance": [0.01],
            "m_model_family": ["SPM"], "backend": ["pybamm.EISSimulation"], "new_label": [1.0],
        }
    )
    selected = feature_columns(features, label_columns=["sample_id", "snapshot", "soh", "new_label"])
    assert selected == ["charge_c_rate", "rpt_q_ah_at_3.000v", "eis_r0_ohm", "ica_peak_v", "has_plating"]
    assert not set(selected) & set(LABEL_COLUMNS)
    assert not any(name.startswith("m_") for name in selected)


FEATURES = ["rpt_q_ah", "q0_ah", "noise"]


@pytest.fixture(scope="module")
def config(tiny_params):
    # Boosting needs more than the tiny 10 iterations to move away from the mean.
    return tiny_params.train.model_copy(update={"n_estimators": 30})


@pytest.fixture(scope="module")
def trained(config, tiny_params):
    table = _table()
    return table, train_baselines(table, FEATURES, config, tiny_params.seed)


def test_metrics_have_every_target_and_model_scored_four_ways(trained, tiny_params):
    _, result = trained
    assert set(tiny_params.train.targets) <= set(result.scores)
    for target in tiny_params.train.targets:
        for model in MODELS:
            entry = result.scores[target][model]
            for way in ("test", "cv", "random_test", "random_cv"):
                assert set(entry[way]) == {"mae", "rmse", "r2"}
                assert np.isfinite(entry[way]["mae"]) and entry[way]["rmse"] >= entry[way]["mae"]


def test_models_beat_the_dummy_on_held_out_cell_designs(trained):
    _, result = trained
    soh = result.scores["soh"]
    for model in ("random_forest", "hist_gradient_boosting"):
        assert soh[model]["test"]["mae"] < soh["dummy"]["test"]["mae"]
        assert soh[model]["cv"]["mae"] < soh["dummy"]["cv"]["mae"]
    assert soh["random_forest"]["test"]["mae"] < 0.5 * soh["dummy"]["test"]["mae"]
    assert soh["random_forest"]["test"]["r2"] > 0.5


def test_censored_rul_is_not_fitted_but_scored_as_a_bound(trained):
    table, result = trained
    rul = result.scores["rul80_cycles"]
    simulated_test = ((table["split"] == "test") & (table["rul80_source"] == "simulated")).sum()
    censored_test = ((table["split"] == "test") & (table["rul80_source"] == "censored")).sum()
    assert rul["rows_test"] == simulated_test and rul["rows_censored_test"] == censored_test > 0
    # Recomputed: the dummy predicts the mean fitted RUL, below every censored row's bound (3 cycles) ...
    fitted_mean = table.loc[(table["split"] == "train") & (table["rul80_source"] == "simulated"), "rul80_cycles"].mean()
    bounds = table.loc[(table["split"] == "test") & (table["rul80_source"] == "censored"), "rul80_cycles"]
    assert rul["dummy"]["censored_below_bound_rate"] == pytest.approx((fitted_mean < bounds).mean())
    # ... and every model's rate is a share of those rows.
    for model in MODELS:
        below = rul[model]["censored_below_bound_rate"] * censored_test
        assert below == pytest.approx(round(below)) and 0 <= round(below) <= censored_test
    held_out = result.predictions[(result.predictions["target"] == "rul80_cycles")]
    censored_ids = set(table.loc[table["rul80_source"] == "censored", "sample_id"] + "/" +
                       table.loc[table["rul80_source"] == "censored", "snapshot"].astype(str))
    assert not set(held_out["sample_id"] + "/" + held_out["snapshot"].astype(str)) & censored_ids


def test_predictions_are_held_out_rows_only_and_importance_covers_features(trained):
    table, result = trained
    test_designs = set(table.loc[table["split"] == "test", "cell_design_id"])
    assert set(result.predictions["cell_design_id"]) == test_designs
    assert set(result.predictions["part"]) == {"test"}
    soh = result.importance[(result.importance["target"] == "soh")]
    assert set(soh["feature"]) == {"rpt_q_ah", "q0_ah", "noise"}
    assert soh.iloc[0]["feature"] != "noise"


def test_training_is_deterministic_whatever_the_row_order(config, tiny_params):
    table = _table(groups=6)
    soh_only = config.model_copy(update={"targets": ["soh"]})
    first = train_baselines(table, FEATURES, soh_only, tiny_params.seed)
    again = train_baselines(table.sample(frac=1, random_state=2), FEATURES, soh_only, tiny_params.seed)
    assert again.scores == first.scores
    pd.testing.assert_frame_equal(again.predictions, first.predictions)

"""Baselines: features never include labels, models beat the dummy on held-out cell designs, metrics are complete."""

import numpy as np
import pandas as pd
import pytest

from agingset.labels import LABEL_COLUMNS
from agingset.train import (
    design_resamples,
    feature_columns,
    feature_views,
    fraction_label,
    nested_design_subsets,
    train_baselines,
)

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
    # Boosting needs more than the tiny 10 iterations to move away from the mean; the
    # cross-validations (off by default) are scored here.
    return tiny_params.train.model_copy(update={"n_estimators": 30, "cv_folds": 3})


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


def test_cross_validation_is_left_out_with_zero_folds(trained, config, tiny_params):
    table, with_cv = trained[0], trained[1].scores
    scores = train_baselines(table, FEATURES, config.model_copy(update={"cv_folds": 0}), tiny_params.seed).scores
    for model in MODELS:
        entry = scores["soh"][model]
        assert "test" in entry and "random_test" in entry
        assert "cv" not in entry and "random_cv" not in entry
        assert entry["test"] == with_cv["soh"][model]["test"]
        assert entry["random_test"] == with_cv["soh"][model]["random_test"]


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


def test_training_is_deterministic_whatever_the_row_order_and_the_workers(config, tiny_params):
    table = _table(groups=6)
    two_targets = config.model_copy(update={"targets": ["soh", "lli_pct"]})
    first = train_baselines(table, FEATURES, two_targets, tiny_params.seed)
    again = train_baselines(table.sample(frac=1, random_state=2), FEATURES, two_targets, tiny_params.seed, workers=2)
    assert again.scores == first.scores
    pd.testing.assert_frame_equal(again.predictions, first.predictions)
    pd.testing.assert_frame_equal(again.importance, first.importance)


# ---------------------------------------------------------------- noise, learning curve, intervals


def _noisy_table(seed=0):
    """The table with a noisy twin of each observable: noisy_rpt_q_ah carries a sensor error."""
    table = _table(seed=seed)
    rng = np.random.default_rng(seed + 1)
    table["noisy_rpt_q_ah"] = table["rpt_q_ah"] + 0.02 * rng.standard_normal(len(table))
    table["noisy_q0_ah"] = table["q0_ah"]
    return table


NOISY_FEATURES = [*FEATURES, "noisy_rpt_q_ah", "noisy_q0_ah"]


@pytest.fixture(scope="module")
def trained_noisy(config, tiny_params):
    table = _noisy_table()
    return table, train_baselines(table, NOISY_FEATURES, config, tiny_params.seed)


def test_feature_views_swap_in_noisy_twins_and_keep_the_rest():
    views = feature_views(["charge_c_rate", "rpt_q", "eis_r0", "noisy_rpt_q"])
    assert views == {"clean": ["charge_c_rate", "rpt_q", "eis_r0"], "noisy": ["charge_c_rate", "noisy_rpt_q", "eis_r0"]}
    assert feature_views(["a", "b"]) == {"clean": ["a", "b"]}


def test_scores_on_noisy_test_features_are_reported(trained_noisy):
    table, result = trained_noisy
    for model in MODELS:
        entry = result.scores["soh"][model]
        for way in ("noisy_test", "clean_trained_noisy_test"):
            assert set(entry[way]) == {"mae", "rmse", "r2"}
    # The clean model never sees a noisy column: its importance lists the clean features only.
    assert set(result.importance["feature"]) == set(FEATURES)
    rf = result.scores["soh"]["random_forest"]
    assert rf["noisy_test"]["mae"] < result.scores["soh"]["dummy"]["noisy_test"]["mae"]


def test_learning_curve_has_a_monotone_training_size_axis_and_one_held_out_set(trained_noisy, config):
    table, result = trained_noisy
    train_designs = table.loc[table["split"] == "train", "cell_design_id"].nunique()
    for target in config.targets:
        test_rows = result.scores[target]["rows_test"]
        for model in MODELS:
            curve = result.scores[target][model]["learning_curve"]
            assert list(curve) == ["0.125", "0.25", "0.5", "1"] == sorted(curve)
            points = list(curve.values())
            fractions = [p["train_fraction"] for p in points]
            assert fractions == sorted(fractions) == config.learning_curve_fractions
            designs = [p["train_designs"] for p in points]
            rows = [p["train_rows"] for p in points]
            assert designs == sorted(designs) and rows == sorted(rows)
            # All training designs at the last point (RUL: those with a fitted, uncensored label).
            assert designs[-1] == train_designs if target != "rul80_cycles" else designs[-1] <= train_designs
            assert designs[0] >= 1
            # Every point is scored on the same held-out designs and rows.
            assert {p["test_rows"] for p in points} == {test_rows}
            assert len({p["test_designs"] for p in points}) == 1
    # The last point is the full model: on the noisy features it is noisy_test.
    soh = result.scores["soh"]["random_forest"]
    assert soh["learning_curve"]["1"]["mae"] == pytest.approx(soh["noisy_test"]["mae"])


def test_learning_curve_subsets_are_nested_and_seeded():
    designs = np.array([f"c{i}" for i in range(16)])
    subsets = nested_design_subsets(designs, [0.125, 0.25, 0.5, 1.0], seed=7)
    assert [len(s) for s in subsets] == [2, 4, 8, 16]
    for smaller, larger in zip(subsets, subsets[1:]):
        assert list(larger[: len(smaller)]) == list(smaller)
    again = nested_design_subsets(designs[::-1], [0.125, 0.25, 0.5, 1.0], seed=7)
    assert all(list(a) == list(b) for a, b in zip(subsets, again))
    assert [len(s) for s in nested_design_subsets(designs[:3], [0.125, 1.0], seed=7)] == [1, 3]


def test_bootstrap_intervals_resample_designs_and_contain_the_point_estimate(trained_noisy):
    _, result = trained_noisy
    for target, entries in result.scores.items():
        for model in MODELS:
            entry = entries.get(model)
            if entry is None:
                continue
            for way in ("test", "noisy_test"):
                ci = entry[f"{way}_ci"]
                for score in ("mae", "rmse"):
                    assert ci[f"{score}_low"] <= entry[way][score] <= ci[f"{score}_high"], (target, model, way)
            for point in entry["learning_curve"].values():
                assert point["mae_low"] <= point["mae"] <= point["mae_high"]
    assert [fraction_label(f) for f in (0.125, 0.25, 0.5, 1.0, 0.3)] == ["1/8", "1/4", "1/2", "1", "3/10"]
    counts = design_resamples(np.array(["a", "b", "c", "d"]), 50, seed=7)
    assert counts.shape == (50, 4) and (counts.sum(axis=1) == 4).all()
    assert np.array_equal(counts, design_resamples(np.array(["a", "b", "c", "d"]), 50, seed=7))


def test_interval_of_identical_designs_is_the_point():
    # One design's error repeated: every resample gives the same MAE.
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    predicted = truth + 0.5
    designs, index = np.unique(np.array(["a", "a", "b", "b"]), return_inverse=True)
    counts = design_resamples(designs, 200, seed=1)
    from agingset.train import _design_sums, _resampled_scores, interval

    bounds = interval(_resampled_scores(_design_sums(truth, predicted, index, 2), counts), 0.95)
    assert bounds["mae_low"] == pytest.approx(0.5) and bounds["mae_high"] == pytest.approx(0.5)


def test_a_feature_missing_on_every_row_of_a_learning_curve_subset_is_no_crash(config, tiny_params):
    """A spectrum masked for the few designs of the smallest subset leaves a feature all-NaN there:
    histogram boosting cannot bin it, so it sits that point out instead of crashing the stage."""
    table = _table()
    train_designs = sorted(table.loc[table["split"] == "train", "cell_design_id"].unique())
    first = nested_design_subsets(np.array(train_designs), [0.125], tiny_params.seed)[0]
    table["sparse"] = np.where(table["cell_design_id"].isin(first), np.nan, table["rpt_q_ah"])
    result = train_baselines(table, [*FEATURES, "sparse"], config, tiny_params.seed)
    curve = result.scores["soh"]["hist_gradient_boosting"]["learning_curve"]
    assert [point["train_designs"] for point in curve.values()] == sorted(p["train_designs"] for p in curve.values())
    assert all(np.isfinite(point["mae"]) for point in curve.values())

"""metrics/summary.json: a short headline with the best model's held-out scores and intervals."""

import json

from agingset.summary import summarise

QUALITY = {"samples": 24, "snapshots": 88, "snapshots_usable": 80, "failure_rate": 0.083333}
SPLIT = {"groups_test": 3, "groups_train": 9}


def _entry(mae, noisy_mae):
    return {
        "test": {"mae": mae, "rmse": mae * 1.2, "r2": 0.9},
        "test_ci": {"designs": 3, "mae_low": mae * 0.5, "mae_high": mae * 2},
        "noisy_test": {"mae": noisy_mae, "rmse": noisy_mae * 1.2, "r2": 0.8},
        "noisy_test_ci": {"designs": 3, "mae_low": noisy_mae * 0.5, "mae_high": noisy_mae * 2},
        "learning_curve": {"1": {"mae": noisy_mae}},
    }


TRAIN = {
    "features": 40,
    "soh": {"rows_test": 12, "dummy": _entry(0.05, 0.05), "random_forest": _entry(0.010, 0.012),
            "hist_gradient_boosting": _entry(0.008, 0.015)},
    "lli_pct": {"rows_test": 12, "dummy": _entry(1.0, 1.0), "random_forest": _entry(0.2, 0.3)},
    "rul80_cycles": {"rows_test": 3, "random_forest": _entry(5, 6)},
}


def test_summary_is_short_and_picks_the_best_model_on_noisy_features():
    summary = summarise(QUALITY, SPLIT, TRAIN)
    assert summary["usable_share"] == round(80 / 88, 6) and summary["failure_rate"] == 0.083333
    assert summary["samples"] == 24 and summary["held_out_designs"] == 3
    soh = summary["soh"]
    # Best by noisy held-out MAE (random forest 0.012 < boosting 0.015), not by the clean 0.008.
    assert soh["model"] == "random_forest" and soh["features"] == "noisy"
    assert soh["mae_low"] <= soh["mae"] <= soh["mae_high"]
    assert soh["mae_clean_features"] == 0.010 and soh["dummy_mae"] == 0.05
    assert set(summary) == {"samples", "snapshots", "usable_share", "failure_rate", "held_out_designs",
                            "train_designs", "soh", "lli_pct"}
    assert len(json.dumps(summary, indent=2).splitlines()) < 60


def test_real_data_errors_appear_when_calibration_reports_them():
    assert "calibration" not in summarise(QUALITY, SPLIT, TRAIN, {"converged": True})
    calibration = {"rmse_fitted": 0.0102, "held_out": {"rate_1c_25c": {"rmse_v": 0.03, "note": "text"}}}
    errors = summarise(QUALITY, SPLIT, TRAIN, calibration)["calibration"]
    assert errors == {"fit_rmse_v": 0.0102, "held_out/rate_1c_25c/rmse_v": 0.03}


def test_clean_scores_are_the_headline_when_the_dataset_has_no_noisy_features():
    clean = {"soh": {"dummy": {"test": {"mae": 0.05, "r2": 0.0}},
                     "random_forest": {"test": {"mae": 0.01, "r2": 0.9}, "test_ci": {"mae_low": 0.005, "mae_high": 0.02}}}}
    soh = summarise(QUALITY, SPLIT, clean)["soh"]
    assert soh == {"model": "random_forest", "features": "clean", "mae": 0.01, "mae_low": 0.005, "mae_high": 0.02,
                   "r2": 0.9, "dummy_mae": 0.05}

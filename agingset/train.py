"""Baseline regressors on the train part, scored on the held-out part."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from .labels import RUL_SIMULATED
from .params import TrainConfig


def _models(config: TrainConfig, seed: int) -> dict:
    return {
        "dummy_mean": DummyRegressor(strategy="mean"),
        "random_forest": RandomForestRegressor(
            n_estimators=config.n_estimators, max_depth=config.max_depth, random_state=seed, n_jobs=1
        ),
    }


def feature_columns(features: pd.DataFrame) -> list[str]:
    return [column for column in features.columns if column not in ("sample_id", "snapshot")]


def train_baselines(
    table: pd.DataFrame, features: list[str], config: TrainConfig, seed: int
) -> tuple[dict, pd.DataFrame]:
    """Scores per target and model, and held-out predictions (long format).

    ``table`` holds features, labels and ``split``. RUL rows whose end of life was not
    simulated are left out of the RUL target: a censored RUL is a bound, not a value.
    """
    scores: dict = {}
    predictions = []
    for target in config.targets:
        rows = table.dropna(subset=[target])
        if target == "rul80_cycles":
            rows = rows[rows["rul80_source"] == RUL_SIMULATED]
        train, test = rows[rows["split"] == "train"], rows[rows["split"] == "test"]
        scores[target] = {"train_rows": len(train), "test_rows": len(test)}
        if len(train) < 2 or len(test) < 1:
            continue
        x_train = train[features].to_numpy(dtype=float)
        x_test = test[features].to_numpy(dtype=float)
        # Features missing for a row (a failed spectrum) are imputed by the train median.
        medians = np.nanmedian(np.where(np.isfinite(x_train), x_train, np.nan), axis=0)
        medians = np.where(np.isfinite(medians), medians, 0.0)
        x_train = np.where(np.isfinite(x_train), x_train, medians)
        x_test = np.where(np.isfinite(x_test), x_test, medians)
        for name, model in _models(config, seed).items():
            model.fit(x_train, train[target].to_numpy())
            predicted = model.predict(x_test)
            truth = test[target].to_numpy()
            scores[target][name] = {
                "mae": float(mean_absolute_error(truth, predicted)),
                "rmse": float(np.sqrt(mean_squared_error(truth, predicted))),
                "r2": float(r2_score(truth, predicted)) if len(test) > 1 else float("nan"),
            }
            predictions.append(
                pd.DataFrame(
                    {
                        "sample_id": test["sample_id"].to_numpy(),
                        "snapshot": test["snapshot"].to_numpy(),
                        "target": target,
                        "model": name,
                        "true": truth,
                        "predicted": predicted,
                    }
                )
            )
    return scores, pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame()

"""Baseline regressors scored on held-out cell designs, next to a naive random row split.

For every target and model the same estimator is scored four ways:

- ``test``: fitted on the train part, scored on the held-out part (whole cell designs);
- ``cv``: GroupKFold by cell design on the train part (out-of-fold predictions pooled);
- ``random_test``: the same rows (train + test) split at random into parts of the same sizes;
- ``random_cv``: KFold on rows of the train part.

A random row split puts snapshots of one trajectory on both sides, so ``random_*`` shows
how much a naive split inflates the scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from sklearn.base import clone
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import GroupKFold, KFold, ShuffleSplit, cross_val_predict
from threadpoolctl import threadpool_limits

from .labels import LABEL_COLUMNS, RUL_CENSORED
from .params import TrainConfig

KEYS = ["sample_id", "snapshot"]
GROUP = "cell_design_id"
RUL = "rul80_cycles"
NOT_FEATURES = {*KEYS, GROUP, "split", "sample_index", "cycle", "rul80_source", *LABEL_COLUMNS}


def feature_columns(features: pd.DataFrame, label_columns) -> list[str]:
    """Numeric observables only: never a label, an id or a provenance (``m_``) column.

    ``label_columns`` are the columns of the labels table: whatever is a label there is
    never a feature, even if a features table grows a column of the same name.
    """
    forbidden = NOT_FEATURES | set(label_columns)
    return [
        column
        for column in features.columns
        if column not in forbidden
        and not column.startswith("m_")
        and (is_numeric_dtype(features[column]) or is_bool_dtype(features[column]))
    ]


def make_model(name: str, config: TrainConfig, seed: int):
    if name == "dummy":
        return DummyRegressor(strategy="mean")
    if name == "random_forest":
        return RandomForestRegressor(
            n_estimators=config.n_estimators, max_depth=config.max_depth, random_state=seed, n_jobs=1
        )
    if name == "hist_gradient_boosting":
        return HistGradientBoostingRegressor(
            max_iter=config.n_estimators, max_depth=config.max_depth, random_state=seed, early_stopping=False
        )
    raise ValueError(f"unknown model {name!r}")


def scores(truth: np.ndarray, predicted: np.ndarray) -> dict:
    # R² is undefined on fewer than two rows or a constant truth: reported as null.
    defined = len(truth) > 1 and np.ptp(truth) > 0
    return {
        "mae": float(mean_absolute_error(truth, predicted)),
        "rmse": float(np.sqrt(mean_squared_error(truth, predicted))),
        "r2": float(r2_score(truth, predicted)) if defined else None,
    }


def _matrix(rows: pd.DataFrame, features: list[str]) -> np.ndarray:
    """Features as floats; missing or infinite values become NaN, which both tree models handle."""
    x = rows[features].to_numpy(dtype=float)
    return np.where(np.isfinite(x), x, np.nan)


def _cv_scores(model, x: np.ndarray, y: np.ndarray, splitter, groups=None) -> dict | None:
    try:
        predicted = cross_val_predict(clone(model), x, y, cv=splitter, groups=groups)
    except ValueError:  # fewer rows or groups than folds
        return None
    return scores(y, predicted)


@dataclass(frozen=True)
class TrainingResult:
    scores: dict  # target -> rows, model -> {test, cv, random_test, random_cv}
    predictions: pd.DataFrame  # held-out predictions, long: target, model, part, true, predicted
    # Impurity importance of the random forest. Permutation importance on the held-out part
    # would be more direct but costs one predict per feature and repeat (minutes on the defaults).
    importance: pd.DataFrame


def _target_rows(table: pd.DataFrame, target: str, config: TrainConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows fitted and scored as values, and rows whose label is only a lower bound."""
    rows = table[table[target].notna()]
    if target != RUL:
        return rows, rows.iloc[:0]
    return rows[rows["rul80_source"].isin(config.rul_sources)], rows[rows["rul80_source"] == RUL_CENSORED]


def train_baselines(table: pd.DataFrame, features: list[str], config: TrainConfig, seed: int) -> TrainingResult:
    """Fit and score every model on every target.

    ``table`` holds one row per (sample_id, snapshot) with the features, the labels, the
    group and ``split``. RUL rows whose source is not in ``config.rul_sources`` are not
    fitted; censored ones are scored as bounds (``censored_below_bound_rate``: share of
    held-out censored rows predicted below the cycles they are known to survive).
    """
    # On a few hundred rows OpenMP threads cost more than they save (8x slower boosting fits
    # measured on 2 busy cores); one thread also keeps the scores independent of the machine.
    with threadpool_limits(limits=1):
        return _train_baselines(table, features, config, seed)


def _train_baselines(table: pd.DataFrame, all_features: list[str], config: TrainConfig, seed: int) -> TrainingResult:
    table = table.sort_values(KEYS).reset_index(drop=True)
    results: dict = {}
    predictions, importances = [], []
    for target in config.targets:
        rows, censored = _target_rows(table, target, config)
        parts = {part: rows[rows["split"] == part] for part in ("train", "validation", "test")}
        train, test = parts["train"], parts["test"]
        result = {f"rows_{part}": len(frame) for part, frame in parts.items()}
        censored_test = censored[censored["split"] == "test"]
        if target == RUL:
            result["rows_censored_test"] = len(censored_test)
        results[target] = result
        if len(train) < 2 or len(test) < 1:
            continue
        # A feature missing on every training row (e.g. an impedance-arc fit that found no arc)
        # carries nothing to learn and breaks histogram binning: left out for this target.
        features = [name for name in all_features if train[name].notna().any()]
        x_train, y_train = _matrix(train, features), train[target].to_numpy(dtype=float)
        groups = train[GROUP].to_numpy()
        folds = min(config.cv_folds, len(np.unique(groups)))
        pool = pd.concat([train, test])
        random_train, random_test = next(ShuffleSplit(n_splits=1, test_size=len(test), random_state=seed).split(pool))
        x_pool, y_pool = _matrix(pool, features), pool[target].to_numpy(dtype=float)
        for name in config.models:
            model = make_model(name, config, seed).fit(x_train, y_train)
            entry = {}
            for part in ("test", "validation"):
                frame = parts[part]
                if len(frame) == 0:
                    continue
                predicted = model.predict(_matrix(frame, features))
                entry[part] = scores(frame[target].to_numpy(dtype=float), predicted)
                predictions.append(
                    frame[[*KEYS, GROUP]].assign(
                        target=target, model=name, part=part, true=frame[target].to_numpy(dtype=float),
                        predicted=predicted,
                    )
                )
            if len(censored_test):
                below = model.predict(_matrix(censored_test, features)) < censored_test[target].to_numpy()
                entry["censored_below_bound_rate"] = float(below.mean())
            entry["cv"] = _cv_scores(model, x_train, y_train, GroupKFold(n_splits=max(folds, 2)), groups)
            entry["random_cv"] = _cv_scores(
                model, x_train, y_train, KFold(n_splits=max(folds, 2), shuffle=True, random_state=seed)
            )
            naive = clone(model).fit(x_pool[random_train], y_pool[random_train])
            entry["random_test"] = scores(y_pool[random_test], naive.predict(x_pool[random_test]))
            results[target][name] = {key: value for key, value in entry.items() if value is not None}
            if name == "random_forest":
                importances.append(
                    pd.DataFrame({"feature": features, "importance": model.feature_importances_}).assign(
                        target=target, model=name
                    )
                )
    prediction_columns = [*KEYS, GROUP, "target", "model", "part", "true", "predicted"]
    importance_columns = ["target", "model", "feature", "importance"]
    return TrainingResult(
        results,
        pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame(columns=prediction_columns),
        pd.concat(importances, ignore_index=True)[importance_columns].sort_values(
            ["target", "model", "importance", "feature"], ascending=[True, True, False, True], kind="stable"
        )
        if importances
        else pd.DataFrame(columns=importance_columns),
    )


"""Baseline regressors scored on held-out cell designs, next to a naive random row split.

For every target and model the same estimator is scored two ways, four with
``train.cv_folds`` > 0:

- ``test``: fitted on the train part, scored on the held-out part (whole cell designs);
- ``random_test``: the same rows (train + test) split at random into parts of the same sizes;
- ``cv``: GroupKFold by cell design on the train part (out-of-fold predictions pooled);
- ``random_cv``: KFold on rows of the train part.

A random row split puts snapshots of one trajectory on both sides, so ``random_*`` shows
how much a naive split inflates the scores.

Instrument noise (``noisy_`` feature columns, :mod:`agingset.noise`): ``noisy_test`` is the
same estimator fitted on the noisy train features and scored on the noisy held-out ones
(what a model trained on simulated data and applied to a real instrument's data can reach);
``clean_trained_noisy_test`` scores the clean-trained model on the noisy held-out features
(how much a model trained on exact simulator outputs loses on measured ones).

How much data is enough: ``learning_curve`` refits on nested, seeded subsets of the
training cell designs (``train.learning_curve_fractions``), every point scored on the same
held-out designs, with the noisy features when the dataset has them. Confidence intervals
(``*_ci`` and the ``*_low``/``*_high`` of each learning-curve point) bootstrap the held-out
cell designs: designs are resampled with replacement, never rows, because rows of one
design are not independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from sklearn.base import clone
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import GroupKFold, KFold, ShuffleSplit, cross_val_predict
from threadpoolctl import threadpool_limits

from .catalog import GROUP, KEYS, LABEL_COLUMNS, RUL_CENSORED
from .noise import feature_views
from .params import TrainConfig

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


# Relative CPU of one (target, model) task per training row: a forest task took 1.2x a boosting one at
# 200 samples and 2.6x at 1,000 (SOH, single thread); a dummy nothing.
FIT_COST = {"dummy": 0.0, "random_forest": 2.0, "hist_gradient_boosting": 1.0}


def make_model(name: str, config: TrainConfig, seed: int):
    if name == "dummy":
        return DummyRegressor(strategy="mean")
    if name == "random_forest":
        return RandomForestRegressor(
            n_estimators=config.n_estimators, max_depth=config.max_depth, max_features=config.max_features,
            random_state=seed, n_jobs=1,
        )
    if name == "hist_gradient_boosting":
        return HistGradientBoostingRegressor(
            max_iter=config.n_estimators, max_depth=config.max_depth, max_bins=config.max_bins,
            random_state=seed, early_stopping=False,
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


BOOTSTRAP_STREAM = 1
LEARNING_CURVE_STREAM = 2


def fraction_label(fraction: float) -> str:
    """A share as people read it: ``1/8``, ``1/4``, ``1/2``, ``1`` (or the decimal when not a simple fraction)."""
    from fractions import Fraction

    simple = Fraction(fraction).limit_denominator(64)
    return str(simple) if abs(float(simple) - fraction) < 1e-9 else f"{fraction:g}"


def design_resamples(designs: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """(resamples, designs) counts: how often each held-out design is drawn in each bootstrap
    resample (designs drawn with replacement, as many as there are). Seeded; the same designs
    give the same resamples, so every model and learning-curve point shares them."""
    rng = np.random.default_rng([seed, BOOTSTRAP_STREAM])
    drawn = rng.integers(0, len(designs), size=(resamples, len(designs)))
    counts = np.zeros((resamples, len(designs)))
    np.add.at(counts, (np.arange(resamples)[:, None], drawn), 1.0)
    return counts


def _design_sums(truth: np.ndarray, predicted: np.ndarray, design_index: np.ndarray, designs: int) -> np.ndarray:
    """Per held-out design: rows, sum |error|, sum error², sum y, sum y² (5 x designs)."""
    error = predicted - truth
    return np.stack(
        [
            np.bincount(design_index, weights=weight, minlength=designs)
            for weight in (np.ones_like(truth), np.abs(error), error**2, truth, truth**2)
        ]
    )


def _resampled_scores(sums: np.ndarray, counts: np.ndarray) -> dict[str, np.ndarray]:
    """MAE, RMSE and R² of each resample (rows of ``counts``) from per-design sums."""
    rows, absolute, squared, total, total_sq = sums @ counts.T  # each (resamples,)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = total_sq - total**2 / rows
        r2 = np.where(spread > 1e-12 * np.maximum(total_sq, 1e-300), 1.0 - squared / spread, np.nan)
        return {"mae": absolute / rows, "rmse": np.sqrt(squared / rows), "r2": r2}


def interval(resampled: dict[str, np.ndarray], level: float) -> dict:
    """Percentile interval of each score over the resamples (``<score>_low``, ``<score>_high``)."""
    tail = (1.0 - level) / 2.0
    result = {}
    for name, values in resampled.items():
        finite = values[np.isfinite(values)]
        if len(finite) < 2:
            continue
        low, high = np.quantile(finite, [tail, 1.0 - tail])
        result[f"{name}_low"], result[f"{name}_high"] = float(low), float(high)
    return result


@dataclass(frozen=True)
class HeldOut:
    """The held-out rows of one target with their design index and the shared bootstrap resamples."""

    rows: pd.DataFrame
    truth: np.ndarray
    design_index: np.ndarray
    designs: int
    counts: np.ndarray

    @classmethod
    def of(cls, rows: pd.DataFrame, target: str, config: TrainConfig, seed: int) -> "HeldOut":
        designs, index = np.unique(rows[GROUP].to_numpy().astype(str), return_inverse=True)
        return cls(
            rows, rows[target].to_numpy(dtype=float), index, len(designs),
            design_resamples(designs, config.bootstrap_resamples, seed),
        )

    def resampled(self, predicted: np.ndarray) -> dict[str, np.ndarray]:
        return _resampled_scores(_design_sums(self.truth, predicted, self.design_index, self.designs), self.counts)

    def confidence(self, predicted: np.ndarray, level: float) -> dict:
        return {"designs": self.designs, **interval(self.resampled(predicted), level)}


def nested_design_subsets(designs: np.ndarray, fractions: list[float], seed: int) -> list[np.ndarray]:
    """For each fraction, the first ceil(fraction x designs) designs (at least one) of one seeded
    permutation: every subset contains the smaller ones."""
    designs = np.sort(np.unique(np.asarray(designs).astype(str)))
    order = np.random.default_rng([seed, LEARNING_CURVE_STREAM]).permutation(designs)
    return [order[: max(1, int(np.ceil(fraction * len(designs) - 1e-9)))] for fraction in fractions]


def learning_curve(
    model, train: pd.DataFrame, held_out: HeldOut, features: list[str], target: str, config: TrainConfig, seed: int,
    fitted_on_all=None,
) -> dict:
    """Scores vs number of training cell designs, each point refitted on a nested subset and
    scored (with its bootstrap interval) on the same held-out designs. Keyed by the share as a
    decimal (``0.125`` ... ``1``), which sorts in training-size order in the sorted JSON.
    ``fitted_on_all``: ``model`` already fitted on every train row with ``features``, the
    point at share 1 (the same fit: not repeated)."""
    points = {}
    designs = train[GROUP].to_numpy().astype(str)
    every_design = len(np.unique(designs))
    for fraction, subset in zip(
        config.learning_curve_fractions, nested_design_subsets(designs, config.learning_curve_fractions, seed)
    ):
        rows = train[np.isin(designs, subset)]
        # A small subset can miss a feature on every row (a spectrum masked for all its designs):
        # nothing to learn from it, and histogram binning fails on it.
        present = [name for name in features if rows[name].notna().any()]
        if fitted_on_all is not None and len(subset) == every_design and present == features:
            fitted = fitted_on_all
        else:
            fitted = clone(model).fit(_matrix(rows, present), rows[target].to_numpy(dtype=float))
        predicted = fitted.predict(_matrix(held_out.rows, present))
        points[f"{fraction:g}"] = {
            "train_fraction": float(fraction),
            "train_designs": int(len(subset)),
            "train_rows": int(len(rows)),
            "test_designs": held_out.designs,
            "test_rows": int(len(held_out.truth)),
            **scores(held_out.truth, predicted),
            **interval(held_out.resampled(predicted), config.confidence_level),
        }
    return points


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


@dataclass(frozen=True)
class _TargetData:
    """What every model of one target is fitted and scored on."""

    target: str
    parts: dict[str, pd.DataFrame]  # train / validation / test rows with a value
    censored_test: pd.DataFrame
    features: list[str]
    noisy: list[str] | None


def _target_data(
    table: pd.DataFrame, target: str, clean_features: list[str], noisy_features: list[str] | None,
    config: TrainConfig,
) -> tuple[dict, _TargetData | None]:
    """The target's row counts, and what its models are fitted on (None: too few rows to fit)."""
    rows, censored = _target_rows(table, target, config)
    parts = {part: rows[rows["split"] == part] for part in ("train", "validation", "test")}
    censored_test = censored[censored["split"] == "test"]
    counts = {f"rows_{part}": len(frame) for part, frame in parts.items()}
    if target == RUL:
        counts["rows_censored_test"] = len(censored_test)
    train, test = parts["train"], parts["test"]
    if len(train) < 2 or len(test) < 1:
        return counts, None
    # A feature missing on every training row (e.g. an impedance-arc fit that found no arc)
    # carries nothing to learn and breaks histogram binning: left out for this target.
    present = [i for i, name in enumerate(clean_features) if train[name].notna().any()]
    if noisy_features is not None:
        present = [i for i in present if train[noisy_features[i]].notna().any()]
    features = [clean_features[i] for i in present]
    noisy = [noisy_features[i] for i in present] if noisy_features is not None else None
    return counts, _TargetData(target, parts, censored_test, features, noisy)


def _score_model(name: str, data: _TargetData, config: TrainConfig, seed: int):
    """One model on one target: its scores, held-out predictions and (random forest) importance."""
    # On a few hundred rows OpenMP threads cost more than they save (8x slower boosting fits
    # measured on 2 busy cores); one thread also keeps the scores independent of the machine.
    with threadpool_limits(limits=1):
        return _fit_and_score(name, data, config, seed)


def _fit_and_score(name: str, data: _TargetData, config: TrainConfig, seed: int):
    target, parts, features, noisy = data.target, data.parts, data.features, data.noisy
    train, test = parts["train"], parts["test"]
    x_train, y_train = _matrix(train, features), train[target].to_numpy(dtype=float)
    model = make_model(name, config, seed).fit(x_train, y_train)
    entry, predictions = {}, []
    for part in ("test", "validation"):
        frame = parts[part]
        if len(frame) == 0:
            continue
        predicted = model.predict(_matrix(frame, features))
        entry[part] = scores(frame[target].to_numpy(dtype=float), predicted)
        predictions.append(
            frame[[*KEYS, GROUP]].assign(part=part, true=frame[target].to_numpy(dtype=float), predicted=predicted)
        )
    held_out = HeldOut.of(test, target, config, seed)
    x_test = _matrix(test, features)
    noisy_model = None
    entry["test_ci"] = held_out.confidence(model.predict(x_test), config.confidence_level)
    if noisy is not None:
        x_test_noisy = _matrix(test, noisy)
        noisy_model = clone(model).fit(_matrix(train, noisy), y_train)
        predicted = noisy_model.predict(x_test_noisy)
        entry["noisy_test"] = scores(held_out.truth, predicted)
        entry["noisy_test_ci"] = held_out.confidence(predicted, config.confidence_level)
        entry["clean_trained_noisy_test"] = scores(held_out.truth, model.predict(x_test_noisy))
    entry["learning_curve"] = learning_curve(
        model, train, held_out, noisy if noisy is not None else features, target, config, seed,
        fitted_on_all=noisy_model if noisy is not None else model,
    )
    if len(data.censored_test):
        censored = data.censored_test
        below = model.predict(_matrix(censored, features)) < censored[target].to_numpy()
        entry["censored_below_bound_rate"] = float(below.mean())
    if config.cv_folds:
        groups = train[GROUP].to_numpy()
        folds = min(config.cv_folds, len(np.unique(groups)))
        entry["cv"] = _cv_scores(model, x_train, y_train, GroupKFold(n_splits=max(folds, 2)), groups)
        entry["random_cv"] = _cv_scores(
            model, x_train, y_train, KFold(n_splits=max(folds, 2), shuffle=True, random_state=seed)
        )
    pool = pd.concat([train, test])
    x_pool, y_pool = _matrix(pool, features), pool[target].to_numpy(dtype=float)
    random_train, random_test = next(ShuffleSplit(n_splits=1, test_size=len(test), random_state=seed).split(pool))
    naive = clone(model).fit(x_pool[random_train], y_pool[random_train])
    entry["random_test"] = scores(y_pool[random_test], naive.predict(x_pool[random_test]))
    importance = (
        pd.DataFrame({"feature": features, "importance": model.feature_importances_})
        if name == "random_forest"
        else None
    )
    return {key: value for key, value in entry.items() if value is not None}, predictions, importance


def train_baselines(
    table: pd.DataFrame, features: list[str], config: TrainConfig, seed: int, workers: int = 1
) -> TrainingResult:
    """Fit and score every model on every target.

    ``table`` holds one row per (sample_id, snapshot) with the features, the labels, the
    group and ``split``. RUL rows whose source is not in ``config.rul_sources`` are not
    fitted; censored ones are scored as bounds (``censored_below_bound_rate``: share of
    held-out censored rows predicted below the cycles they are known to survive).
    The (target, model) pairs run on ``workers`` processes; every fit is seeded and
    single-threaded, so the scores do not depend on ``workers``.
    """
    table = table.sort_values(KEYS).reset_index(drop=True)
    views = feature_views(features)
    results: dict = {}
    tasks = []
    for target in config.targets:
        results[target], data = _target_data(table, target, views["clean"], views.get("noisy"), config)
        if data is not None:
            tasks += [(target, name, data) for name in config.models]
    # Longest first: the last task to finish is a short one, not a forest started when the other worker
    # is already idle. Every fit is seeded, so the order changes no number.
    order = sorted(range(len(tasks)), key=lambda i: -FIT_COST.get(tasks[i][1], 1.0) * len(tasks[i][2].parts["train"]))
    finished = Parallel(n_jobs=min(workers, max(len(tasks), 1)))(
        delayed(_score_model)(tasks[i][1], tasks[i][2], config, seed) for i in order
    )
    outcomes = [outcome for _, outcome in sorted(zip(order, finished), key=lambda pair: pair[0])]
    predictions, importances = [], []
    for (target, name, _), (entry, predicted, importance) in zip(tasks, outcomes):
        results[target][name] = entry
        predictions.extend(frame.assign(target=target, model=name) for frame in predicted)
        if importance is not None:
            importances.append(importance.assign(target=target, model=name))
    prediction_columns = [*KEYS, GROUP, "target", "model", "part", "true", "predicted"]
    importance_columns = ["target", "model", "feature", "importance"]
    return TrainingResult(
        results,
        pd.concat(predictions, ignore_index=True)[prediction_columns]
        if predictions
        else pd.DataFrame(columns=prediction_columns),
        pd.concat(importances, ignore_index=True)[importance_columns].sort_values(
            ["target", "model", "importance", "feature"], ascending=[True, True, False, True], kind="stable"
        )
        if importances
        else pd.DataFrame(columns=importance_columns),
    )


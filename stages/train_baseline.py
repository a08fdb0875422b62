"""train_baseline: baselines scored on held-out cell designs next to a random row split.

Writes metrics/train.json, data/train/ (held-out predictions, feature importance) and
the CSV files `dvc plots` renders: predicted vs true, importance bars and the learning curve
(held-out MAE and its interval vs training cell designs) per target and model.
"""

import pandas as pd

from agingset.train import KEYS, feature_columns, feature_views, train_baselines
from stages._io import atomic_path, run_stage, write_json

FEATURES = "data/labels/features.parquet"
LABELS = "data/labels/labels.parquet"
SPLIT = "data/split/split.parquet"
OUTPUT = "data/train"
METRICS = "metrics/train.json"
PLOTTED_FEATURES = 20


def main(params):
    features = pd.read_parquet(FEATURES)
    labels = pd.read_parquet(LABELS)
    split = pd.read_parquet(SPLIT, columns=[*KEYS, "cell_design_id", "split"])
    names = feature_columns(features, labels.columns)
    targets = [*params.train.targets, "rul80_source"]
    table = split.merge(features[[*KEYS, *names]], on=KEYS).merge(labels[[*KEYS, *targets]], on=KEYS)
    result = train_baselines(table, names, params.train, params.seed)

    with atomic_path(OUTPUT, directory=True) as directory:
        result.predictions.to_parquet(directory / "predictions.parquet", index=False)
        result.importance.to_csv(directory / "feature_importance.csv", index=False)
        for kind in ("predicted_vs_true", "importance", "learning_curve"):
            (directory / "plots" / kind).mkdir(parents=True)
        predictions = result.predictions
        held_out = predictions[(predictions["part"] == "test") & (predictions["model"] != "dummy")]
        for (target, model), rows in held_out.groupby(["target", "model"]):
            rows[["sample_id", "snapshot", "true", "predicted"]].to_csv(
                directory / "plots" / "predicted_vs_true" / f"{target}.{model}.csv", index=False
            )
        for (target, model), rows in result.importance.groupby(["target", "model"]):
            top = rows.head(PLOTTED_FEATURES)[["feature", "importance"]]
            top.to_csv(directory / "plots" / "importance" / f"{target}.{model}.csv", index=False)
        for target, entries in result.scores.items():
            for model, entry in entries.items():
                if isinstance(entry, dict) and "learning_curve" in entry:
                    curve = pd.DataFrame(list(entry["learning_curve"].values()))
                    curve.to_csv(directory / "plots" / "learning_curve" / f"{target}.{model}.csv", index=False)
    sides = split["split"].value_counts().sort_index()
    views = feature_views(names)
    write_json(
        {
            "features": len(views["clean"]),
            "noisy_features": sum(name.startswith("noisy_") for name in names),
            "learning_curve_features": "noisy" if "noisy" in views else "clean",
            "rows": {side: int(n) for side, n in sides.items()},
            **result.scores,
        },
        METRICS,
    )


if __name__ == "__main__":
    run_stage(main)

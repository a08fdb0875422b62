"""train_baseline: baselines scored on held-out cell designs next to a random row split.

Writes metrics/train.json, data/train/ (held-out predictions, feature importance) and
the CSV files `dvc plots` renders: predicted vs true and importance bars per target and model.
"""

import pandas as pd

from agingset.catalog import FEATURES, KEYS, LABELS, SPLIT
from agingset.catalog import METRICS as _METRICS
from agingset.catalog import TRAIN_DIR as OUTPUT
from agingset.train import feature_columns, train_baselines
from stages._io import atomic_path, run_stage, write_json

METRICS = _METRICS["train"]
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
        for kind in ("predicted_vs_true", "importance"):
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
    sides = split["split"].value_counts().sort_index()
    write_json({"features": len(names), "rows": {side: int(n) for side, n in sides.items()}, **result.scores}, METRICS)


if __name__ == "__main__":
    run_stage(main)

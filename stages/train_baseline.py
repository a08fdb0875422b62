"""train_baseline: baselines scored on held-out cell designs next to a random row split.

Writes metrics/train.json, data/train/ (held-out predictions, feature importance) and
the CSV files `dvc plots` renders: predicted vs true, importance bars and the learning curve
(held-out MAE and its interval vs training cell designs) per target and model.
"""

import pandas as pd

from agingset.catalog import CHECKED_SPECTRA, FEATURES, KEYS, LABELS, SPLIT
from agingset.catalog import METRICS as _METRICS
from agingset.catalog import TRAIN_DIR as OUTPUT
from agingset.executor import Settings
from agingset.quality import features_out_of_range, mask_unusable_spectra
from agingset.train import feature_columns, feature_views, train_baselines
from stages._io import StageError, atomic_path, run_stage, write_json

METRICS = _METRICS["train"]
PLOTTED_FEATURES = 20


def main(params):
    features = mask_unusable_spectra(pd.read_parquet(FEATURES), pd.read_parquet(CHECKED_SPECTRA))
    labels = pd.read_parquet(LABELS)
    split = pd.read_parquet(SPLIT, columns=[*KEYS, "cell_design_id", "split"])
    names = feature_columns(features, labels.columns)
    targets = [*params.train.targets, "rul80_source"]
    table = split.merge(features[[*KEYS, *names]], on=KEYS).merge(labels[[*KEYS, *targets]], on=KEYS)
    out_of_range = features_out_of_range(table[[*KEYS, *names]])["out_of_range"]
    if out_of_range.any():
        first = table.loc[out_of_range.to_numpy(), KEYS].iloc[0]
        raise StageError(
            f"{int(out_of_range.sum())} split rows carry an infinite or out-of-range feature (first: sample "
            f"{first['sample_id']} snapshot {first['snapshot']}); validate should have flagged them: rerun validate"
        )
    result = train_baselines(table, names, params.train, params.seed, Settings.from_env().workers)

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

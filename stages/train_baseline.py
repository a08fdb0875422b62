"""train_baseline: dummy and random-forest baselines, scored on the held-out groups."""

import pandas as pd

from agingset.train import feature_columns, train_baselines
from stages._io import run_stage, write_json, write_parquet, write_text

FEATURES = "data/labels/features.parquet"
LABELS = "data/labels/labels.parquet"
SPLIT = "data/split/split.parquet"
PREDICTIONS = "data/train/predictions.parquet"
PREDICTIONS_CSV = "data/train/predictions.csv"  # what `dvc plots` reads
METRICS = "metrics/train.json"


def main(params):
    features = pd.read_parquet(FEATURES)
    labels = pd.read_parquet(LABELS)
    split = pd.read_parquet(SPLIT, columns=["sample_id", "snapshot", "split"])
    keys = ["sample_id", "snapshot"]
    table = split.merge(features, on=keys).merge(labels, on=keys, suffixes=("", "_label"))
    scores, predictions = train_baselines(table, feature_columns(features), params.train, params.seed)
    write_parquet(predictions, PREDICTIONS)
    write_text(predictions.to_csv(index=False), PREDICTIONS_CSV)
    write_json(scores, METRICS)


if __name__ == "__main__":
    run_stage(main)

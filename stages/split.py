"""split: group train/test split of the usable rows (data/split/split.parquet)."""

import pandas as pd

from agingset.split import group_split, leakage
from stages._io import StageError, run_stage, write_json, write_parquet

LABELS = "data/labels/labels.parquet"
FLAGS = "data/validate/flags.parquet"
OUTPUT = "data/split/split.parquet"
METRICS = "metrics/split.json"
GROUP = "cell_design_id"


def main(params):
    labels = pd.read_parquet(LABELS, columns=["sample_id", "snapshot", GROUP])
    flags = pd.read_parquet(FLAGS, columns=["sample_id", "snapshot", "usable"])
    usable = labels.merge(flags, on=["sample_id", "snapshot"])
    usable = usable[usable["usable"]].drop(columns="usable")
    try:
        split = group_split(usable, params.split, params.seed, GROUP)
    except ValueError as err:
        raise StageError(str(err)) from None
    leaked = {GROUP: leakage(split, GROUP), "sample_id": leakage(split, "sample_id")}
    if any(leaked.values()):
        raise StageError(f"split leaks groups across sides: {leaked}")
    write_parquet(split, OUTPUT)
    counts = split["split"].value_counts()
    write_json(
        {
            "rows_train": int(counts.get("train", 0)),
            "rows_test": int(counts.get("test", 0)),
            "groups_train": int(split.loc[split["split"] == "train", GROUP].nunique()),
            "groups_test": int(split.loc[split["split"] == "test", GROUP].nunique()),
            "leakage_groups": leaked[GROUP],
            "leakage_samples": leaked["sample_id"],
        },
        METRICS,
    )


if __name__ == "__main__":
    run_stage(main)

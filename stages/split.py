"""split: leakage-free split of the usable rows (data/split/split.parquet) and metrics/split.json."""

import pandas as pd

from agingset.catalog import DESIGN, FLAGS, GROUP, KEYS, LABELS
from agingset.catalog import METRICS as _METRICS
from agingset.catalog import SPLIT as OUTPUT
from agingset.split import split_metrics, split_rows
from stages._io import StageError, run_stage, write_json, write_parquet

METRICS = _METRICS["split"]


def main(params):
    labels = pd.read_parquet(LABELS, columns=[*KEYS, GROUP])
    flags = pd.read_parquet(FLAGS, columns=[*KEYS, "usable"])
    usable = labels.merge(flags, on=KEYS)
    usable = usable[usable["usable"]].drop(columns="usable")
    try:
        split = split_rows(usable, pd.read_parquet(DESIGN), params.split, params.seed)
    except ValueError as err:
        raise StageError(str(err)) from None
    metrics = split_metrics(split)
    metrics["rows_flagged_out"] = len(labels) - len(usable)
    write_json(metrics, METRICS)
    leaked = {name: value for name, value in metrics.items() if name.startswith("leakage_") and value}
    if leaked:
        raise StageError(f"split leaks across sides: {leaked}")
    write_parquet(split, OUTPUT)


if __name__ == "__main__":
    run_stage(main)

"""export_hf: data/hf/<part>.parquet, the split parts as flat tables for `datasets.load_dataset`.

Every part is written with one Arrow schema (a column that is all missing in one part keeps
its type), so the Hub's viewer and `load_dataset("parquet", ...)` read them as one dataset.
"""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from agingset.export import DIRECTORY, PARTS, export_table
from stages._io import atomic_path, run_stage

FEATURES = "data/labels/features.parquet"
LABELS = "data/labels/labels.parquet"
SPLIT = "data/split/split.parquet"


def main(params):
    table = export_table(pd.read_parquet(SPLIT), pd.read_parquet(FEATURES), pd.read_parquet(LABELS))
    arrow = pa.Table.from_pandas(table.drop(columns="split"), preserve_index=False)
    with atomic_path(DIRECTORY, directory=True) as directory:
        for part in PARTS:
            mask = (table["split"] == part).to_numpy()
            if mask.any():
                pq.write_table(arrow.filter(pa.array(mask)), directory / f"{part}.parquet")


if __name__ == "__main__":
    run_stage(main)

"""Split files a Hugging Face `datasets` user (or any parquet reader) loads directly.

One flat table per split part: keys, cell design, every feature (clean and ``noisy_``),
every label and the ``m_*`` provenance of the row. Rows of the split's ``excluded`` part
(out-of-distribution held-out designs outside the region) are not exported.
"""

from __future__ import annotations

import pandas as pd

KEYS = ["sample_id", "snapshot"]
GROUP = "cell_design_id"
PARTS = ("train", "validation", "test")
DIRECTORY = "data/hf"


def part_path(part: str) -> str:
    return f"{DIRECTORY}/{part}.parquet"


def export_table(split: pd.DataFrame, features: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The usable rows of ``split`` in the exported parts, joined with their features and
    labels; sorted by part then (sample_id, snapshot); ``split`` names the part."""
    rows = split.loc[split["split"].isin(PARTS), [*KEYS, GROUP, "split"]]
    labels = labels.drop(columns=[column for column in (GROUP, "split") if column in labels])
    overlap = (set(features) & set(labels)) - set(KEYS)
    if overlap:
        raise ValueError(f"columns in both features and labels: {sorted(overlap)}")
    table = rows.merge(features, on=KEYS, how="left", validate="one_to_one").merge(
        labels, on=KEYS, how="left", validate="one_to_one"
    )
    order = {part: index for index, part in enumerate(PARTS)}
    table = table.sort_values(KEYS, kind="stable")
    return table.sort_values("split", key=lambda column: column.map(order), kind="stable").reset_index(drop=True)

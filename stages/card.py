"""card: the dataset card (markdown + figures) and the data behind the card's `dvc plots`.

The card lives under docs/ and is committed to git (a `cache: false` out), so the card of the
default dataset is readable on the repository's web page without running anything. Of the curves and
spectra it reads the rows it draws (a block of samples at a time) and their sizes, not the tables.
"""

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from agingset import catalog
from agingset.card import (
    CardInputs,
    card_files,
    card_params,
    combined_summary,
    drawn_spectra,
    showcase_samples,
    spectra_summary,
)
from agingset.export import PARTS, part_path
from stages._blocks import read_block, sample_blocks
from stages._io import atomic_path, run_stage

OUTPUT = catalog.CARD_DIR
TABLES = {
    "design": catalog.DESIGN,
    "status": catalog.STATUS,
    "labels": catalog.LABELS,
    "flags": catalog.FLAGS,
    "predictions": catalog.PREDICTIONS,
    "calibration_spectra": f"{catalog.CALIBRATION_DIR}/predictions_spectra.parquet",
    "calibration_records": f"{catalog.CALIBRATION_DIR}/predictions_records.parquet",
    "dataset_fresh_spectra": catalog.DATASET_FRESH_SPECTRA,
}
METRICS = {
    "quality": catalog.METRICS["quality"],
    "split_metrics": catalog.METRICS["split"],
    "train_metrics": catalog.METRICS["train"],
    "calibration": catalog.METRICS["calibration"],
}
METADATA = catalog.AGING_METADATA


def read_inputs(params) -> CardInputs:
    """What exists of the dataset; an absent input becomes a "not available" note in the card."""
    tables = {name: pd.read_parquet(path) for name, path in TABLES.items() if Path(path).exists()}
    design, labels = tables.get("design"), tables.get("labels")
    showcase = showcase_samples(labels) if labels is not None else []
    if Path(catalog.SPECTRA).exists():
        drawn, summaries = [], []
        for block in sample_blocks(design) if design is not None else []:
            spectra = read_block(catalog.SPECTRA, block)
            drawn.append(drawn_spectra(spectra, showcase))
            summaries.append(spectra_summary(spectra))
        if not sum(summary["points"] for summary in summaries):  # no spectrum: the (empty) table
            spectra = pd.read_parquet(catalog.SPECTRA)
            drawn, summaries = [drawn_spectra(spectra, showcase)], [spectra_summary(spectra)]
        tables["spectra"] = pd.concat(drawn, ignore_index=True)
        tables["spectra_summary"] = combined_summary(summaries)
    if Path(catalog.CURVES).exists():
        # A sample at a time: the showcase samples lie far apart in the row groups.
        curves = [read_block(catalog.CURVES, [sample_id]) for sample_id in showcase]
        tables["curves"] = pd.concat(curves, ignore_index=True) if curves else pq.read_schema(catalog.CURVES).empty_table().to_pandas()
        tables["curve_points"] = pq.read_metadata(catalog.CURVES).num_rows
    metrics = {
        name: json.loads(Path(path).read_text()) for name, path in METRICS.items() if Path(path).exists()
    }
    metadata = json.loads(Path(METADATA).read_text()) if Path(METADATA).exists() else None
    hf_parts = {part: pq.read_metadata(part_path(part)).num_rows for part in PARTS if Path(part_path(part)).exists()}
    return CardInputs(params=card_params(params), metadata=metadata, hf_parts=hf_parts, **tables, **metrics)


def write_card(inputs: CardInputs, target: str | Path = OUTPUT) -> None:
    """The card's files (:func:`agingset.card.card_files`), renamed into ``target`` once all are written."""
    with atomic_path(target, directory=True) as directory:
        for folder in ("figures", "plots"):
            (directory / folder).mkdir()
        for path, data in card_files(inputs).items():
            (directory / path).write_bytes(data)


def main(params):
    write_card(read_inputs(params))


if __name__ == "__main__":
    run_stage(main)

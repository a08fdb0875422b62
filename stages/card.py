"""card: the dataset card (markdown + figures) and the data behind the card's `dvc plots`.

The card lives under docs/ and is committed to git (a `cache: false` out), so the card of the
default dataset is readable on the repository's web page without running anything.
"""

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from agingset import catalog
from agingset.card import CardInputs, card_files, card_params
from agingset.export import PARTS, part_path
from stages._io import atomic_path, run_stage

OUTPUT = catalog.CARD_DIR
TABLES = {
    "design": catalog.DESIGN,
    "status": catalog.STATUS,
    "curves": catalog.CURVES,
    "labels": catalog.LABELS,
    "spectra": catalog.SPECTRA,
    "flags": catalog.FLAGS,
    "predictions": catalog.PREDICTIONS,
    "calibration_spectra": f"{catalog.CALIBRATION_DIR}/predictions_spectra.parquet",
    "calibration_records": f"{catalog.CALIBRATION_DIR}/predictions_records.parquet",
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

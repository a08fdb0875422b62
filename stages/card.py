"""card: the dataset card (markdown + figures) and the data behind the card's `dvc plots`.

The card lives under docs/ and is committed to git (a `cache: false` out), so the card of the
default dataset is readable on the repository's web page without running anything.
"""

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pyarrow.parquet as pq

from agingset import catalog
from agingset.card import (
    FIGURE_DPI,
    PNG_METADATA,
    CardInputs,
    build_figures,
    quality_plot_rows,
    render_card,
    soh_by_cycle,
)
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
    card_params = {
        "samples": params.samples,
        "seed": params.seed,
        "design": params.design.model_dump(),
        "eis": params.eis.model_dump(),
    }
    hf_parts = {part: pq.read_metadata(part_path(part)).num_rows for part in PARTS if Path(part_path(part)).exists()}
    return CardInputs(params=card_params, metadata=metadata, hf_parts=hf_parts, **tables, **metrics)


def write_card(inputs: CardInputs, target: str | Path = OUTPUT) -> None:
    figures = build_figures(inputs)
    with atomic_path(target, directory=True) as directory:
        (directory / "figures").mkdir()
        (directory / "plots").mkdir()
        for name, figure in figures.items():
            figure.savefig(directory / "figures" / f"{name}.png", dpi=FIGURE_DPI, metadata=PNG_METADATA)
            plt.close(figure)
        (directory / "README.md").write_text(
            render_card(inputs, {name: f"figures/{name}.png" for name in figures})
        )
        if inputs.quality:
            quality_plot_rows(inputs.quality).to_csv(directory / "plots" / "quality.csv", index=False)
        if inputs.labels is not None:
            soh_by_cycle(inputs.labels).to_csv(directory / "plots" / "soh_by_cycle.csv", index=False)


def main(params):
    write_card(read_inputs(params))


if __name__ == "__main__":
    run_stage(main)

"""labels: y per (sample_id, snapshot), the per-sample status and m_i records, and the features x.

Spectrum features are computed here from data/eis/spectra.parquet (one row per spectrum in
spectrum_features.parquet), so changing a feature function reruns this stage and never a solve.
"""

import json

import pandas as pd

from agingset.catalog import AGING_DIR as AGING
from agingset.catalog import CURVES, DESIGN, SPECTRA
from agingset.catalog import LABELS_DIR as OUTPUT
from agingset.features import dataset_features
from agingset.impedance_features import (
    sample_spectrum_features,
    spectrum_feature_table,
    spectrum_feature_tasks,
)
from agingset.labels import dataset_labels, metadata_jsonl
from agingset.noise import noisy_spectra
from stages._blocks import read_block, sample_blocks
from stages._io import atomic_path, run_stage
from stages._solve import solve_all


def per_spectrum_features(*tables: pd.DataFrame) -> list[pd.DataFrame]:
    """:func:`spectrum_feature_table` of each long spectra table, computed on the workers.

    Circuit fits cost ~15 ms per spectrum (~30 ms with lin-KK on a loaded machine): spread over the
    workers and cached per sample like the solves (keyed on the sample's spectra and the feature
    code), so growing the dataset fits only the new samples' spectra.
    """
    tasks = [spectrum_feature_tasks(table) for table in tables]
    results = solve_all(sample_spectrum_features, [task for group in tasks for task in group], "spectrum_features", None)
    tables_out, start = [], 0
    for table, group in zip(tables, tasks):
        part = results[start : start + len(group)]
        start += len(group)
        tables_out.append(pd.concat(part, ignore_index=True) if part else spectrum_feature_table(table))
    return tables_out


def block_features(design: pd.DataFrame, block: list[str], params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The features and the per-spectrum table of one block of samples."""
    spectra, curves = read_block(SPECTRA, block), read_block(CURVES, block)
    # Instrument-realistic observables beside the clean ones (noisy_ prefix): curves and spectra.
    noisy_spectra_table = noisy_spectra(spectra, params.noise, params.seed)
    per_spectrum, noisy_per_spectrum = per_spectrum_features(spectra, noisy_spectra_table)
    features = dataset_features(design, curves, spectra, per_spectrum, noisy_spectra_table, noisy_per_spectrum, params)
    return features, per_spectrum


def main(params):
    design = pd.read_parquet(DESIGN)
    aging = {name: pd.read_parquet(f"{AGING}/{name}.parquet") for name in ("status", "snapshots", "cycles", "metadata")}
    run_metadata = json.loads(open(f"{AGING}/metadata.json").read())

    labels, samples = dataset_labels(design, aging, run_metadata, params)
    metadata = metadata_jsonl(aging.pop("metadata"))
    blocks = [block_features(design, block, params) for block in sample_blocks(design)]
    if all(list(features.columns) == list(blocks[0][0].columns) for features, _ in blocks):
        features = pd.concat([features for features, _ in blocks], ignore_index=True)
        per_spectrum = pd.concat([table for _, table in blocks], ignore_index=True)
    else:  # a spectrum missing from every sample of a block: its columns are the whole dataset's, at once
        features, per_spectrum = block_features(design, sorted(design["sample_id"].astype(str)), params)
    del blocks

    with atomic_path(OUTPUT, directory=True) as directory:
        labels.to_parquet(directory / "labels.parquet", index=False)
        labels.to_csv(directory / "labels.csv", index=False)
        samples.to_parquet(directory / "samples.parquet", index=False)
        features.to_parquet(directory / "features.parquet", index=False)
        per_spectrum.to_parquet(directory / "spectrum_features.parquet", index=False)
        (directory / "metadata.jsonl").write_text(metadata)


if __name__ == "__main__":
    run_stage(main)

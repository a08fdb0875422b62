"""labels: y per (sample_id, snapshot), the per-sample status and m_i records, and the features x.

Spectrum features are computed here from data/eis/spectra.parquet (one row per spectrum in
spectrum_features.parquet), so changing a feature function reruns this stage and never a solve.
"""

import json

import pandas as pd

from agingset.catalog import AGING_DIR as AGING
from agingset.catalog import DESIGN, SPECTRA
from agingset.catalog import LABELS_DIR as OUTPUT
from agingset.features import dataset_features
from agingset.impedance_features import (
    sample_spectrum_features,
    spectrum_feature_table,
    spectrum_feature_tasks,
)
from agingset.labels import dataset_labels, metadata_jsonl
from agingset.noise import noisy_spectra
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


def main(params):
    design = pd.read_parquet(DESIGN)
    aging = {
        name: pd.read_parquet(f"{AGING}/{name}.parquet")
        for name in ("status", "snapshots", "curves", "cycles", "metadata")
    }
    run_metadata = json.loads(open(f"{AGING}/metadata.json").read())
    spectra = pd.read_parquet(SPECTRA)

    labels, samples = dataset_labels(design, aging, run_metadata, params)
    # Instrument-realistic observables beside the clean ones (noisy_ prefix): curves and spectra.
    noisy_spectra_table = noisy_spectra(spectra, params.noise, params.seed)
    per_spectrum, noisy_per_spectrum = per_spectrum_features(spectra, noisy_spectra_table)
    features = dataset_features(
        design, aging["curves"], spectra, per_spectrum, noisy_spectra_table, noisy_per_spectrum, params
    )

    with atomic_path(OUTPUT, directory=True) as directory:
        labels.to_parquet(directory / "labels.parquet", index=False)
        labels.to_csv(directory / "labels.csv", index=False)
        samples.to_parquet(directory / "samples.parquet", index=False)
        features.to_parquet(directory / "features.parquet", index=False)
        per_spectrum.to_parquet(directory / "spectrum_features.parquet", index=False)
        (directory / "metadata.jsonl").write_text(metadata_jsonl(aging["metadata"]))


if __name__ == "__main__":
    run_stage(main)

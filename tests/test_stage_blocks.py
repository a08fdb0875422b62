"""The labels stage goes through the samples block by block: the same bytes as all at once."""

import shutil

import pandas as pd
import pytest

from agingset.catalog import DESIGN
from agingset.config import load_params
from stages import _blocks as blocks
from stages import labels as labels_stage

OUTPUTS = {
    labels_stage: [f"data/labels/{name}" for name in (
        "features.parquet", "spectrum_features.parquet", "labels.parquet", "labels.csv", "samples.parquet", "metadata.jsonl"
    )],
}


@pytest.mark.parametrize("stage", [labels_stage], ids=["labels"])
def test_blocks_of_one_sample_give_the_whole_datasets_bytes(stage, tiny_dataset, tmp_path, monkeypatch):
    copy = tmp_path / "run"
    shutil.copytree(tiny_dataset, copy)
    monkeypatch.chdir(copy)
    monkeypatch.setenv("AGINGSET_EXECUTOR", "local")
    monkeypatch.setenv("AGINGSET_WORKERS", "1")
    monkeypatch.setattr(blocks, "SAMPLES_PER_BLOCK", 1)
    assert len(blocks.sample_blocks(pd.read_parquet(DESIGN))) > 1
    stage.main(load_params("params.yaml"))
    for name in OUTPUTS[stage]:
        assert (copy / name).read_bytes() == (tiny_dataset / name).read_bytes(), name


def test_a_spectrum_missing_from_a_block_falls_back_to_the_whole_datasets_columns(tiny_dataset, tmp_path, monkeypatch):
    """One sample without one of its spectra: its block lacks those columns, so the stage takes every
    sample at once, and the result is what one block of everything gives."""
    copy = tmp_path / "run"
    shutil.copytree(tiny_dataset, copy)
    monkeypatch.chdir(copy)
    monkeypatch.setenv("AGINGSET_EXECUTOR", "local")
    monkeypatch.setenv("AGINGSET_WORKERS", "1")
    spectra = pd.read_parquet(labels_stage.SPECTRA)
    first = spectra.iloc[0]
    missing = (spectra["sample_id"] == first["sample_id"]) & (spectra["soc"] == first["soc"]) & (
        spectra["temperature_c"] == first["temperature_c"]
    )
    spectra[~missing].to_parquet(labels_stage.SPECTRA, index=False)
    params = load_params("params.yaml")
    outputs = {}
    for size in (1, 10_000):
        monkeypatch.setattr(blocks, "SAMPLES_PER_BLOCK", size)
        labels_stage.main(params)
        outputs[size] = (copy / "data/labels/features.parquet").read_bytes()
    assert outputs[1] == outputs[10_000]
    features = pd.read_parquet(copy / "data/labels/features.parquet")
    suffix = f"soc{round(100 * first['soc']):d}_t{first['temperature_c']:g}c"
    row = features[features["sample_id"] == first["sample_id"]]
    assert row[[c for c in features if c.startswith("z_re_ohm_at_") and c.endswith(suffix)]].isna().all(axis=None)

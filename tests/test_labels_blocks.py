"""The labels stage featurises the samples block by block: the same bytes as all at once."""

import shutil

from agingset.config import load_params
from stages import labels as labels_stage

OUTPUTS = ("features.parquet", "spectrum_features.parquet", "labels.parquet", "labels.csv", "samples.parquet", "metadata.jsonl")


def test_features_in_blocks_of_one_sample_are_the_whole_datasets_bytes(tiny_dataset, tmp_path, monkeypatch):
    copy = tmp_path / "run"
    shutil.copytree(tiny_dataset, copy)
    monkeypatch.chdir(copy)
    monkeypatch.setenv("AGINGSET_EXECUTOR", "local")
    monkeypatch.setenv("AGINGSET_WORKERS", "1")
    monkeypatch.setattr(labels_stage, "SAMPLES_PER_BLOCK", 1)
    params = load_params("params.yaml")
    assert len(labels_stage.sample_blocks(labels_stage.pd.read_parquet(labels_stage.DESIGN))) > 1
    labels_stage.main(params)
    for name in OUTPUTS:
        assert (copy / "data/labels" / name).read_bytes() == (tiny_dataset / "data/labels" / name).read_bytes(), name

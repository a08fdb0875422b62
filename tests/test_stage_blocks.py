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

"""The labels, validate and card stages go through the samples block by block: the same bytes as all at
once; the solve stages write the largest tables one row group per block."""

import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest

from agingset.cache import encode
from agingset.catalog import DESIGN
from agingset.config import load_params
from stages import _blocks as blocks
from stages import card as card_stage
from stages import labels as labels_stage
from stages import solve_aging as solve_aging_stage
from stages import solve_eis as solve_eis_stage
from stages import validate as validate_stage

OUTPUTS = {
    labels_stage: [f"data/labels/{name}" for name in (
        "features.parquet", "spectrum_features.parquet", "labels.parquet", "labels.csv", "samples.parquet", "metadata.jsonl"
    )],
    validate_stage: [
        *(f"data/validate/{name}" for name in ("flags.parquet", "samples.parquet", "spectra.parquet", "report.md")),
        "metrics/quality.json",
    ],
    card_stage: ["docs/dataset_card/README.md", "docs/dataset_card/figures/nyquist_fresh_vs_aged.png",
                 "docs/dataset_card/figures/ica_curves.png", "docs/dataset_card/figures/calibration_band.png"],
}


@pytest.fixture
def copy(tiny_dataset, tmp_path, monkeypatch):
    """A copy of the tiny dataset (its per-sample cache included) as the working directory, one local worker."""
    run = tmp_path / "run"
    shutil.copytree(tiny_dataset, run)
    monkeypatch.chdir(run)
    monkeypatch.setenv("AGINGSET_EXECUTOR", "local")
    monkeypatch.setenv("AGINGSET_WORKERS", "1")
    return run


def test_the_writer_puts_each_block_in_its_own_row_group_and_a_block_reads_back_alone(tmp_path, monkeypatch):
    frame = pd.DataFrame({"sample_id": list("aabccdde"), "value": range(8)})
    results = {sample_id: encode(rows) for sample_id, rows in frame.groupby("sample_id")}
    results["f"] = encode(frame.head(0))  # a sample without rows (a failed one)
    design = pd.DataFrame({"sample_id": list("gfedcba")})  # g: a sample without a result
    monkeypatch.setattr(blocks, "SAMPLES_PER_BLOCK", 2)  # [a, b], [c, d], [e, f], [g]
    path = tmp_path / "table.parquet"
    blocks.write_results(path, results, design, frame.head(0))
    metadata = pq.read_metadata(path)
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [3, 4, 1]
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame)
    assert blocks.read_block(path, ["c", "d"])["value"].tolist() == [3, 4, 5, 6]
    # No rows at all: the table's empty, typed columns.
    blocks.write_results(path, {}, design, frame.head(0))
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame.head(0))


@pytest.mark.parametrize(
    ("stage", "table"),
    [(solve_aging_stage, "data/aging/curves.parquet"), (solve_eis_stage, "data/eis/spectra.parquet")],
    ids=["solve_aging", "solve_eis"],
)
def test_solve_stages_write_a_row_group_per_block_with_the_same_rows(stage, table, tiny_dataset, copy, monkeypatch):
    monkeypatch.setattr(blocks, "SAMPLES_PER_BLOCK", 1)
    stage.main(load_params("params.yaml"))  # from the copied per-sample cache
    written = pd.read_parquet(copy / table)
    pd.testing.assert_frame_equal(written, pd.read_parquet(tiny_dataset / table))
    assert written["sample_id"].is_monotonic_increasing
    assert pq.read_metadata(copy / table).num_row_groups == written["sample_id"].nunique() > 1


@pytest.mark.parametrize("stage", [labels_stage, validate_stage, card_stage], ids=["labels", "validate", "card"])
def test_blocks_of_one_sample_give_the_whole_datasets_bytes(stage, tiny_dataset, copy, monkeypatch):
    monkeypatch.setattr(blocks, "SAMPLES_PER_BLOCK", 1)
    assert len(blocks.sample_blocks(pd.read_parquet(DESIGN))) > 1
    stage.main(load_params("params.yaml"))
    for name in OUTPUTS[stage]:
        assert (copy / name).read_bytes() == (tiny_dataset / name).read_bytes(), name


def test_a_spectrum_missing_from_a_block_falls_back_to_the_whole_datasets_columns(copy, monkeypatch):
    """One sample without one of its spectra: its block lacks those columns, so the stage takes every
    sample at once, and the result is what one block of everything gives."""
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

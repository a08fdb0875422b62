"""The Hugging Face split files and the card's YAML header: the real `datasets` package loads them."""

import os

import numpy as np
import pandas as pd
import pytest
import yaml

from agingset.card import CardInputs, render_card, size_category
from agingset.export import export_table

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _tables(designs=6):
    rows, features, labels = [], [], []
    for d in range(designs):
        for s in range(2):
            sample = f"s{d}_{s}"
            for k in range(3):
                part = "test" if d < 2 else "train"
                rows.append({"sample_id": sample, "snapshot": k, "cell_design_id": f"c{d}", "split": part})
                features.append({"sample_id": sample, "snapshot": k, "charge_c_rate": 1.0 + s,
                                 "rpt_q_ah_at_3.500v": 4.0 - 0.1 * k, "noisy_rpt_q_ah_at_3.500v": 4.01 - 0.1 * k})
                labels.append({"sample_id": sample, "snapshot": k, "cell_design_id": f"c{d}", "soh": 1 - 0.02 * k,
                               # all missing in the test part: the parts must still share one schema
                               "knee_cycle": 40.0 if part == "train" and k == 2 else np.nan,
                               "rul80_source": "censored", "m_model_family": "SPM"})
    return pd.DataFrame(rows), pd.DataFrame(features), pd.DataFrame(labels)


@pytest.fixture
def exported(tmp_path, monkeypatch, tiny_params):
    from stages import export_hf

    split, features, labels = _tables()
    (tmp_path / "data/split").mkdir(parents=True)
    (tmp_path / "data/labels").mkdir(parents=True)
    split.to_parquet(tmp_path / "data/split/split.parquet", index=False)
    features.to_parquet(tmp_path / "data/labels/features.parquet", index=False)
    labels.to_parquet(tmp_path / "data/labels/labels.parquet", index=False)
    monkeypatch.chdir(tmp_path)
    export_hf.main(tiny_params)
    return tmp_path, split


def _header(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_card_header_names_licence_size_and_split_files(exported):
    root, split = exported
    parts = {part: int((split["split"] == part).sum()) for part in ("train", "test")}
    header = _header(render_card(CardInputs(params={}, hf_parts=parts), {}))
    assert header["license"] == "bsd-3-clause"
    assert header["size_categories"] == ["n<1K"]
    files = {entry["split"]: entry["path"] for entry in header["configs"][0]["data_files"]}
    assert files == {"train": "data/hf/train.parquet", "test": "data/hf/test.parquet"}
    assert all((root / path).exists() for path in files.values())
    assert [size_category(n) for n in (999, 1000, 50_000, 2_000_000)] == ["n<1K", "1K<n<10K", "10K<n<100K",
                                                                         "1M<n<10M"]


def test_datasets_loads_the_splits_the_header_names(exported, tmp_path_factory):
    datasets = pytest.importorskip("datasets")
    root, split = exported
    parts = {part: int((split["split"] == part).sum()) for part in ("train", "test")}
    header = _header(render_card(CardInputs(params={}, hf_parts=parts), {}))
    files = {entry["split"]: str(root / entry["path"]) for entry in header["configs"][0]["data_files"]}
    loaded = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path_factory.mktemp("hf")))
    assert {name: len(part) for name, part in loaded.items()} == parts
    assert loaded["train"].features == loaded["test"].features  # one schema across the parts
    train = loaded["train"].to_pandas()
    expected = export_table(*_tables())
    expected = expected[expected["split"] == "train"].drop(columns="split").reset_index(drop=True)
    pd.testing.assert_frame_equal(train, expected, check_dtype=False)
    assert {"soh", "noisy_rpt_q_ah_at_3.500v", "m_model_family", "cell_design_id"} <= set(train.columns)


def test_export_refuses_a_column_that_is_both_feature_and_label():
    split, features, labels = _tables()
    features["soh"] = 1.0
    with pytest.raises(ValueError, match="soh"):
        export_table(split, features, labels)

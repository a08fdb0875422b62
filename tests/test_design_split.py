"""Design nesting and ids; group and OOD splits keep cell designs, trajectories and spectra whole."""

import json

import pandas as pd
import pytest

from agingset.design import build_design
from agingset.params import OodRegion
from agingset.split import EXCLUDED, group_split, leakage, ood_split, split_metrics
from stages._io import StageError


def test_design_is_nested_and_ids_are_stable(tiny_params):
    small = build_design(tiny_params.design, 6, tiny_params.seed)
    large = build_design(tiny_params.design, 10, tiny_params.seed)
    pd.testing.assert_frame_equal(small, large.iloc[:6])
    assert large["sample_id"].is_unique


def test_design_groups_and_ranges(tiny_params):
    design = build_design(tiny_params.design, 8, tiny_params.seed)
    per_cell = design.groupby("cell_design_id")
    assert (per_cell.size() == tiny_params.design.protocols_per_cell).all()
    # a cell design never repeats a protocol
    assert not design.duplicated(["cell_design_id", "charge_c_rate", "ambient_temperature_c"]).any()
    for name, rng in tiny_params.design.cell_parameters.items():
        assert design[name].between(rng.low, rng.high).all()
        assert (per_cell[name].nunique() == 1).all()


def _rows(groups=8, per_group=2, snapshots=3):
    rows = [
        {"sample_id": f"s{g}{k}", "snapshot": s, "cell_design_id": f"c{g}"}
        for g in range(groups)
        for k in range(per_group)
        for s in range(snapshots)
    ]
    return pd.DataFrame(rows)


def _design(rows):
    """Sample k of every cell design runs at temperature 15 + 25 k (two protocols per cell)."""
    samples = rows.drop_duplicates("sample_id")[["sample_id", "cell_design_id"]]
    return samples.assign(ambient_temperature_c=[15.0 + 25.0 * int(s[-1]) for s in samples["sample_id"]])


def _config(tiny_params, **changes):
    return tiny_params.split.model_copy(update=changes)


def _check_whole(split):
    assert leakage(split, "cell_design_id") == 0
    assert leakage(split, "sample_id") == 0
    assert leakage(split, ["sample_id", "snapshot"]) == 0
    assert split.groupby("sample_id")["split"].nunique().eq(1).all()  # every snapshot of a trajectory


def test_group_split_keeps_groups_whole_and_is_deterministic(tiny_params):
    config = _config(tiny_params, test_fraction=0.25, validation_fraction=0.25)
    split = group_split(_rows(), config, seed=3)
    _check_whole(split)
    assert set(split["split"]) == {"train", "validation", "test"}  # each side gets a whole cell design or more
    again = group_split(_rows().sample(frac=1, random_state=1), config, seed=3)
    pd.testing.assert_frame_equal(split, again)
    other_seeds = [group_split(_rows(), config, seed=seed)["split"] for seed in range(4, 8)]
    assert any(not other.equals(split["split"]) for other in other_seeds)


def test_group_split_keeps_a_cell_design_on_its_side_when_the_dataset_grows(tiny_params):
    small = group_split(_rows(groups=8), tiny_params.split, seed=3)
    large = group_split(_rows(groups=40), tiny_params.split, seed=3).set_index(["sample_id", "snapshot"])
    test_small = small.loc[small["split"] == "test", ["sample_id", "snapshot"]]
    assert (large.loc[pd.MultiIndex.from_frame(test_small), "split"] == "test").all()


def test_group_split_trains_on_a_group_when_every_hash_falls_in_test(tiny_params):
    """Two cell designs whose hashes both fall in a test fraction of 0.5: one still trains."""
    from agingset.split import _unit_hash

    config = _config(tiny_params, test_fraction=0.5, validation_fraction=0.0)
    rows = _rows(groups=2)
    groups = sorted(rows["cell_design_id"].unique())
    seed = next(seed for seed in range(1000) if all(_unit_hash(group, seed) < 0.5 for group in groups))
    split = group_split(rows, config, seed=seed)
    _check_whole(split)
    sides = split.groupby("cell_design_id")["split"].first()
    assert sorted(sides) == ["test", "train"]
    assert sides[max(groups, key=lambda group: _unit_hash(group, seed))] == "train"


def test_group_split_needs_two_groups(tiny_params):
    with pytest.raises(ValueError, match="at least 2"):
        group_split(_rows(groups=1), tiny_params.split, seed=3)


def test_ood_split_holds_out_the_region_and_excludes_the_rest_of_its_cell_designs(tiny_params):
    rows = _rows()
    rows.loc[rows["cell_design_id"] == "c7", "sample_id"] = "s70"  # one cell design run at 15 C only
    region = OodRegion(column="ambient_temperature_c", above=30)
    split = ood_split(rows, _design(rows), _config(tiny_params, method="ood", ood=region), seed=3)
    _check_whole(split)
    temperature = split["sample_id"].map(_design(rows).set_index("sample_id")["ambient_temperature_c"])
    assert (split.loc[temperature > 30, "split"] == "test").all()
    assert set(split.loc[split["split"] == "train", "cell_design_id"]) == {"c7"}
    assert (split.loc[(temperature <= 30) & (split["cell_design_id"] != "c7"), "split"] == EXCLUDED).all()
    metrics = split_metrics(split)
    assert metrics["leakage_groups"] == 0 and metrics["rows_test"] == 21 and metrics["rows_train"] == 6


def test_leakage_metric_catches_an_injected_leak(tiny_params):
    split = group_split(_rows(), tiny_params.split, seed=3)
    victim = split.index[split["split"] == "train"][0]
    split.loc[victim, "split"] = "test"
    metrics = split_metrics(split)
    assert metrics["leakage_groups"] == 1 and metrics["leakage_samples"] == 1
    straddling = pd.concat([split, split.iloc[[0]].assign(split="validation")])
    assert leakage(straddling, ["sample_id", "snapshot"]) == 1


def test_split_stage_refuses_a_leaking_split(tiny_params, tmp_path, monkeypatch):
    """The stage checks the split it writes: a leak (here forced) fails it and writes no split."""
    from stages import split as split_stage

    rows = _rows()
    design = _design(rows)
    labels = rows.copy()
    flags = rows[["sample_id", "snapshot"]].assign(usable=True)
    for frame, path in ((design, split_stage.DESIGN), (labels, split_stage.LABELS), (flags, split_stage.FLAGS)):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(tmp_path / path)
    monkeypatch.chdir(tmp_path)
    split_stage.main(tiny_params)
    assert json.loads((tmp_path / split_stage.METRICS).read_text())["leakage_groups"] == 0

    def leaky(rows, design, config, seed):
        split = group_split(rows, config, seed)
        split.loc[split.index[0], "split"] = "test" if split.loc[split.index[0], "split"] == "train" else "train"
        return split

    (tmp_path / split_stage.OUTPUT).unlink()
    monkeypatch.setattr(split_stage, "split_rows", leaky)
    with pytest.raises(StageError, match="leaks"):
        split_stage.main(tiny_params)
    assert not (tmp_path / split_stage.OUTPUT).exists()


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ({"method": "ood", "ood": None}, "method 'ood' needs split.ood"),
        ({"method": "ood", "ood": {"column": "colour", "above": 1}}, "split.ood.column: 'colour' is not a design column"),
        ({"ood": {"column": "charge_c_rate", "above": 1, "below": 2}}, "exactly one of above, below, levels"),
        ({"test_fraction": 0.6, "validation_fraction": 0.5}, "must be < 1"),
    ],
)
def test_split_params_are_checked(tiny_params_raw, split, message):
    from agingset.config import parse_params
    from agingset.params import ParamsError

    tiny_params_raw["split"].update(split)
    with pytest.raises(ParamsError, match=message):
        parse_params(tiny_params_raw)

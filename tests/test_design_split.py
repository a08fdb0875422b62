"""Design nesting and ids, group split, leakage and quality flags (pure functions)."""

import numpy as np
import pandas as pd

from agingset.design import build_design
from agingset.quality import flag_rows
from agingset.split import group_split, leakage


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


def _rows(groups=6, per_group=2, snapshots=3):
    rows = [
        {"sample_id": f"s{g}{k}", "snapshot": s, "cell_design_id": f"c{g}"}
        for g in range(groups)
        for k in range(per_group)
        for s in range(snapshots)
    ]
    return pd.DataFrame(rows)


def test_group_split_keeps_groups_whole_and_is_deterministic(tiny_params):
    split = group_split(_rows(), tiny_params.split, seed=3)
    assert leakage(split, "cell_design_id") == 0
    assert leakage(split, "sample_id") == 0
    assert set(split["split"]) == {"train", "test"}
    again = group_split(_rows().sample(frac=1, random_state=1), tiny_params.split, seed=3)
    pd.testing.assert_frame_equal(split, again)


def test_leakage_metric_catches_an_injected_leak(tiny_params):
    split = group_split(_rows(), tiny_params.split, seed=3)
    victim = split.index[split["split"] == "train"][0]
    split.loc[victim, "split"] = "test"
    assert leakage(split, "cell_design_id") == 1


def test_quality_flags_catch_bad_rows(tiny_params):
    design = pd.DataFrame({"sample_id": ["a", "b", "b"]})
    status = pd.DataFrame({"sample_id": ["a", "b"], "status": ["ok", "failed"]})
    labels = pd.DataFrame(
        {
            "sample_id": ["a", "a", "b"],
            "snapshot": [0, 1, 0],
            "soh": [1.0, 1.2, 1.0],
            "lli_pct": [0.0, -5.0, 0.0],
            "lam_ne_pct": [0.0, 0.0, 0.0],
            "lam_pe_pct": [0.0, 0.0, np.nan],
            "resistance_ohm": [0.02, 0.02, 0.02],
        }
    )
    spectra = pd.DataFrame(
        {
            "sample_id": ["a", "a", "a", "a", "a", "b"],
            "snapshot": [0, 0, 0, 1, 1, 0],
            "soc": [0.5, 0.5, 0.8, 0.5, 0.5, 0.5],  # one frequency at two SOCs is no duplicate
            "temperature_c": 25.0,
            "frequency_hz": [1.0, 10.0, 1.0, 1.0, 1.0, 1.0],
            "z_re_ohm": [0.02, 0.01, 0.02, 0.02, -0.01, 0.02],
            "z_im_ohm": -0.01,
            "solver_status": "ok",
        }
    )
    flags = flag_rows(design, status, labels, spectra, tiny_params.validate_).set_index(["sample_id", "snapshot"])
    assert flags.loc[("a", 0), "usable"]
    bad = flags.loc[("a", 1)]
    assert bad["flag_soh_out_of_bounds"] and bad["flag_negative_degradation"]
    assert bad["flag_re_z_not_positive"] and bad["flag_duplicate_spectrum_points"]
    failed = flags.loc[("b", 0)]
    assert failed["flag_solver_status"] and failed["flag_missing_label"] and failed["flag_duplicate_sample"]
    assert not failed["usable"]

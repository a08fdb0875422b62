"""Quality flags: each fires on a constructed bad row and on no good one; the gate fails the stage."""

import json

import numpy as np
import pandas as pd
import pytest

from agingset.quality import (
    MAX_FEATURE_MAGNITUDE,
    assess,
    cross_check_line,
    mask_unusable_spectra,
    report,
    spectrum_checks,
)
from agingset.errors import InputError
from stages import validate
from stages._io import StageError
from tests.conftest import ROOT

GOOD_SAMPLES = ["a", "b", "c"]
FREQUENCIES = [0.1, 1.0, 10.0]
SOCS = [0.2, 0.8]


def _dataset(kk: bool = True):
    """Three clean samples with two snapshots each and two spectra (SOC 0.2, 0.8) per snapshot."""
    design = pd.DataFrame(
        {
            "sample_id": GOOD_SAMPLES,
            "cell_design_id": ["c1", "c1", "c2"],
            "sample_index": [0, 1, 2],
            "ambient_temperature_c": [25.0, 40.0, 25.0],
            "x": [0.1, 0.1, 0.2],
        }
    )
    status = pd.DataFrame({"sample_id": GOOD_SAMPLES, "status": "ok", "message": ""})
    labels = pd.DataFrame(
        [
            {
                "sample_id": s, "snapshot": k, "soh": 1.0 - 0.05 * k, "lli_pct": 2.0 * k, "lam_ne_pct": 0.0,
                "lam_pe_pct": 1.0 * k, "resistance_ohm": 0.03, "rul80_cycles": np.nan, "rul80_lower_bound": 40.0,
                "rul80_source": "censored",
                "m_seed": 7,
            }
            for s in GOOD_SAMPLES
            for k in (0, 1)
        ]
    )
    spectra = pd.DataFrame(
        [
            {
                "sample_id": s, "snapshot": k, "soc": soc, "temperature_c": 25.0, "frequency_hz": f,
                "z_re_ohm": 0.03 + 0.01 / f, "z_im_ohm": -0.01, "backend": "pybamm.EISSimulation",
                "solver_status": "ok",
            }
            for s in GOOD_SAMPLES
            for k in (0, 1)
            for soc in SOCS
            for f in FREQUENCIES
        ]
    )
    per_spectrum = spectra.groupby(["sample_id", "snapshot", "temperature_c", "soc"], as_index=False).size()
    per_spectrum = per_spectrum.drop(columns="size").assign(kk_residual_pct=0.1)
    if not kk:
        per_spectrum = per_spectrum.drop(columns="kk_residual_pct")
    features = labels[["sample_id", "snapshot"]].assign(rpt_q_ah_at_3v=4.0, eis_r0_ohm_soc20_t25c=0.03)
    return {
        "design": design, "status": status, "labels": labels, "spectra": spectra, "per_spectrum": per_spectrum,
        "features": features,
    }


def _assess(data, params):
    checked = spectrum_checks(data["spectra"], data["per_spectrum"], params.validate_)
    return assess(
        data["design"], data["status"], data["labels"], checked, params.validate_, params.aging.bounds, data["features"]
    )


def _set(frame, sample, column, value, snapshot=None, soc=None):
    rows = frame["sample_id"] == sample
    if snapshot is not None:
        rows &= frame["snapshot"] == snapshot
    if soc is not None and "soc" in frame:
        rows &= frame["soc"] == soc
    frame.loc[rows[rows].index[:1] if column == "frequency_hz" else rows, column] = value


def test_clean_dataset_has_no_flags(tiny_params):
    result = _assess(_dataset(), tiny_params)
    assert result.snapshots["usable"].all() and not result.samples["flagged"].any()
    assert result.violations == []
    assert result.metrics["spectra"] == 12 and result.metrics["spectra_kk_checked"] == 12
    assert result.metrics["spectra_usable"] == 12
    assert result.metrics["backend_spectra"] == {"pybamm.EISSimulation": 12}
    assert sum(result.metrics["flag_counts"].values()) == 0


def test_rul_label_is_missing_only_when_neither_value_nor_censoring_bound_exists(tiny_params):
    data = _dataset()
    labels = data["labels"]
    labels.loc[labels["sample_id"] == "a", ["rul80_source", "rul80_cycles"]] = ["simulated", 30.0]
    labels.loc[labels["sample_id"] == "b", "rul80_source"] = "simulated"  # a value is owed but absent
    labels.loc[labels["sample_id"] == "c", "rul80_lower_bound"] = np.nan  # censored without its bound
    flags = _assess(data, tiny_params).snapshots.set_index("sample_id")["flag_missing_label"]
    assert not flags["a"].any() and flags["b"].all() and flags["c"].all()


CORRUPTIONS = {
    # flag: (table, column, bad value)
    "soh_out_of_bounds": ("labels", "soh", 1.2),
    "negative_degradation": ("labels", "lam_ne_pct", -0.5),
    "missing_label": ("labels", "lli_pct", np.nan),
    "non_finite": ("labels", "resistance_ohm", np.inf),
    # What scikit-learn would turn into infinity (float32) or what no physical feature reaches.
    "feature_out_of_range": ("features", "eis_r0_ohm_soc20_t25c", 1e39),
}
SPECTRUM_CORRUPTIONS = {
    # spectrum flag: (table, column, bad value)
    "re_z_not_positive": ("spectra", "z_re_ohm", -0.01),
    "failed": ("spectra", "solver_status", "failed: reaching SOC 0.8: event"),
    "non_finite": ("spectra", "z_im_ohm", np.nan),
    "kk_residual_high": ("per_spectrum", "kk_residual_pct", 5.0),
    "duplicate_points": ("spectra", "frequency_hz", 1.0),  # one point moved onto another's frequency
}


@pytest.mark.parametrize("flag", sorted(CORRUPTIONS))
def test_each_snapshot_flag_fires_only_on_its_bad_row(tiny_params, flag):
    data = _dataset()
    table, column, value = CORRUPTIONS[flag]
    _set(data[table], "b", column, value, snapshot=1)
    snapshots = _assess(data, tiny_params).snapshots.set_index(["sample_id", "snapshot"])
    assert snapshots.loc[("b", 1), f"flag_{flag}"]
    assert not snapshots.loc[("b", 1), "usable"] and flag in snapshots.loc[("b", 1), "reasons"]
    others = snapshots.drop(index=[("b", 1)])
    assert others["usable"].all()


@pytest.mark.parametrize("flag", sorted(SPECTRUM_CORRUPTIONS))
def test_a_flagged_spectrum_is_left_out_alone_and_its_snapshot_stays_usable(tiny_params, flag):
    data = _dataset()
    table, column, value = SPECTRUM_CORRUPTIONS[flag]
    _set(data[table], "b", column, value, snapshot=1, soc=0.8)
    result = _assess(data, tiny_params)
    spectra = result.spectra.set_index(["sample_id", "snapshot", "soc"])
    assert spectra.loc[("b", 1, 0.8), flag] and not spectra.loc[("b", 1, 0.8), "usable"]
    assert flag in spectra.loc[("b", 1, 0.8), "reasons"]
    assert spectra.drop(index=[("b", 1, 0.8)])["usable"].all()
    assert result.snapshots["usable"].all(), "one failed spectrum must not cost its snapshot"
    assert result.metrics["spectra_usable"] == 11 and result.metrics["spectrum_flag_counts"][flag] == 1


def test_a_snapshot_without_any_usable_spectrum_is_flagged(tiny_params):
    data = _dataset()
    _set(data["spectra"], "b", "solver_status", "failed: diverged", snapshot=1)
    snapshots = _assess(data, tiny_params).snapshots.set_index(["sample_id", "snapshot"])
    assert snapshots.loc[("b", 1), "flag_no_usable_spectrum"] and not snapshots.loc[("b", 1), "usable"]
    assert snapshots.drop(index=[("b", 1)])["usable"].all()


def test_features_of_a_flagged_spectrum_are_masked_and_the_rest_kept(tiny_params):
    data = _dataset()
    _set(data["spectra"], "b", "solver_status", "failed", snapshot=1, soc=0.2)
    result = _assess(data, tiny_params)
    masked = mask_unusable_spectra(data["features"], result.spectra).set_index(["sample_id", "snapshot"])
    assert np.isnan(masked.loc[("b", 1), "eis_r0_ohm_soc20_t25c"])
    assert masked.drop(index=[("b", 1)])["eis_r0_ohm_soc20_t25c"].notna().all()
    assert masked["rpt_q_ah_at_3v"].notna().all()


def test_feature_range_limit_stays_below_float32():
    assert MAX_FEATURE_MAGNITUDE < np.finfo(np.float32).max / 1e6


@pytest.mark.parametrize("status", ["failed", "timeout", "non-physical"])
def test_solver_status_flags_every_snapshot_of_the_sample(tiny_params, status):
    data = _dataset()
    _set(data["status"], "c", "status", status)
    result = _assess(data, tiny_params)
    flagged = result.snapshots[~result.snapshots["usable"]]
    assert set(flagged["sample_id"]) == {"c"} and len(flagged) == 2
    assert (flagged["reasons"] == f"solver_status={status}").all()
    assert result.metrics["samples_by_status"][status] == 1
    assert result.metrics["failure_rate"] == pytest.approx(1 / 3, abs=1e-6)


def test_duplicate_design_point_and_missing_spectrum_and_sample_without_snapshots(tiny_params):
    data = _dataset()
    repeat = data["design"].iloc[[2]].assign(sample_id="d", sample_index=3)  # the same design point again
    data["design"] = pd.concat([data["design"], repeat], ignore_index=True)
    data["status"] = pd.concat([data["status"], pd.DataFrame([{"sample_id": "d", "status": "failed",
                                                               "message": "solver diverged"}])])
    data["spectra"] = data["spectra"][~((data["spectra"]["sample_id"] == "a") & (data["spectra"]["snapshot"] == 0))]
    result = _assess(data, tiny_params)
    samples = result.samples.set_index("sample_id")
    assert samples.loc["d", "flag_duplicate_sample"] and not samples.loc["c", "flag_duplicate_sample"]
    assert samples.loc["d", "flag_no_snapshots"] and "no_snapshots" in samples.loc["d", "reasons"]
    snapshots = result.snapshots.set_index(["sample_id", "snapshot"])
    assert snapshots.loc[("a", 0), "flag_no_usable_spectrum"]
    assert snapshots["flag_no_usable_spectrum"].sum() == 1
    assert result.metrics["duplicate_samples"] == 1
    assert any("duplicate_samples" in violation for violation in result.violations)


def test_missing_kk_column_is_reported_as_not_checked(tiny_params):
    result = _assess(_dataset(kk=False), tiny_params)
    assert result.snapshots["usable"].all()
    assert result.metrics["spectra_kk_checked"] == 0 and result.metrics["kk_flag_rate"] == 0.0
    assert "lin-KK: not checked" in report(result, kk_available=False)


def _write_inputs(root, data, measured=True):
    for table, path in (("design", validate.DESIGN), ("status", validate.STATUS), ("labels", validate.LABELS),
                        ("spectra", validate.SPECTRA), ("per_spectrum", validate.SPECTRUM_FEATURES),
                        ("features", validate.FEATURES)):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        data[table].to_parquet(root / path)
    if measured:  # the measured spectra the dataset's fresh ones are scored against
        spectra = "reference-data/lgm50lt_eis_soc20_50_80.csv"
        (root / spectra).parent.mkdir(parents=True, exist_ok=True)
        (root / spectra).write_bytes((ROOT / spectra).read_bytes())


def test_gate_fails_the_stage_but_keeps_the_report(tiny_params, tmp_path, monkeypatch):
    data = _dataset()
    _set(data["per_spectrum"], "a", "kk_residual_pct", 50.0)
    _set(data["per_spectrum"], "b", "kk_residual_pct", 50.0)
    _write_inputs(tmp_path, data)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StageError, match=r"kk_flag_rate 0\.666667 exceeds validate\.max_kk_flag_rate"):
        validate.main(tiny_params)
    report = (tmp_path / validate.OUTPUT / "report.md").read_text()
    assert "| a | ok | 2/2 | no_usable_spectrum |" in report
    assert "| a | 0 | 25 | 0.2 | kk_residual_high |" in report  # every flagged spectrum, with its reason
    flags = pd.read_parquet(tmp_path / validate.OUTPUT / "flags.parquet")
    assert len(flags) == 6 and flags["usable"].sum() == 2  # flagged rows are kept, marked unusable


def test_clean_dataset_passes_the_stage(tiny_params, tmp_path, monkeypatch):
    _write_inputs(tmp_path, _dataset())
    monkeypatch.chdir(tmp_path)
    validate.main(tiny_params)
    metrics = json.loads((tmp_path / validate.METRICS).read_text())
    assert set(metrics["measured_spectra"]["spectra"]) == {"soc20", "soc50", "soc80"}


def test_a_missing_measured_spectra_file_is_one_line_naming_the_key_and_writes_nothing(tiny_params, tmp_path, monkeypatch):
    _write_inputs(tmp_path, _dataset(), measured=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=r"^calibrate\.spectra: reference-data/lgm50lt_eis_soc20_50_80\.csv not found$"):
        validate.main(tiny_params)
    assert not (tmp_path / validate.OUTPUT).exists() and not (tmp_path / validate.METRICS).exists()


def test_an_unchecked_spectrum_is_not_a_failure_and_the_metrics_count_the_checked_ones(tiny_params):
    """The backend cross-check runs on a seeded share of the spectra: NaN is 'not sampled', never a flag."""
    data = _dataset()
    spectra = data["spectra"]
    checked = (spectra["sample_id"] == "a") | ((spectra["sample_id"] == "b") & (spectra["snapshot"] == 0))
    pct = spectra["snapshot"] * 0.1 + spectra["soc"] * 0.1  # per spectrum: 0.02, 0.08, 0.12, 0.18
    spectra["cross_check_pct"] = pct.where(checked)
    spectra["cross_check_status"] = np.where(checked, "checked", "not sampled")
    spectra.loc[(spectra["sample_id"] == "c") & (spectra["snapshot"] == 1), "cross_check_status"] = "failed: boom"
    result = _assess(data, tiny_params)
    assert result.spectra["usable"].all() and result.snapshots["usable"].all() and result.violations == []
    assert result.spectra["cross_checked"].sum() == 6
    metrics = result.metrics["cross_check"]
    assert metrics["spectra_checked"] == 6
    assert metrics["by_status"] == {"checked": 6, "failed": 2, "not sampled": 4}
    assert metrics["max_pct"] == pytest.approx(0.18) and metrics["median_pct"] == pytest.approx(0.08)
    line = cross_check_line(result.metrics)
    assert "6 of 12 spectra checked" in line and "not sampled 4" in line and "failed 2" in line


def test_spectra_without_cross_check_columns_report_none_checked(tiny_params):
    result = _assess(_dataset(), tiny_params)  # an older spectra table: no cross_check columns
    assert result.metrics["cross_check"] == {"spectra_checked": 0}
    assert "0 of 12 spectra checked" in cross_check_line(result.metrics)

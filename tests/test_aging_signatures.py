"""The impedance aging signatures (agingset/aging_signatures.py) on small frames whose answer is known."""

import numpy as np
import pandas as pd
import pytest

from agingset.aging_signatures import (
    PULSE,
    aging_signatures,
    growth_per_capacity_lost,
    nearest_frequency,
    per_sample_growth,
)
from agingset.card import CardInputs, card_files
from agingset.tasks.eis import empty_spectra

FREQUENCIES = np.logspace(-3, 3, 31)  # 5 per decade: 0.1, 1 and 100 Hz on the grid
CAPACITY_LOST = np.array([0.0, 0.05, 0.10, 0.15])
# Growth per 10 % capacity lost, in percent, that the frames below are built with.
GROWTH = {PULSE: 5.0, 100.0: 1.0, 1.0: 3.0, 0.1: 20.0}


def _re_z(frequency_hz: float, lost: float, growth: dict) -> float:
    """A fresh Re Z falling with frequency; at 0.1, 1 and 100 Hz growing by exactly ``growth`` per 10 % lost."""
    fresh = 0.02 + 0.01 / (1 + frequency_hz)
    rate = growth.get(round(frequency_hz, 6), 0.0)
    return fresh * (1 + rate / 100 * lost / 0.1)


def frames(samples=("a", "b", "c"), growth=GROWTH, capacity_lost=CAPACITY_LOST):
    labels, spectra = [], []
    for sample_id in samples:
        for snapshot, lost in enumerate(capacity_lost):
            resistance = 0.02 * (1 + growth[PULSE] / 100 * lost / 0.1)
            labels.append((sample_id, snapshot, 5.0 * (1 - lost), resistance))
            for frequency in FREQUENCIES:
                spectra.append(
                    (sample_id, snapshot, 0.5, 25.0, frequency, _re_z(frequency, lost, growth), "ok")
                )
    labels = pd.DataFrame(labels, columns=["sample_id", "snapshot", "rpt_capacity_ah", "resistance_ohm"])
    spectra = pd.DataFrame(
        spectra,
        columns=[
            "sample_id",
            "snapshot",
            "soc",
            "temperature_c",
            "frequency_hz",
            "z_re_ohm",
            "solver_status",
        ],
    )
    return spectra, labels


def test_known_growth_is_recovered_for_every_quantity():
    spectra, labels = frames()
    growth = aging_signatures(spectra, labels)["growth_pct"]
    assert growth[PULSE]["median"] == pytest.approx(5.0, abs=1e-3)
    spectrum = growth["soc50_t25c"]
    assert spectrum["re_z_100hz"]["median"] == pytest.approx(1.0, abs=1e-3)
    assert spectrum["re_z_1hz"]["median"] == pytest.approx(3.0, abs=1e-3)
    assert spectrum["re_z_0.1hz"]["median"] == pytest.approx(20.0, abs=1e-3)
    assert spectrum["re_z_0.1hz"]["samples"] == 3


def test_slope_goes_through_the_origin_and_scales_to_ten_percent():
    assert growth_per_capacity_lost([0.0, 0.01, 0.02], [0.0, 0.1, 0.2]) == pytest.approx(1.0)
    # Noise-free data off the origin: the slope is a fit through it, not the end-points' ratio.
    assert growth_per_capacity_lost([0.01, 0.01], [0.1, 0.2]) == pytest.approx(100 * 0.1 * 0.003 / 0.05)
    # Too little capacity lost for a slope: no number.
    assert np.isnan(growth_per_capacity_lost([0.0, 0.5], [0.0, 0.005]))


def test_nearest_frequency_is_nearest_on_a_log_axis():
    # 0.4 Hz is nearer 1 Hz on a linear axis, 1.7 Hz on a log one (|ln 1.7| = 0.53 < |ln 0.4| = 0.92).
    assert nearest_frequency(np.array([0.4, 1.7, 100.0]), 1.0) == 1.7
    assert nearest_frequency(np.array([0.4, 1.7, 100.0]), 50.0) == 100.0


def test_flagged_snapshots_spectra_and_failed_points_are_left_out():
    spectra, labels = frames()
    # A fourth RPT of sample "a" whose resistance and spectrum are wild: flagged, it must change nothing.
    wild = labels[labels["sample_id"].eq("a") & labels["snapshot"].eq(3)].assign(
        snapshot=4, resistance_ohm=1.0
    )
    wild_spectra = spectra[spectra["sample_id"].eq("a") & spectra["snapshot"].eq(3)].assign(
        snapshot=4, z_re_ohm=1.0
    )
    labels = pd.concat([labels, wild], ignore_index=True)
    spectra = pd.concat([spectra, wild_spectra], ignore_index=True)
    flags = labels[["sample_id", "snapshot"]].assign(
        usable=lambda f: ~(f["sample_id"].eq("a") & f["snapshot"].eq(4))
    )

    clean = per_sample_growth(spectra, labels, flags).set_index(["sample_id", "quantity"])["growth_pct"]
    assert clean.loc[("a", PULSE)] == pytest.approx(5.0, abs=1e-3)
    assert clean.loc[("a", "re_z_0.1hz")] == pytest.approx(20.0, abs=1e-3)
    unflagged = per_sample_growth(spectra, labels).set_index(["sample_id", "quantity"])["growth_pct"]
    assert unflagged.loc[("a", PULSE)] > 100

    # A flagged spectrum (validate's per-spectrum table) and a failed point are left out too.
    keys = ["sample_id", "snapshot", "soc", "temperature_c"]
    checked = (
        spectra[keys]
        .drop_duplicates()
        .assign(usable=lambda f: ~(f["sample_id"].eq("b") & f["snapshot"].eq(2)))
    )
    spectra.loc[spectra["sample_id"].eq("b") & spectra["snapshot"].eq(2), "z_re_ohm"] = 5.0
    spectra.loc[spectra["sample_id"].eq("c") & spectra["snapshot"].eq(1), ["z_re_ohm", "solver_status"]] = [
        np.nan,
        "failed: reaching SOC 0.5",
    ]
    growth = per_sample_growth(spectra, labels, flags, checked).set_index(["sample_id", "quantity"])[
        "growth_pct"
    ]
    assert growth.loc[("b", "re_z_0.1hz")] == pytest.approx(20.0, abs=1e-3)
    assert growth.loc[("c", "re_z_0.1hz")] == pytest.approx(20.0, abs=1e-3)
    assert (
        per_sample_growth(spectra, labels, flags)
        .set_index(["sample_id", "quantity"])
        .loc[("b", "re_z_0.1hz"), "growth_pct"]
        > 100
    )


def test_split_by_ambient_gives_each_protocols_median():
    cold_spectra, cold_labels = frames(samples=("a", "b"), growth={**GROWTH, PULSE: 2.0})
    hot_spectra, hot_labels = frames(samples=("c", "d"), growth={**GROWTH, PULSE: 8.0})
    design = pd.DataFrame(
        {"sample_id": ["a", "b", "c", "d"], "ambient_temperature_c": [0.0, 0.0, 45.0, 45.0]}
    )
    result = aging_signatures(
        pd.concat([cold_spectra, hot_spectra]), pd.concat([cold_labels, hot_labels]), design=design
    )
    by_ambient = result["by_ambient_temperature_c"]
    assert by_ambient["0"][PULSE] == pytest.approx(2.0, abs=1e-3)
    assert by_ambient["45"][PULSE] == pytest.approx(8.0, abs=1e-3)
    assert result["growth_pct"][PULSE]["median"] == pytest.approx(5.0, abs=1e-3)


def test_a_run_without_rpts_gives_no_growth_and_no_error():
    labels = pd.DataFrame({"sample_id": pd.Series(dtype=str), "snapshot": pd.Series(dtype=int)})
    result = aging_signatures(empty_spectra(), labels)
    assert result["samples"] == 0 and result["growth_pct"] == {}


def test_card_shows_the_signatures_in_their_own_section_not_in_the_quality_table_or_plot():
    spectra, labels = frames()
    quality = {"samples": 3, "aging_signatures": aging_signatures(spectra, labels)}
    files = card_files(CardInputs(params={}, quality=quality))
    card = files["README.md"].decode()
    assert "### Impedance aging signatures" in card
    assert "| Re Z at 0.1 Hz | 20 [20, 20] |" in card
    assert "aging_signatures /" not in card  # not flattened into the quality table
    assert b"aging_signatures" not in files["plots/quality.csv"]

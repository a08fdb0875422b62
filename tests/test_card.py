"""The dataset card: every section and figure, from a tiny run; robust to missing and extra inputs."""

import re

import numpy as np
import pandas as pd
import pytest

from agingset.card import CardInputs, build_figures, colour_parameter, label_columns, render_card
from stages.card import write_card

SECTIONS = [
    "## Contents",
    "## What was simulated",
    "### Design space",
    "## Label distributions",
    "## Figures",
    "## Quality",
    "## Split",
    "## Baseline scores",
    "## Calibration against real measurements",
    "## Known limitations",
    "## Load it",
]
FIGURES = [
    "soh_trajectories",
    "lli_vs_lam",
    "nyquist_fresh_vs_aged",
    "ica_curves",
    "label_histograms",
    "predicted_vs_true",
    "calibration_nyquist",
    "calibration_band",
    "calibration_discharges",
    "calibration_cell_temperatures",
    "calibration_drive_cycle",
    "calibration_pulses",
]


@pytest.fixture(scope="module")
def card(tiny_dataset):
    return tiny_dataset / "docs/dataset_card"


def test_card_has_every_section_and_every_linked_figure_exists(card):
    text = (card / "README.md").read_text()
    for heading in SECTIONS:
        assert f"\n{heading}\n" in text, heading
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(links) == sorted(f"figures/{name}.png" for name in FIGURES)
    for link in links:
        assert (card / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Not available" not in text


def test_card_reports_what_was_simulated_and_counted(card, tiny_dataset, tiny_params):
    text = (card / "README.md").read_text()
    status = pd.read_parquet(tiny_dataset / "data/aging/status.parquet")
    labels = pd.read_parquet(tiny_dataset / "data/labels/labels.parquet")
    assert f"| samples (trajectories) | {tiny_params.samples} |" in text
    assert f"| snapshots (ML rows) | {len(labels)} |" in text
    assert f"| samples with status `ok` | {int((status['status'] == 'ok').sum())} |" in text
    assert f"`{tiny_params.model.family}` with parameter set `{tiny_params.model.parameter_set}`" in text
    for name in tiny_params.design.cell_parameters:
        assert f"| {name} |" in text
    for option, value in tiny_params.model.options.items():
        assert f"{option}: {value}" in text
    assert "pybamm 26" in text and "IDAKLUSolver" in text
    assert "| soh | " in text and "`rul80_source`:" in text


def test_card_and_figures_are_byte_identical_when_rebuilt(
    card, tiny_dataset, tmp_path, monkeypatch, tiny_params
):
    from stages.card import read_inputs

    monkeypatch.chdir(tiny_dataset)
    write_card(read_inputs(tiny_params), tmp_path / "again")
    for path in sorted(card.rglob("*")):
        if path.is_file():
            assert (tmp_path / "again" / path.relative_to(card)).read_bytes() == path.read_bytes(), path.name


def test_missing_inputs_become_notes_not_crashes():
    inputs = CardInputs(params={"samples": 4, "seed": 7, "design": {}, "eis": {}})
    assert build_figures(inputs) == {}
    text = render_card(inputs, {})
    for heading in SECTIONS:
        assert heading in text
    assert "data/aging/metadata.json was not produced" in text
    assert "metrics/train.json was not produced" in text
    assert "_Figure `soh_trajectories` not available" in text


def test_extra_label_columns_and_metric_keys_are_reported(tiny_dataset):
    labels = pd.read_parquet(tiny_dataset / "data/labels/labels.parquet")
    labels["capacity_lost_new_mechanism_ah"] = np.linspace(0, 1, len(labels))
    assert "capacity_lost_new_mechanism_ah" in label_columns(labels)
    assert not {"sample_id", "snapshot", "cycle"} & set(label_columns(labels))
    inputs = CardInputs(
        params={"samples": 4, "seed": 7, "design": {}, "eis": {}},
        labels=labels,
        train_metrics={
            "soh": {"gradient_boosting": {"mae": 0.01, "r2": 0.9}},
            "random_split": {"soh": {"mae": 0.005}},
        },
    )
    text = render_card(inputs, {})
    assert "| capacity_lost_new_mechanism_ah | " in text
    assert "| soh / gradient_boosting | 0.01 | 0.9 |" in text
    assert "| random_split / soh | 0.005 |" in text


def test_trajectories_are_coloured_by_the_parameter_that_drives_fade():
    design = pd.DataFrame(
        {
            "sample_id": list("abcd"),
            "cell_design_id": list("abcd"),
            "sample_index": range(4),
            "ambient_temperature_c": 25.0,
            "charge_c_rate": 1.0,
            "discharge_c_rate": 1.0,
            "Contact resistance [Ohm]": [0.01, 0.02, 0.015, 0.011],
            "SEI solvent diffusivity [m2.s-1]": [1e-20, 1e-19, 1e-18, 5e-19],
        }
    )
    final = {"a": 0.99, "b": 0.9, "c": 0.7, "d": 0.8}  # fade grows with diffusivity, not resistance
    labels = pd.DataFrame(
        [
            {"sample_id": s, "snapshot": k, "cycle": 10 * k, "soh": 1 - k * (1 - soh)}
            for s, soh in final.items()
            for k in (0, 1)
        ]
    )
    assert colour_parameter(design, labels) == "SEI solvent diffusivity [m2.s-1]"

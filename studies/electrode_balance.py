"""Question: where does the dataset's fresh cell put the LG M50LT's labelled SOCs, with the fitted and with the set's electrode balance?
Answer: the fitted fractions (0.850 / 0.575) put the labelled 20 / 50 / 80 % at 29.6 / 58.4 / 84.6 % of a 5.53 Ah cell whose
discharge ends on a saturated positive (surface y 1.000; the LG M50LT is a 4.85 Ah cell); the set's (0.75 / 0.665) at
22.8 / 47.9 / 80.4 %, 5.10 Ah, the negative emptying first (x 0.030, y 0.851). So the dataset keeps the set's electrode
balance, sampled +- the fit's relative 2 standard errors (45c5de9; docs/physics.md, "electrode-balance"). Re-run
2026-12-07 on the workspace's data/calibrate/calibrated.json: fitted 29.4 / 58.3 / 84.4 %, 5.536 Ah; the set's 22.8 / 47.9 / 80.4 %, 5.105 Ah.
Date: 2026-11-28
Commit: 24ffebc

The impedance file gives each spectrum's SOC as measured (20 / 50 / 80 %) with its rested voltage. The dataset's
fresh cell (the calibrated base values of ``data/calibrate/calibrated.json``, ``model.parameter_overrides``), full,
is discharged at C/50 to 2.5 V (``agingset.calibration.report.labelled_socs``, what calibrate reports in
metrics/calibration.json); printed per balance: its capacity and where each labelled rested voltage lands, as the
share of it still to discharge, and the particle surface stoichiometries at the end (which electrode ended it;
docs/physics.md, "Electrode balance").

    python -m studies.electrode_balance   (from the project root, after `dvc repro calibrate`)
"""

import argparse
import json
import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import pandas as pd  # noqa: E402

from agingset.calibration.measurements import validate_spectra  # noqa: E402
from agingset.calibration.report import labelled_socs  # noqa: E402
from agingset.config import load_params  # noqa: E402
from agingset.physics import model as model_building  # noqa: E402

FRACTIONS = ("Negative electrode active material volume fraction", "Positive electrode active material volume fraction")


def main(argv: list[str] | None = None):
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    params = load_params("params.yaml")
    config = params.calibrate
    with open("data/calibrate/calibrated.json") as handle:
        calibrated = json.load(handle)
    fitted = {name: entry["fitted"] for name, entry in calibrated["parameters"].items()}
    model = params.model.with_base_values({name: fitted[name] for name in calibrated["dataset_parameters"]})
    base = model_building.parameter_values(model, [])
    spectra = validate_spectra(pd.read_csv(config.spectra), source=config.spectra)
    balances = {
        "fitted": {name: fitted[name] for name in FRACTIONS},
        "dataset": {name: float(base[name]) for name in FRACTIONS},
    }
    for label, fractions in balances.items():
        values = base.copy()
        values.update(fractions)
        placed = labelled_socs(model, config.solver_config(), values, spectra)
        where = ", ".join(f"{100 * s:.0f} % at {100 * p:.1f} %" for s, p in zip(placed["labelled_soc"], placed["placed_soc"]))
        print(
            f"{label:8s} fractions {fractions[FRACTIONS[0]]:.3f} / {fractions[FRACTIONS[1]]:.3f}: "
            f"C/50 capacity {placed['capacity_ah']:.3f} Ah; labelled SOC {where}; end of discharge (surface) "
            f"x {placed['end_surface_stoichiometry']['negative']:.3f}, y {placed['end_surface_stoichiometry']['positive']:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

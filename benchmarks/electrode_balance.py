"""Where the dataset's fresh cell puts the LG M50LT's labelled SOCs, with the fitted and with the set's electrode balance.

The impedance file gives each spectrum's SOC as measured (20 / 50 / 80 %) with its rested voltage. The dataset's
fresh cell (the calibrated base values of ``data/calibrate/calibrated.json``, ``model.parameter_overrides``), full,
is discharged at C/50 to 2.5 V (``agingset.calibration.labelled_socs``, what calibrate reports in
metrics/calibration.json); printed per balance: its capacity and where each labelled rested voltage lands, as the
share of it still to discharge, and the particle surface stoichiometries at the end (which electrode ended it;
docs/physics.md, "Electrode balance").

    python -m benchmarks.electrode_balance
"""

import json
import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import pandas as pd  # noqa: E402

from agingset.calibration import labelled_socs  # noqa: E402
from agingset.measurement import validate_spectra  # noqa: E402
from agingset.params import load_params  # noqa: E402
from agingset.physics import model as model_building  # noqa: E402

FRACTIONS = ("Negative electrode active material volume fraction", "Positive electrode active material volume fraction")


def main():
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

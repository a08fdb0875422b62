"""Where the dataset's fresh cell puts the LG M50LT's labelled SOCs, with the fitted and with the set's electrode balance.

The impedance file gives each spectrum's SOC as measured (20 / 50 / 80 %) with its rested voltage. The dataset's
fresh cell (the calibrated base values of ``data/calibrate/calibrated.json``, ``model.parameter_overrides``) is
charged CC-CV to 4.2 V, rested, and discharged at C/50 to 2.5 V; printed per balance: its capacity, the share of
it discharged where its voltage crosses each labelled rested voltage (as SOC), and the electrode stoichiometries
(particle surface, x-averaged) at the end of the discharge (docs/physics.md, "Electrode balance").

    python -m benchmarks.electrode_balance
"""

import json
import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pybamm  # noqa: E402

from agingset.params import load_params  # noqa: E402
from agingset.physics import model as model_building  # noqa: E402

FRACTIONS = ("Negative electrode active material volume fraction", "Positive electrode active material volume fraction")
SLOW_DISCHARGE = ["Charge at C/20 until 4.2 V", "Hold at 4.2 V until C/100", "Rest for 2 hours", "Discharge at C/50 until 2.5 V"]


def slow_discharge(params, values: pybamm.ParameterValues):
    simulation = pybamm.Simulation(
        model_building.build_model(params.model),
        parameter_values=values,
        experiment=pybamm.Experiment(SLOW_DISCHARGE),
        solver=pybamm.IDAKLUSolver(rtol=1e-6, atol=1e-6),
    )
    return [step for cycle in simulation.solve(initial_soc=0.5).cycles for step in cycle.steps][-1]


def main():
    params = load_params("params.yaml")
    with open("data/calibrate/calibrated.json") as handle:
        calibrated = json.load(handle)
    fitted = {name: entry["fitted"] for name, entry in calibrated["parameters"].items()}
    base = model_building.parameter_values(params.model, [])
    base.update({name: fitted[name] for name in calibrated["dataset_parameters"]})
    base.update(dict(params.model.parameter_overrides))
    labels = pd.read_csv(params.calibrate.spectra)[["soc_pct", "ocv_v"]].drop_duplicates().sort_values("soc_pct")
    balances = {
        "fitted": {name: fitted[name] for name in FRACTIONS},
        "dataset": {name: float(base[name]) for name in FRACTIONS},
    }
    for label, fractions in balances.items():
        values = base.copy()
        values.update(fractions)
        step = slow_discharge(params, values)
        charge = step["Discharge capacity [A.h]"].entries
        charge = charge - charge[0]
        voltage = step["Voltage [V]"].entries
        capacity = charge[-1]
        # Voltage falls with discharged charge: interpolate on the reversed axis.
        socs = [1 - float(np.interp(-v, -voltage, charge)) / capacity for v in labels["ocv_v"]]
        x = np.ravel(step["X-averaged negative particle surface stoichiometry"].entries)[-1]
        y = np.ravel(step["X-averaged positive particle surface stoichiometry"].entries)[-1]
        placed = ", ".join(f"{s:.0f} % at {100 * soc:.1f} %" for s, soc in zip(labels["soc_pct"], socs))
        print(
            f"{label:8s} fractions {fractions[FRACTIONS[0]]:.3f} / {fractions[FRACTIONS[1]]:.3f}: C/50 capacity {capacity:.3f} Ah; "
            f"labelled SOC {placed}; end of discharge x {x:.3f}, y {y:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

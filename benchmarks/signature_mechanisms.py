"""Which aging mechanism moves Re Z at 100 Hz, 1 Hz and 0.1 Hz, and by what share (SEI film, LAM, electrode stoichiometry, plating, contact)?

The default dataset's own states (data/aging/, data/design/, data/calibrate/: `dvc repro solve_aging` first):
per sample its first RPT (the growth metrics' reference, agingset/aging_signatures.py) and the RPT whose SOH
is nearest ``--soh`` are moved to each ``--condition`` (temperature:SOC) and rested exactly as solve_eis does
(:meth:`ImpedanceSimulator.rested`). The rested aged state is then linearised with groups of its states put
back to the fresh state's values, and the Re Z growth split over the groups:

- ``sei_film``: the SEI concentration (its thickness, so the film resistance);
- ``active_material``: the electrodes' active-material volume fractions (LAM: the area a = 3 eps / R that
  carries charge transfer, double layer and solid diffusion);
- ``stoichiometry``: the particle concentrations and the surface potential differences that hold them at
  rest (where each electrode sits on its OCV and exchange-current curves at the same cell SOC: LLI, and the
  window shift LAM causes);
- ``plating``: plated and dead lithium;
- ``other``: every remaining state (crack length, temperature, counters), so the groups add up.

Contact resistance is a per-cell input that no mechanism ages (agingset/physics/aging.py): its share is
zero by construction, which the run checks (the input is the same for both states).

Shares are Shapley values over the groups (every order of resetting averaged; they add up to the total
growth exactly) and, beside them, the one-at-a-time drop from resetting one group alone. Linearising a
hybrid state is valid because every group is swapped at rest, where no current flows: the film drop is
zero and the surface potential differences travel with the concentrations they balance.

    python -m benchmarks run signature_mechanisms [--samples 24] [--soh 0.85] [--condition 25:0.5 10:0.5]
"""

from __future__ import annotations

import argparse
import itertools
import math
import time

import numpy as np
import pandas as pd
import pybamm

from agingset.calibration.dataset import dataset_model
from agingset.config import load_params
from agingset.inputs import read_calibrated
from agingset.physics.eis import ImpedanceSimulator, Operating, Rested
from agingset.physics.stepping import StepRun
from agingset.tasks.eis import spectrum_tasks
from benchmarks._common import ROOT, write_result

FREQUENCIES_HZ = (100.0, 1.0, 0.1)  # the growth metrics' (agingset/aging_signatures.py)
CONTACT = "Contact resistance [Ohm]"
# State-name fragments of each mechanism; the first group whose fragment a state's name holds takes it.
GROUPS = {
    "sei_film": ("SEI",),
    "active_material": ("active material volume fraction",),
    "stoichiometry": ("particle concentration", "surface potential difference"),
    "plating": ("plating", "dead lithium"),
}
OTHER = "other"


def group_of(name: str) -> str:
    for group, fragments in GROUPS.items():
        if any(fragment in name for fragment in fragments):
            return group
    return OTHER


def state_groups(model: pybamm.BaseModel) -> dict[str, np.ndarray]:
    """Indices of the time-domain model's state vector per group (every state in exactly one group)."""
    indices: dict[str, list[int]] = {name: [] for name in [*GROUPS, OTHER]}
    names: dict[str, list[str]] = {name: [] for name in indices}
    for variable, slices in model.y_slices.items():
        group = group_of(variable.name)
        indices[group] += list(range(slices[0].start, slices[0].stop))
        names[group].append(variable.name)
    for group, members in names.items():
        print(f"  {group}: {', '.join(members) or '(none)'}")
    return {group: np.array(found, dtype=int) for group, found in indices.items() if found}


def re_z(
    simulator: ImpedanceSimulator, model, y: np.ndarray, inputs: dict, soc: float, frequencies
) -> np.ndarray:
    """Re Z at ``frequencies`` of the (rested) state vector ``y``, by solve_eis's own linearisation."""
    rest = StepRun(model, inputs, np.array([0.0]), y[:, None])
    impedance = simulator.frequency_domain_impedance(Rested(rest, inputs, soc), np.asarray(frequencies))
    return impedance.real


def shapley(values: dict[frozenset, np.ndarray], groups: list[str]) -> dict[str, np.ndarray]:
    """Each group's Shapley share of ``values[all] - values[none]`` (``values``: Re Z with the key's groups aged)."""
    k = len(groups)
    result = {}
    for group in groups:
        others = [g for g in groups if g != group]
        total = 0.0
        for size in range(k):
            weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
            for subset in itertools.combinations(others, size):
                key = frozenset(subset)
                total = total + weight * (values[key | {group}] - values[key])
        result[group] = total
    return result


def attribute(simulator, model, groups, y_fresh, y_aged, inputs, soc, frequencies) -> dict:
    names = list(groups)
    values = {}
    for size in range(len(names) + 1):
        for subset in itertools.combinations(names, size):
            y = y_fresh.copy()
            for group in subset:
                y[groups[group]] = y_aged[groups[group]]
            values[frozenset(subset)] = re_z(simulator, model, y, inputs, soc, frequencies)
    fresh, aged = values[frozenset()], values[frozenset(names)]
    alone = {g: aged - values[frozenset(names) - {g}] for g in names}
    return {"fresh": fresh, "aged": aged, "shapley": shapley(values, names), "alone": alone}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--samples", type=int, default=24, help="the first N samples of data/aging (sorted by id)"
    )
    parser.add_argument(
        "--soh", type=float, default=0.85, help="aged state: the RPT whose SOH is nearest this"
    )
    parser.add_argument("--condition", nargs="+", default=["25:0.5", "10:0.5"], help="temperature_c:soc")
    parser.add_argument("--frequencies", nargs="+", type=float, default=list(FREQUENCIES_HZ), help="Hz")
    arguments = parser.parse_args(argv)
    frequencies = [float(f) for f in arguments.frequencies]
    conditions = [tuple(float(part) for part in text.split(":")) for text in arguments.condition]

    params = load_params(ROOT / "params.yaml")
    model = dataset_model(
        params.model, read_calibrated(params, ROOT / "data" / "calibrate" / "calibrated.json")
    )
    design = pd.read_parquet(ROOT / "data" / "design" / "samples.parquet")
    snapshots = pd.read_parquet(ROOT / "data" / "aging" / "snapshots.parquet")
    states = pd.read_parquet(ROOT / "data" / "aging" / "states.parquet")
    tasks = spectrum_tasks(model, params.eis, design, snapshots, states, params.seed)[: arguments.samples]
    ambient = design.set_index("sample_id")["ambient_temperature_c"]

    tick, wall = time.process_time(), time.perf_counter()
    simulator = ImpedanceSimulator(model, params.eis, list(tasks[0].input_names))
    groups = state_groups(simulator.time_model)
    rows = []
    for task in tasks:
        first = task.snapshots[0]
        aged = min(task.snapshots[1:], key=lambda s: abs(s.capacity_ah / first.capacity_ah - arguments.soh))
        soh = aged.capacity_ah / first.capacity_ah
        for temperature_c, soc in conditions:
            point = Operating(soc, temperature_c)
            try:
                rested = [
                    simulator.rested(s.state, task.inputs, s.soc, s.capacity_ah, point) for s in (first, aged)
                ]
            except Exception as err:  # a state that cannot reach the point: report it, keep the others
                print(f"{task.sample_id} {temperature_c:g} C SOC {soc:g}: {err}")
                continue
            inputs = rested[1].inputs
            assert rested[0].inputs[CONTACT] == inputs[CONTACT]  # contact: the same input, fresh and aged
            y_fresh, y_aged = (r.y.copy() for r in rested)
            parts = attribute(
                simulator, simulator.time_model, groups, y_fresh, y_aged, inputs, soc, frequencies
            )
            growth = parts["aged"] - parts["fresh"]
            for index, frequency in enumerate(frequencies):
                row = {
                    "sample_id": task.sample_id,
                    "ambient_c": float(ambient[task.sample_id]),
                    "soh": soh,
                    "temperature_c": temperature_c,
                    "soc": soc,
                    "frequency_hz": frequency,
                    "re_z_fresh_mohm": 1e3 * parts["fresh"][index],
                    "growth_pct": 100 * growth[index] / parts["fresh"][index],
                    "growth_per_10pct_lost_pct": 100
                    * growth[index]
                    / parts["fresh"][index]
                    * 0.1
                    / (1 - soh),
                }
                for group in groups:
                    row[f"share_{group}"] = parts["shapley"][group][index] / growth[index]
                    row[f"alone_{group}"] = parts["alone"][group][index] / growth[index]
                row["share_contact"] = 0.0
                rows.append(row)
    cpu_s, wall_s = time.process_time() - tick, time.perf_counter() - wall
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    share_columns = [c for c in table if c.startswith("share_")]
    alone_columns = [c for c in table if c.startswith("alone_")]
    keys = ["temperature_c", "soc", "frequency_hz"]
    print(
        table.groupby(keys)[["soh", "growth_pct", "growth_per_10pct_lost_pct"]].median().round(3).to_string()
    )
    print("\nShapley shares of the Re Z growth (median over samples; each sample's add up to 1):")
    print(table.groupby(keys)[share_columns].median().round(3).to_string())
    print("\nOne group reset alone, share of the growth it removes (median over samples):")
    print(table.groupby(keys)[alone_columns].median().round(3).to_string())
    print(f"\n{table['sample_id'].nunique()} samples, {cpu_s:.0f} CPU s, {wall_s:.0f} s wall")

    figures = {
        "samples": int(table["sample_id"].nunique()),
        "soh_target": arguments.soh,
        "cpu_s": round(cpu_s, 1),
        "wall_s": round(wall_s, 1),
    }
    for (temperature_c, soc, frequency), group in table.groupby(keys):
        name = f"t{temperature_c:g}c_soc{round(100 * soc)}_{frequency:g}hz"
        figures[name] = {
            "soh_median": round(float(group["soh"].median()), 4),
            "growth_pct_median": round(float(group["growth_pct"].median()), 3),
            "growth_per_10pct_lost_pct_median": round(float(group["growth_per_10pct_lost_pct"].median()), 3),
            "shapley_share_median": {
                c.removeprefix("share_"): round(float(group[c].median()), 3) for c in share_columns
            },
            "alone_share_median": {
                c.removeprefix("alone_"): round(float(group[c].median()), 3) for c in alone_columns
            },
        }
    write_result("signature_mechanisms", figures)


if __name__ == "__main__":
    main()

"""Per-sample cost of solve_eis and of the labels stage's spectrum features, by setting, side by side.

One sample of the default design (params.yaml; `--ambient` picks the protocol temperature) is aged
for `--cycles` cycles; its spectra (snapshots x eis.temperatures_c x eis.socs) are then solved
with the configured settings and with the cross-check on every spectrum, with and without
compiled IDAKLU functions, in one process, and the spectrum features (clean and noisy) computed.

    python benchmarks/eis_cost.py [--cycles 300] [--ambient 45] [--repeats 2]

Needs data/calibrate/calibrated.json when params.yaml uses calibrated base values. Prints
seconds per sample (best of the repeats), ratios to the everything-on setting, and how far
the compiled solves' impedance is from casadi's virtual machine. Ratios matter, not seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agingset.design import build_design  # noqa: E402
from agingset.impedance_features import spectrum_feature_table  # noqa: E402
from agingset.noise import noisy_spectra  # noqa: E402
from agingset.params import load_params  # noqa: E402
from agingset.physics.model import handoff_state_names  # noqa: E402
from agingset.tasks import eis as eis_tasks  # noqa: E402
from agingset.tasks.aging import aging_tasks, solve_sample  # noqa: E402
from stages._io import dataset_model  # noqa: E402
from stages.design import dataset_design  # noqa: E402


def aged_task(cycles: int, ambient_c: float):
    params = load_params(ROOT / "params.yaml")
    params = params.model_copy(update={"aging": params.aging.model_copy(update={"cycles": cycles})})
    design = build_design(dataset_design(params), 24, params.seed)
    design = design[design["ambient_temperature_c"] == ambient_c].iloc[[0]].reset_index(drop=True)
    model = dataset_model(params)
    handoff = handoff_state_names(model, params.eis.surface_form)
    result = solve_sample(aging_tasks(model, params.solver, params.aging, handoff, design)[0])
    if result["status"]["status"].iloc[0] != "ok":
        raise RuntimeError(result["status"].to_dict("records"))
    return params, eis_tasks.spectrum_tasks(model, params.eis, design, result["snapshots"], result["states"], params.seed)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--ambient", type=float, default=45.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    params, task = aged_task(args.cycles, args.ambient)
    settings = {
        f"configured (fraction {task.eis.cross_check_fraction:g}, compile {task.eis.compile})": {},
        "cross-check every spectrum": {"cross_check_fraction": 1.0},
        "every spectrum, compile off": {"cross_check_fraction": 1.0, "compile": False},
    }
    tasks = {name: dataclasses.replace(task, eis=task.eis.model_copy(update=change)) for name, change in settings.items()}
    for one in tasks.values():  # build the simulators (and compile) outside the timing
        eis_tasks.solve_spectra(dataclasses.replace(one, snapshots=one.snapshots[:1]))
    seconds = {name: [] for name in tasks}
    tables = {}
    for _ in range(args.repeats):
        for name, one in tasks.items():
            start = time.perf_counter()
            tables[name] = eis_tasks.solve_spectra(one)
            seconds[name].append(time.perf_counter() - start)
    spectra = len(tables[next(iter(tables))]) // len(task.eis.frequencies_hz)
    print(f"solve_eis, one sample: {len(task.snapshots)} snapshots, {spectra} spectra")
    first = min(seconds[next(iter(seconds))])
    compiled = tables["cross-check every spectrum"]
    for name, times in seconds.items():
        print(f"  {name:44} {min(times):7.2f} s  ({min(times) / first:4.1f}x the configured)")
    z = compiled["z_re_ohm"] + 1j * compiled["z_im_ohm"]
    vm = tables["every spectrum, compile off"]
    z_vm = vm["z_re_ohm"] + 1j * vm["z_im_ohm"]
    print(f"  compiled vs virtual machine: max |dZ|/|Z| {np.max(np.abs(z - z_vm) / np.abs(z_vm)):.1e}; "
          f"cross_check_pct max {compiled['cross_check_pct'].max():.3f} %")

    clean = tables[next(iter(tables))]
    noisy = noisy_spectra(clean, params.noise, params.seed)
    feature_seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        spectrum_feature_table(clean), spectrum_feature_table(noisy)
        feature_seconds.append(time.perf_counter() - start)
    best = min(feature_seconds)
    print(f"spectrum features, clean + noisy: {best:.2f} s per sample, {1e3 * best / (2 * spectra):.1f} ms per spectrum")


if __name__ == "__main__":
    main()

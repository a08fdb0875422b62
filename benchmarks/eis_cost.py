"""What does one sample cost in solve_eis and in the labels stage's spectrum features, by setting, side by side?

One sample of the default design (params.yaml; `--ambient` picks the protocol temperature) is aged
for `--cycles` cycles; its spectra (snapshots x eis.temperatures_c x eis.socs) are then solved
with the configured settings and with the cross-check on every spectrum, with and without
compiled IDAKLU functions, in one process, and the spectrum features (clean and noisy) computed.

    python -m benchmarks run eis_cost [--cycles 300] [--ambient 45] [--repeats 2]

Needs data/calibrate/calibrated.json when params.yaml uses calibrated base values. Prints
seconds per sample (best of the repeats), ratios to the everything-on setting, and how far
the compiled solves' impedance is from casadi's virtual machine. Ratios matter, not seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from agingset.calibration.dataset import dataset_design, dataset_model
from agingset.config import load_params
from agingset.design import build_design
from agingset.impedance_features import spectrum_feature_table
from agingset.inputs import read_calibrated
from agingset.noise import noisy_spectra
from agingset.physics.model import handoff_state_names
from agingset.tasks import eis as eis_tasks
from agingset.tasks.aging import aging_tasks, solve_sample
from benchmarks._common import ROOT, write_result


def aged_task(cycles: int, ambient_c: float):
    params = load_params(ROOT / "params.yaml")
    params = params.model_copy(update={"aging": params.aging.model_copy(update={"cycles": cycles})})
    calibrated = read_calibrated(params, ROOT / "data" / "calibrate" / "calibrated.json")
    design = build_design(dataset_design(params.design, calibrated), 24, params.seed)
    design = design[design["ambient_temperature_c"] == ambient_c].iloc[[0]].reset_index(drop=True)
    model = dataset_model(params.model, calibrated)
    handoff = handoff_state_names(model, params.eis.surface_form)
    result = solve_sample(aging_tasks(model, params.solver, params.aging, handoff, design)[0])
    if result["status"]["status"].iloc[0] != "ok":
        raise RuntimeError(result["status"].to_dict("records"))
    return params, eis_tasks.spectrum_tasks(model, params.eis, design, result["snapshots"], result["states"], params.seed)[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--ambient", type=float, default=45.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
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
    vm_difference = float(np.max(np.abs(z - z_vm) / np.abs(z_vm)))
    print(f"  compiled vs virtual machine: max |dZ|/|Z| {vm_difference:.1e}; "
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
    write_result(
        "eis_cost",
        {
            "cycles": args.cycles,
            "ambient_c": args.ambient,
            "snapshots": len(task.snapshots),
            "spectra": spectra,
            "solve_eis_s": {name: min(times) for name, times in seconds.items()},
            "ratio_to_configured": {name: min(times) / first for name, times in seconds.items()},
            "compiled_vs_vm_max_rel_dz": vm_difference,
            "cross_check_pct_max": float(compiled["cross_check_pct"].max()),
            "features_s_per_sample": best,
            "features_ms_per_spectrum": 1e3 * best / (2 * spectra),
        },
    )


if __name__ == "__main__":
    main()

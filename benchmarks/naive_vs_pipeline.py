"""How much faster is the pipeline than the brief's naive loop on the same lives (one process each, side by side)?

naive     per life: a new pybamm.Simulation with pybamm.CasadiSolver and the whole aging experiment
          (conditioning, RPT, then every cycle simulated with an RPT every ``aging.rpt_every``), then a new
          pybamm.EISSimulation per snapshot and operating point (the brief's approach)
pipeline  the stages' domain functions: one simulator built for every life (compiled IDAKLU, the
          direct step loop, cycle jumping), the impedance of every snapshot from one built model

Lives are design rows ``0, every, 2 * every, ...`` of the default N-sample design (the dataset's
calibrated model and ranges: run `dvc repro calibrate` first). The pipeline runs each life whole
(every RPT, storage blocks and temperature switches as the stage runs them). The naive loop runs each
life for ``--naive-cycles`` cycles of the same protocol levels (0: as many as the pipeline's life
completed) and its seconds are scaled to the pipeline's life length: its build once, its solve per cycle,
its spectra per snapshot (each printed as measured); a whole naive life takes minutes. Wall seconds, the
pipeline's build and compile included (its compiled models loaded from disk when present).

    python -m benchmarks run naive_vs_pipeline [--lives 4] [--samples 200] [--every 50] [--naive-cycles 100]
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd
import pybamm

from agingset.physics import model as model_building
from agingset.physics.protocol import Protocol, build_experiment
from agingset.tasks.aging import aging_tasks, solve_sample
from agingset.tasks.eis import solve_spectra, spectrum_tasks
from agingset.config import load_params
from benchmarks._common import dataset_samples, write_result


def naive_life(params, model_config, row, names, cycles: int) -> tuple[dict, int, str]:
    """Seconds of the naive loop on one life for ``cycles`` cycles (building its simulation, solving it, and
    per snapshot its spectra), the snapshots it measured, its status."""
    aging = params.aging.model_copy(update={"cycles": cycles})
    start = time.perf_counter()
    values = model_building.parameter_values(model_config, [])
    values.update({name: float(row[name]) for name in names})
    model = model_building.build_model(model_config)
    simulation = pybamm.Simulation(
        model,
        parameter_values=values,
        experiment=build_experiment(aging, Protocol.of(row.to_dict())),
        solver=pybamm.CasadiSolver(rtol=params.solver.rtol, atol=params.solver.atol),
        var_pts=model_building.var_pts(model_config, model),
    )
    simulation.build_for_experiment()
    built = time.perf_counter()
    status = "ok"
    try:
        simulation.solve()
    except pybamm.SolverError as error:
        status = f"failed: {error}"[:80]
    solved = time.perf_counter()
    snapshots = cycles // aging.rpt_every + 1
    for _ in range(snapshots * len(params.eis.socs) * len(params.eis.temperatures_c)):
        impedance_model = model_building.impedance_model(model_config, params.eis.surface_form)
        eis = pybamm.EISSimulation(
            impedance_model, parameter_values=values, var_pts=model_building.var_pts(model_config, impedance_model)
        )
        eis.solve(params.eis.frequencies_hz)
    seconds = {"build": built - start, "solve": solved - built, "spectra": time.perf_counter() - solved}
    return seconds, snapshots, status


def pipeline_lives(params, model_config, design) -> tuple[float, list[dict]]:
    """Wall seconds of the stages' path on every life (aging and spectra), and each life's status."""
    start = time.perf_counter()
    handoff = model_building.handoff_state_names(model_config, params.eis.surface_form)
    results = [solve_sample(task) for task in aging_tasks(model_config, params.solver, params.aging, handoff, design)]
    snapshots = pd.concat([r["snapshots"] for r in results if not r["snapshots"].empty], ignore_index=True)
    states = pd.concat([r["states"] for r in results if not r["states"].empty], ignore_index=True)
    for task in spectrum_tasks(model_config, params.eis, design, snapshots, states, params.seed):
        solve_spectra(task)
    seconds = time.perf_counter() - start
    return seconds, [r["status"].iloc[0].to_dict() for r in results]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lives", type=int, default=4)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--naive-cycles", type=int, default=100)
    arguments = parser.parse_args(argv)
    params = load_params("params.yaml")
    model_config, design, names = dataset_samples(params, arguments.samples)
    rows = design.iloc[[arguments.every * k for k in range(arguments.lives)]].reset_index(drop=True)
    warnings.simplefilter("ignore")

    pipeline_s, statuses = pipeline_lives(params, model_config, rows)
    print(f"pipeline: {pipeline_s:.1f} s for {len(rows)} whole lives ({pipeline_s / len(rows):.1f} s a life)", flush=True)
    lives, naive_total = [], 0.0
    for (_, row), status in zip(rows.iterrows(), statuses):
        life_cycles = max(int(status["cycles_completed"]), params.aging.rpt_every)
        cycles = arguments.naive_cycles or life_cycles
        seconds, snapshots, naive_status = naive_life(params, model_config, row, names, cycles)
        # The build once; the solve per cycle and the spectra per snapshot, scaled to the whole life.
        life_snapshots = life_cycles // params.aging.rpt_every + 1
        scaled = seconds["build"] + seconds["solve"] * life_cycles / cycles + seconds["spectra"] * life_snapshots / snapshots
        naive_total += scaled
        lives.append(
            {"sample_id": row["sample_id"], "pipeline_status": status["status"], "life_cycles": life_cycles,
             "naive_cycles": cycles, "naive_s": seconds, "naive_scaled_s": scaled, "naive_status": naive_status}
        )
        print(
            f"{row['sample_id']}: {life_cycles} cycles in the pipeline ({status['status']}); naive: build {seconds['build']:.1f} s, "
            f"{cycles} cycles {seconds['solve']:.1f} s, spectra of {snapshots} snapshots {seconds['spectra']:.1f} s "
            f"-> {scaled:.0f} s for the life ({naive_status})",
            flush=True,
        )
    print(f"naive / pipeline on {len(rows)} lives: {naive_total:.0f} s / {pipeline_s:.1f} s = {naive_total / pipeline_s:.0f}x")
    write_result(
        "naive_vs_pipeline",
        {
            "lives": len(rows),
            "naive_cycles": arguments.naive_cycles,
            "pipeline_s": pipeline_s,
            "naive_scaled_s": naive_total,
            "speedup": naive_total / pipeline_s,
            "per_life": lives,
        },
    )


if __name__ == "__main__":
    main()

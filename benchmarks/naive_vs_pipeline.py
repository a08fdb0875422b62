"""How much faster per sample is the pipeline's path than the seed's naive loop (one worker each, side by side)?

naive     a new pybamm.Simulation per sample with pybamm.CasadiSolver, the aging experiment,
          then a new pybamm.EISSimulation per snapshot (the seed's approach)
pipeline  the stages' domain functions: one built model per protocol solved with IDAKLU for
          every sample (inputs vary), impedance of every saved snapshot state from one built
          EISSimulation

    python -m benchmarks run naive_vs_pipeline --family SPMe --samples 10 --cycles 10

Both paths run the same design rows under one protocol with params.yaml's model options,
RPT and tolerances; only the family and cycle budget are overridden. Ratios matter, not seconds.
"""

from __future__ import annotations

import argparse
import time
import warnings

import pybamm
import yaml

from agingset.config import parse_params
from agingset.design import build_design, cell_parameter_columns
from agingset.params import PROTOCOL_FIELDS
from agingset.physics import model as model_building
from agingset.physics.protocol import Protocol, build_experiment
from agingset.tasks.aging import aging_tasks, solve_sample
from agingset.tasks.eis import solve_spectra, spectrum_tasks
from benchmarks._common import ROOT, write_result


def _params(family: str, cycles: int, samples: int):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["model"]["family"] = family
    raw["aging"].update(cycles=cycles, rpt_every=cycles)
    raw["samples"] = samples
    # One protocol: the comparison is about rebuilding, not about protocol mix.
    for field in PROTOCOL_FIELDS:
        raw["design"][field] = raw["design"][field][:1]
    raw["design"]["protocols_per_cell"] = 1
    return parse_params(raw)


def naive(params, design) -> tuple[float, int]:
    names = cell_parameter_columns(design)
    start, failures = time.perf_counter(), 0
    for _, row in design.iterrows():
        values = model_building.parameter_values(params.model, [])
        values.update({name: float(row[name]) for name in names})
        protocol = Protocol.of(row.to_dict())
        model = model_building.build_model(params.model)
        simulation = pybamm.Simulation(
            model,
            parameter_values=values,
            experiment=build_experiment(params.aging, protocol),
            solver=pybamm.CasadiSolver(rtol=params.solver.rtol, atol=params.solver.atol),
            var_pts=model_building.var_pts(params.model, model),
        )
        try:
            simulation.solve()
        except pybamm.SolverError:
            failures += 1
        # The seed solved one spectrum per snapshot and operating point, each in a new simulation.
        points = len(params.eis.socs) * len(params.eis.temperatures_c)
        for _ in range((params.aging.cycles // params.aging.rpt_every + 1) * points):
            impedance_model = model_building.impedance_model(params.model, params.eis.surface_form)
            eis = pybamm.EISSimulation(
                impedance_model, parameter_values=values, var_pts=model_building.var_pts(params.model, impedance_model)
            )
            eis.solve(params.eis.frequencies_hz)
    return (time.perf_counter() - start) / len(design), failures


def pipeline(params, design) -> tuple[float, int]:
    start = time.perf_counter()
    handoff = model_building.handoff_state_names(params.model, params.eis.surface_form)
    results = [solve_sample(task) for task in aging_tasks(params.model, params.solver, params.aging, handoff, design)]
    import pandas as pd

    snapshots = pd.concat([r["snapshots"] for r in results if not r["snapshots"].empty], ignore_index=True)
    states = pd.concat([r["states"] for r in results if not r["states"].empty], ignore_index=True)
    for task in spectrum_tasks(params.model, params.eis, design, snapshots, states, params.seed):
        solve_spectra(task)
    failures = sum(r["status"]["status"].iloc[0] != "ok" for r in results)
    return (time.perf_counter() - start) / len(design), failures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="SPMe", choices=["SPM", "SPMe", "DFN"])
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--cycles", type=int, default=10)
    arguments = parser.parse_args(argv)
    params = _params(arguments.family, arguments.cycles, arguments.samples)
    design = build_design(params.design, params.samples, params.seed)
    warnings.simplefilter("ignore")
    naive_s, naive_failed = naive(params, design)
    pipeline_s, pipeline_failed = pipeline(params, design)
    print(f"{arguments.family}, {arguments.samples} samples, {arguments.cycles} cycles, {len(params.eis.frequencies_hz)} frequencies")
    print(f"naive (new Simulation + CasadiSolver + new EISSimulation): {naive_s:7.2f} s/sample ({naive_failed} failed)")
    print(f"pipeline (build once, IDAKLU, inputs vary)               : {pipeline_s:7.2f} s/sample ({pipeline_failed} failed)")
    print(f"speed-up per sample: {naive_s / pipeline_s:6.1f}x")
    write_result(
        "naive_vs_pipeline",
        {
            "family": arguments.family,
            "samples": arguments.samples,
            "cycles": arguments.cycles,
            "frequencies": len(params.eis.frequencies_hz),
            "naive_s_per_sample": naive_s,
            "pipeline_s_per_sample": pipeline_s,
            "naive_failed": naive_failed,
            "pipeline_failed": pipeline_failed,
            "speedup": naive_s / pipeline_s,
        },
    )


if __name__ == "__main__":
    main()

"""How many seconds does an aging sample take with each model fidelity (SPM, SPMe, DFN), side by side?

Each family solves the same first samples of the default design under the first
sample's protocol with the default params (mechanisms, mesh, experiment); the simulator
is built once per family, so the first sample includes the build and the rest reuse it.
The aging model is driven directly (no impedance hand-off), so SPMe and DFN run even
while params.py accepts only SPM for the full pipeline.

    python -m benchmarks run aging_by_fidelity [samples] [cycles]
"""

import argparse
import time

from agingset.config import load_params
from agingset.design import build_design, cell_parameter_columns
from agingset.physics.aging import AgingSimulator, Protocol
from benchmarks._common import write_result

FAMILIES = ("SPM", "SPMe", "DFN")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", type=int, nargs="?", default=2)
    parser.add_argument("cycles", type=int, nargs="?", help="default: params.yaml's aging.cycles")
    arguments = parser.parse_args(argv)
    samples, cycles = arguments.samples, arguments.cycles
    params = load_params("params.yaml")
    aging = params.aging
    if cycles:
        aging = aging.model_copy(update={"cycles": cycles, "rpt_every": min(aging.rpt_every, cycles)})
    design = build_design(params.design, samples, params.seed)
    protocol = Protocol.of(design.iloc[0])
    names = cell_parameter_columns(design)
    rows = [{name: float(row[name]) for name in names} for _, row in design.iterrows()]
    print(f"{samples} samples x {aging.cycles} cycles, protocol {protocol}")
    results, figures = {}, {}
    for family in FAMILIES:
        model = params.model.model_copy(update={"family": family})
        start = time.perf_counter()
        simulator = AgingSimulator(model, params.solver, aging, names, [])
        seconds, statuses = [], []
        for index, inputs in enumerate(rows):
            tick = time.perf_counter()
            result = simulator.run(str(index), protocol, inputs)
            seconds.append(time.perf_counter() - tick)
            statuses.append(result["status"]["status"].iloc[0])
        total = time.perf_counter() - start
        results[family] = total / samples
        reuse = sum(seconds[1:]) / max(1, len(seconds) - 1)
        figures[family] = {"s_per_sample": results[family], "first_incl_build_s": seconds[0], "reused_s": reuse, "statuses": statuses}
        print(
            f"{family:5s} {total / samples:8.1f} s/sample (first incl. build {seconds[0]:.1f} s, "
            f"reused {reuse:.1f} s)  statuses {statuses}"
        )
    for family in FAMILIES[1:]:
        print(f"{family} / SPM: {results[family] / results['SPM']:.1f}x")
    ratios = {f"{family}_over_SPM": results[family] / results["SPM"] for family in FAMILIES[1:]}
    write_result("aging_by_fidelity", {"samples": samples, "cycles": aging.cycles, "families": figures, **ratios})


if __name__ == "__main__":
    main()

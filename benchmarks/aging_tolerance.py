"""Aging lives at two solver tolerances, side by side in one process: CPU and what the looser one changes.

Design rows ``first, first + every, ...`` of an N-sample default design (the dataset's calibrated model and
ranges: run `dvc repro calibrate` first) are each solved by one warmed simulator per ``solver.atol``, alternating,
twice; printed per life: the minimum CPU seconds of each, their ratio, the largest SOH difference over the RPTs
and the status. Garbage is collected, and what survives frozen out of the collector, before every timed run.

    python -m benchmarks.aging_tolerance [--atol 1e-6 1e-5] [--samples 200] [--first 0] [--every 20]
"""

import argparse

from agingset.params import load_params
from agingset.physics.aging import AgingSimulator, Protocol
from benchmarks.cycle_jumping import dataset_design, side_by_side


def warmed_simulator(params, solver, model, design, names, row: int, link_solves: bool = True) -> AgingSimulator:
    """A simulator that has built and compiled its models (one block of one life)."""
    aging = params.aging.model_copy(update={"cycles": params.aging.rpt_every})
    simulator = AgingSimulator(model, solver, aging, names, [], link_solves=link_solves)
    sample = design.iloc[row]
    simulator.run("warm", Protocol.of(sample), {name: float(sample[name]) for name in names})
    simulator.aging = params.aging
    return simulator


def main(atols: list[float], samples: int, first: int, every: int) -> None:
    params = load_params("params.yaml")
    model, design, names = dataset_design(params, samples)
    rows = list(range(first, samples, every))
    simulators = {
        f"atol {atol:g}": warmed_simulator(
            params, params.solver.model_copy(update={"atol": atol, "timeout_s": 1e5}), model, design, names, rows[0]
        )
        for atol in sorted(atols)
    }
    side_by_side(simulators, design, names, rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atol", type=float, nargs=2, default=[1e-6, 1e-5])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--every", type=int, default=20)
    arguments = parser.parse_args()
    main(arguments.atol, arguments.samples, arguments.first, arguments.every)

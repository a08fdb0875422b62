"""Aging lives with and without the compiled state hand-over between solves, side by side in one process.

A solve that continues another (the next cycle, the RPT after the cycles, a cycle from a jumped state) starts
from it through a compiled state mapper (:func:`agingset.physics.aging.link_simulations`); without the link
PyBaMM rebuilds its initial conditions as expression trees. Design rows ``first, first + every, ...`` of an
N-sample default design (run `dvc repro calibrate` first) are each solved by one warmed simulator per way,
alternating, twice; printed per life: the minimum CPU seconds of each, their ratio, the largest SOH
difference over the RPTs and the statuses.

    python -m benchmarks.state_handover [--samples 200] [--first 0] [--every 20]
"""

import argparse

from agingset.params import load_params
from benchmarks.aging_tolerance import warmed_simulator
from benchmarks.cycle_jumping import dataset_design, side_by_side


def main(samples: int, first: int, every: int) -> None:
    params = load_params("params.yaml")
    model, design, names = dataset_design(params, samples)
    rows = list(range(first, samples, every))
    rebuilt = warmed_simulator(params, params.solver, model, design, names, rows[0], link_solves=False)
    linked = warmed_simulator(params, params.solver, model, design, names, rows[0])
    side_by_side({"rebuilt": rebuilt, "linked": linked}, design, names, rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--every", type=int, default=20)
    arguments = parser.parse_args()
    main(arguments.samples, arguments.first, arguments.every)

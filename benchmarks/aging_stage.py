"""Does a change to the aging solve pay off on the solve_aging stage's own tasks (IDAKLU's extrapolation check on vs off)?

Changes to the aging solve are judged here rather than in one process: with two busy workers each life runs
~1.45x slower than alone, and what a change saves in one process may not show (a compiled state hand-over:
1.14x in one process, 0.98x here). Design rows ``0, every, 2 * every, ...`` (``rows`` of them) of the 200-sample
default design (run `dvc repro calibrate` first), as `solve_aging` makes its tasks, go through
``run_tasks`` on ``workers`` processes without the per-sample cache (after one untimed run that compiles
the models if their cache is empty), the two variants alternating, ``rounds`` times; printed: the wall
seconds of every run and the ratio of the minima.

    python -m benchmarks run aging_stage [--rows 40] [--every 5] [--workers 2] [--rounds 3]
"""

import argparse
import time

from agingset.config import load_params
from agingset.executor import Settings, cached, run_tasks
from agingset.physics import model as model_building
from agingset.physics.aging import AgingSimulator
from agingset.tasks.aging import aging_tasks, solve_sample
from benchmarks._common import dataset_samples, write_result


def checked(task):
    """:func:`solve_sample` with PyBaMM's default check: the worker's simulator is built with it first
    (every ``run_tasks`` call spawns its own workers, so the two variants never share one)."""

    def build():
        simulator = AgingSimulator(
            task.model, task.solver, task.aging, list(task.input_names), list(task.handoff_names)
        )
        for simulation in simulator.simulations.values():  # before the first solve copies the solver per step
            simulation._solver.on_extrapolation = "warn"
        return simulator

    cached(task.simulator_key(), build)
    return solve_sample(task)


unchecked = solve_sample  # the stage's own function


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args(argv)
    rows, every, workers, rounds = arguments.rows, arguments.every, arguments.workers, arguments.rounds
    params = load_params("params.yaml")
    model, design, _ = dataset_samples(params, 200)
    handoff = model_building.handoff_state_names(model, params.eis.surface_form)
    tasks = aging_tasks(model, params.solver, params.aging, handoff, design.iloc[::every].iloc[:rows])
    settings = Settings(workers=workers, quiet=True)
    run_tasks(checked, tasks[:workers], "compile", settings=settings)  # an empty compiled-model cache fills here
    walls = {"checked": [], "unchecked": []}
    for _ in range(rounds):
        for label, function in (("checked", checked), ("unchecked", unchecked)):
            tick = time.perf_counter()
            _, report = run_tasks(function, tasks, label, settings=settings)
            walls[label].append(time.perf_counter() - tick)
            print(f"{label:9s} {walls[label][-1]:6.1f} s  ({report})", flush=True)
    ratio = min(walls["checked"]) / min(walls["unchecked"])
    print(f"extrapolation check on / off: {ratio:.2f}x (min of {rounds}, {len(tasks)} lives, {workers} workers)")
    write_result(
        "aging_stage",
        {"lives": len(tasks), "workers": workers, "rounds": rounds, "wall_s": walls, "checked_over_unchecked": ratio},
    )


if __name__ == "__main__":
    main()

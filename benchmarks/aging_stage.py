"""Does a solver setting pay on the solve_aging stage's own tasks (by default compiled C against CasADi's virtual machine)?

Changes to the aging solve are judged here rather than in one process: with two busy workers each life runs
~1.45x slower than alone, and what a change saves in one process may not show (a compiled state hand-over:
1.14x in one process, 0.98x here). Design rows ``0, every, 2 * every, ...`` (``rows`` of them) of the 200-sample
default design (run `dvc repro calibrate` first), as `solve_aging` makes its tasks, go through ``run_tasks`` on
``workers`` processes without the per-sample cache, once with ``solver.compile`` true and once false (after one
untimed run of each that builds, and compiles, the models), the two variants alternating, ``rounds`` times;
printed: the wall seconds of every run and the ratio of the minima. ``--setting`` compares another boolean
``solver`` setting the same way (e.g. ``suppress_algebraic_error``): on, then off.

    python -m benchmarks run aging_stage [--rows 40] [--every 5] [--workers 2] [--rounds 3] [--setting compile]
"""

import argparse
import time

from agingset.config import load_params
from agingset.executor import Settings, run_tasks
from agingset.physics import model as model_building
from agingset.tasks.aging import aging_tasks, solve_sample
from benchmarks._common import dataset_samples, write_result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--setting", default="compile", help="a boolean solver setting: compared on against off")
    arguments = parser.parse_args(argv)
    setting = arguments.setting
    rows, every, workers, rounds = arguments.rows, arguments.every, arguments.workers, arguments.rounds
    params = load_params("params.yaml")
    model, design, _ = dataset_samples(params, 200)
    handoff = model_building.handoff_state_names(model, params.eis.surface_form)
    variants = {
        label: aging_tasks(
            model, params.solver.model_copy(update={setting: on}), params.aging, handoff, design.iloc[::every].iloc[:rows]
        )
        for label, on in ((f"{setting} on", True), (f"{setting} off", False))
    }
    settings = Settings(workers=workers, quiet=True)
    for label, tasks in variants.items():  # an empty compiled-model cache fills here
        run_tasks(solve_sample, tasks[:workers], f"warm {label}", settings=settings)
    walls = {label: [] for label in variants}
    for _ in range(rounds):
        for label, tasks in variants.items():
            tick = time.perf_counter()
            _, report = run_tasks(solve_sample, tasks, label, settings=settings)
            walls[label].append(time.perf_counter() - tick)
            print(f"{label:11s} {walls[label][-1]:6.1f} s  ({report})", flush=True)
    ratio = min(walls[f"{setting} off"]) / min(walls[f"{setting} on"])
    print(f"{setting} off / on: {ratio:.2f}x (min of {rounds}, {rows} lives, {workers} workers)")
    write_result(
        "aging_stage",
        {"setting": setting, "lives": rows, "workers": workers, "rounds": rounds, "wall_s": walls, "off_over_on": ratio},
    )


if __name__ == "__main__":
    main()

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
from benchmarks.cycle_jumping import compare, dataset_design, timed_run

REPEATS = 2


def main(atols: list[float], samples: int, first: int, every: int) -> None:
    params = load_params("params.yaml")
    model, design, names = dataset_design(params, samples)
    rows = list(range(first, samples, every))
    simulators = {}
    for atol in atols:
        solver = params.solver.model_copy(update={"atol": atol, "timeout_s": 1e5})
        simulator = AgingSimulator(model, solver, params.aging.model_copy(update={"cycles": params.aging.rpt_every}), names, [])
        row = design.iloc[rows[0]]
        simulator.run("warm", Protocol.of(row), {name: float(row[name]) for name in names})  # builds and compiles
        simulator.aging = params.aging
        simulators[atol] = simulator
    loose, tight = max(atols), min(atols)
    print(f"atol {tight:g} vs {loose:g}; min CPU s of {REPEATS} alternating runs per life")
    totals = dict.fromkeys(atols, 0.0)
    for index in rows:
        row = design.iloc[index]
        protocol, inputs = Protocol.of(row), {name: float(row[name]) for name in names}
        best, results = dict.fromkeys(atols, float("inf")), {}
        for _ in range(REPEATS):
            for atol, simulator in simulators.items():
                results[atol], cpu_s = timed_run(simulator, str(index), protocol, inputs)
                best[atol] = min(best[atol], cpu_s)
        for atol in atols:
            totals[atol] += best[atol]
        statuses = [results[atol]["status"]["status"].iloc[0] for atol in (tight, loose)]
        difference = compare(results[loose], results[tight])["soh_err_abs"] if statuses == ["ok", "ok"] else float("nan")
        status = "/".join(statuses)
        print(
            f"{index:5d} {protocol.ambient_temperature_c:4.0f} oC {protocol.charge_c_rate:g}/{protocol.discharge_c_rate:g}C: "
            f"{best[tight]:6.2f} s / {best[loose]:6.2f} s = {best[tight] / best[loose]:.2f}x, max dSOH {100 * difference:.3f} %, {status}",
            flush=True,
        )
    print(f"total {totals[tight]:.1f} s / {totals[loose]:.1f} s = {totals[tight] / totals[loose]:.2f}x over {len(rows)} lives")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atol", type=float, nargs=2, default=[1e-6, 1e-5])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--every", type=int, default=20)
    arguments = parser.parse_args()
    main(arguments.atol, arguments.samples, arguments.first, arguments.every)

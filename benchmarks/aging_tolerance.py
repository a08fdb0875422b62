"""How much CPU does a looser aging solver tolerance save, and what does it change in the lives?

Design rows ``first, first + every, ...`` of an N-sample default design (the dataset's calibrated model and
ranges: run `dvc repro calibrate` first) are each solved by one warmed simulator per value of ``solver.atol``
(or ``solver.rtol``), alternating, twice; printed per life: the minimum CPU seconds of each, their ratio, the
largest SOH difference over the RPTs and the status. Garbage is collected, and what survives frozen out of the
collector, before every timed run.

    python -m benchmarks run aging_tolerance [--tolerance atol|rtol] [--values 1e-6 1e-5] [--samples 200] [--first 0] [--every 20]
"""

import argparse

from agingset.config import load_params
from agingset.physics.aging import AgingSimulator, Protocol
from benchmarks._common import compare, dataset_samples, timed_run, write_result

REPEATS = 2


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tolerance", choices=["atol", "rtol"], default="atol")
    parser.add_argument("--values", type=float, nargs=2, default=[1e-6, 1e-5])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--every", type=int, default=20)
    arguments = parser.parse_args(argv)
    tolerance, values, samples, first, every = arguments.tolerance, arguments.values, arguments.samples, arguments.first, arguments.every
    params = load_params("params.yaml")
    model, design, names = dataset_samples(params, samples)
    rows = list(range(first, samples, every))
    simulators = {}
    for value in values:
        solver = params.solver.model_copy(update={tolerance: value, "timeout_s": 1e5})
        simulator = AgingSimulator(model, solver, params.aging.model_copy(update={"cycles": params.aging.rpt_every}), names, [])
        row = design.iloc[rows[0]]
        simulator.run("warm", Protocol.of(row), {name: float(row[name]) for name in names})  # builds and compiles
        simulator.aging = params.aging
        simulators[value] = simulator
    loose, tight = max(values), min(values)
    print(f"{tolerance} {tight:g} vs {loose:g}; min CPU s of {REPEATS} alternating runs per life")
    totals = dict.fromkeys(values, 0.0)
    lives = []
    for index in rows:
        row = design.iloc[index]
        protocol, inputs = Protocol.of(row), {name: float(row[name]) for name in names}
        best, results = dict.fromkeys(values, float("inf")), {}
        for _ in range(REPEATS):
            for value, simulator in simulators.items():
                results[value], cpu_s = timed_run(simulator, str(index), protocol, inputs)
                best[value] = min(best[value], cpu_s)
        for value in values:
            totals[value] += best[value]
        statuses = [results[value]["status"]["status"].iloc[0] for value in (tight, loose)]
        difference = compare(results[loose], results[tight])["soh_err_abs"] if statuses == ["ok", "ok"] else float("nan")
        status = "/".join(statuses)
        lives.append({"row": index, "cpu_tight_s": best[tight], "cpu_loose_s": best[loose], "max_dsoh_pct": 100 * difference, "status": status})
        print(
            f"{index:5d} {protocol.ambient_temperature_c:4.0f} oC {protocol.charge_c_rate:g}/{protocol.discharge_c_rate:g}C: "
            f"{best[tight]:6.2f} s / {best[loose]:6.2f} s = {best[tight] / best[loose]:.2f}x, max dSOH {100 * difference:.3f} %, {status}",
            flush=True,
        )
    print(f"total {totals[tight]:.1f} s / {totals[loose]:.1f} s = {totals[tight] / totals[loose]:.2f}x over {len(rows)} lives")
    differences = [life["max_dsoh_pct"] for life in lives if life["status"] == "ok/ok"]
    write_result(
        "aging_tolerance",
        {
            "tolerance": tolerance,
            "tight": tight,
            "loose": loose,
            "lives": len(rows),
            "cpu_tight_s": totals[tight],
            "cpu_loose_s": totals[loose],
            "tight_over_loose": totals[tight] / totals[loose],
            "max_dsoh_pct": max(differences, default=float("nan")),
            "per_life": lives,
        },
    )


if __name__ == "__main__":
    main()

"""How much CPU does a calendar storage block (move to its SOC, the rest, the recharge) add to an aging block?

One warmed simulator of the dataset's model (calibrated base values, the design's centre), compiled as the
pipeline solves it, cycle jumping off: two blocks of ``--cycles`` simulated cycles and an RPT, without storage
and with a ``--days`` storage block at 50 % and at 100 % SOC before each block; CPU seconds, min of ``--rounds``.

    python -m benchmarks run storage_cost [--days 30] [--cycles 5] [--rounds 3]
"""

import argparse

from agingset.calibration.dataset import typical_cell
from agingset.config import load_params
from agingset.inputs import read_calibrated
from agingset.physics.aging import AgingSimulator, Protocol
from benchmarks._common import timed_run, write_result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args(argv)
    params = load_params("params.yaml")
    model, cell = typical_cell(params, read_calibrated(params))
    jumping = params.aging.cycle_jumping.model_copy(update={"enabled": False})
    aging = params.aging.model_copy(
        update={"cycles": 2 * arguments.cycles, "rpt_every": arguments.cycles, "stop_at_soh": None, "cycle_jumping": jumping}
    )
    simulator = AgingSimulator(model, params.solver, aging, list(cell), [])
    protocols = {
        "no storage": Protocol(25.0, 1.0, 1.0, 4.2, 2.5, 0.05),
        f"{arguments.days:g} d at 50 %": Protocol(25.0, 1.0, 1.0, 4.2, 2.5, 0.05, arguments.days, 0.5),
        f"{arguments.days:g} d at 100 %": Protocol(25.0, 1.0, 1.0, 4.2, 2.5, 0.05, arguments.days, 1.0),
    }
    for protocol in protocols.values():  # builds (and compiles) every simulation first
        simulator.run("warm", protocol, cell)
    seconds = {}
    for label, protocol in protocols.items():
        times = []
        for _ in range(arguments.rounds):
            result, cpu_s = timed_run(simulator, "timed", protocol, cell)
            times.append(cpu_s)
            assert (result["status"]["status"] == "ok").all(), result["status"]["message"].tolist()
        seconds[label] = min(times)
        print(f"{label}: {seconds[label]:.3f} CPU s (2 blocks of {arguments.cycles} cycles and an RPT)")
    base = seconds["no storage"]
    added = {label: (value - base) / 2 for label, value in seconds.items() if label != "no storage"}
    print("added per storage block:", {label: f"{1000 * value:.1f} ms" for label, value in added.items()})
    write_result("storage_cost", {"cpu_s": seconds, "added_per_block_s": added})


if __name__ == "__main__":
    main()

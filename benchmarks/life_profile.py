"""Where does an aging life's CPU go: how much of it is IDAKLU integrating, how much the loop around it?

Design rows ``first, first + every, ...`` of an N-sample default design (the dataset's calibrated model and
ranges: run `dvc repro calibrate` first), each solved by one warmed simulator as the solve_aging stage solves
it (compiled, cycle jumping on), ``--rounds`` times; the minimum per life. The integration is the CPU the
aging loop (:mod:`agingset.physics.stepping`) spends inside IDAKLU's solve, counted around each call; the
rest is the loop: state hand-over, consistent initialisation, event identification, RPT reads, the jumps.

    python -m benchmarks run life_profile [--samples 200] [--first 0] [--every 25] [--rounds 2]
"""

import argparse

from agingset.config import load_params
from agingset.physics.aging import AgingSimulator, Protocol
from benchmarks._common import dataset_samples, timed_run, write_result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args(argv)
    params = load_params("params.yaml")
    model, design, names = dataset_samples(params, arguments.samples)
    rows = list(range(arguments.first, arguments.samples, arguments.every))
    solver = params.solver.model_copy(update={"timeout_s": 1e5})
    simulator = AgingSimulator(model, solver, params.aging, names, [])
    first = design.iloc[rows[0]]
    simulator.run("warm", Protocol.of(first), {name: float(first[name]) for name in names})  # builds and compiles
    lives = []
    for index in rows:
        row = design.iloc[index]
        protocol, inputs = Protocol.of(row), {name: float(row[name]) for name in names}
        best = None
        for _ in range(arguments.rounds):
            integration_before, steps_before = simulator.integration()
            result, cpu_s = timed_run(simulator, str(index), protocol, inputs)
            integration_after, steps_after = simulator.integration()
            life = {
                "row": index,
                "status": result["status"]["status"].iloc[0],
                "cpu_s": cpu_s,
                "integration_s": integration_after - integration_before,
                "steps": steps_after - steps_before,
            }
            if best is None or cpu_s < best["cpu_s"]:
                best = life
        lives.append(best)
        print(
            f"{index:5d} {protocol.ambient_temperature_c:4.0f} oC {protocol.charge_c_rate:g}/{protocol.discharge_c_rate:g}C "
            f"{best['status']}: {best['cpu_s']:.2f} CPU s, integration {100 * best['integration_s'] / best['cpu_s']:.0f} %, "
            f"{best['steps']} steps",
            flush=True,
        )
    cpu = sum(life["cpu_s"] for life in lives)
    integration = sum(life["integration_s"] for life in lives)
    steps = sum(life["steps"] for life in lives)
    figures = {
        "lives": len(lives),
        "cpu_s": cpu,
        "integration_s": integration,
        "integration_share": integration / cpu,
        "steps": steps,
        "integration_ms_per_step": 1000 * integration / steps,
        "loop_ms_per_step": 1000 * (cpu - integration) / steps,
        "per_life": lives,
    }
    print(
        f"{len(lives)} lives: {cpu:.2f} CPU s, integration {integration:.2f} s ({100 * integration / cpu:.0f} %), "
        f"{steps} steps: {figures['integration_ms_per_step']:.2f} ms integrating + {figures['loop_ms_per_step']:.2f} ms of loop per step"
    )
    write_result("life_profile", figures)


if __name__ == "__main__":
    main()

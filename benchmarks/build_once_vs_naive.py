"""Per-sample aging cost: a new pybamm.Simulation per sample vs the pipeline's build-once path.

Both solve the same samples of the default design (same experiment, IDAKLU, same
tolerances) in one process, side by side; the ratio is what matters, not the seconds.

    python benchmarks/build_once_vs_naive.py [samples]
"""

import sys
import time

from agingset.design import build_design, cell_parameter_columns
from agingset.params import load_params
from agingset.physics import model as model_building
from agingset.physics.aging import AgingSimulator, Protocol, build_experiment
from agingset.physics.model import handoff_state_names


def main(samples: int) -> None:
    params = load_params("params.yaml")
    design = build_design(params.design, samples, params.seed)
    # One protocol for both paths, so the comparison is about model reuse only.
    first = design.iloc[0]
    protocol = Protocol(first.ambient_temperature_c, first.charge_c_rate, first.discharge_c_rate)
    names = cell_parameter_columns(design)
    rows = [{name: float(row[name]) for name in names} for _, row in design.iterrows()]

    start = time.perf_counter()
    for inputs in rows:
        values = model_building.parameter_values(params.model, [])
        values.update(inputs)
        model = model_building.build_model(params.model)
        simulation = model_building.pybamm.Simulation(
            model,
            parameter_values=values,
            experiment=build_experiment(params.aging, protocol),
            solver=model_building.solver(params.solver),
            var_pts=model_building.var_pts(params.model, model),
        )
        simulation.solve(initial_soc=1.0)
    naive = (time.perf_counter() - start) / samples

    start = time.perf_counter()
    handoff = handoff_state_names(params.model, params.eis.surface_form)
    simulator = AgingSimulator(params.model, params.solver, params.aging, protocol, names, handoff)
    for index, inputs in enumerate(rows):
        simulator.run(str(index), inputs)
    reused = (time.perf_counter() - start) / samples

    print(f"samples: {samples}, cycles: {params.aging.cycles}, model: {params.model.family}")
    print(f"new Simulation per sample : {naive:6.2f} s/sample")
    print(f"build once, inputs vary   : {reused:6.2f} s/sample (includes the one build and RPT/state extraction)")
    print(f"speed-up                  : {naive / reused:6.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 6)

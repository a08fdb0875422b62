"""sensitivity: Sobol indices of cell observables to the design's cell parameters.

Writes data/sensitivity (runs, indices, sobol.png) and metrics/sensitivity.json.
"""

from agingset import sensitivity
from agingset.calibration.dataset import dataset_design, dataset_model
from agingset.catalog import METRICS as _METRICS
from agingset.catalog import SENSITIVITY_DIR as OUTPUT
from agingset.inputs import read_calibrated
from agingset.tasks.aging import aging_tasks, solve_sample
from stages._io import atomic_path, run_stage, write_json
from stages._solve import solve_all

METRICS = _METRICS["sensitivity"]


def main(params):
    config = params.sensitivity
    calibrated = read_calibrated(params)
    ranges = dataset_design(params.design, calibrated).cell_parameters
    runs = sensitivity.runs(ranges, config, params.design, params.seed)
    aging = sensitivity.short_aging(params.aging, config)
    tasks = aging_tasks(dataset_model(params.model, calibrated), params.solver, aging, [], runs)
    results = solve_all(solve_sample, tasks, "sensitivity", 2 * params.solver.timeout_s + 30)
    observed = sensitivity.observed_runs(runs, results, config.ica)
    outputs = {name: observed[name].to_numpy() for name in config.observables}
    table = sensitivity.indices(list(ranges), outputs, config.threshold, config.confidence_level, params.seed)

    with atomic_path(OUTPUT, directory=True) as directory:
        runs.merge(observed, on="sample_id").to_parquet(directory / "runs.parquet", index=False)
        table.to_parquet(directory / "indices.parquet", index=False)
        figure = sensitivity.bar_plot(table)
        figure.savefig(directory / "sobol.png", dpi=120, metadata={"Software": None})
    write_json(sensitivity.metrics(table, observed, config, params.design.ranges), METRICS)


if __name__ == "__main__":
    run_stage(main)

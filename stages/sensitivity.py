"""sensitivity: Sobol indices of cell observables to the design's cell parameters.

Writes data/sensitivity (runs, indices, sobol.png) and metrics/sensitivity.json.
"""

import pandas as pd

from agingset import sensitivity
from agingset.catalog import METRICS as _METRICS
from agingset.catalog import SENSITIVITY_DIR as OUTPUT
from agingset.design import effective_config, stable_id
from agingset.params import PROTOCOL_FIELDS
from agingset.physics.aging import aging_tasks, solve_sample
from stages._io import atomic_path, dataset_model, read_calibration, run_stage, write_json
from stages._solve import solve_all

METRICS = _METRICS["sensitivity"]


def main(params):
    config = params.sensitivity
    _, calibrated_ranges = read_calibration(params)
    ranges = effective_config(params.design, calibrated_ranges).cell_parameters
    names = list(ranges)
    samples = sensitivity.sample(ranges, config.base_samples, params.seed)
    # Protocol fields the sensitivity section leaves out take the design's first level.
    protocol = {field: getattr(params.design, field)[0] for field in PROTOCOL_FIELDS} | config.protocol.model_dump()
    runs = pd.DataFrame(
        [
            {"sample_id": stable_id({**row, "run": index}), **protocol, **row}
            for index, row in enumerate(samples.to_dict("records"))
        ]
    )
    # A short aging run per sample: one RPT before and one after `cycles` cycles.
    aging = params.aging.model_copy(update={"cycles": config.cycles, "rpt_every": config.cycles})
    tasks = aging_tasks(dataset_model(params), params.solver, aging, [], runs)
    results = solve_all(solve_sample, tasks, "sensitivity", 2 * params.solver.timeout_s + 30)

    observed = []
    for run, result in zip(runs.to_dict("records"), results):
        values = sensitivity.observables(result["snapshots"], result["curves"], config.ica)
        status = result["status"].iloc[0]
        observed.append(
            {"sample_id": run["sample_id"], "status": status["status"], "message": status["message"], **values}
        )
    observed = pd.DataFrame(observed)
    outputs = {name: observed[name].to_numpy() for name in config.observables}
    table = sensitivity.indices(names, outputs, config.threshold, config.confidence_level, params.seed)

    with atomic_path(OUTPUT, directory=True) as directory:
        runs.merge(observed, on="sample_id").to_parquet(directory / "runs.parquet", index=False)
        table.to_parquet(directory / "indices.parquet", index=False)
        figure = sensitivity.bar_plot(table)
        figure.savefig(directory / "sobol.png", dpi=120, metadata={"Software": None})
    write_json(
        {
            "base_samples": config.base_samples,
            "runs": len(runs),
            "failed_runs": int((observed["status"] != "ok").sum()),
            "threshold": config.threshold,
            "confidence_level": config.confidence_level,
            "ranges": params.design.ranges,
            "indices": {
                observable: {
                    row["parameter"]: {key: row[key] for key in ("S1", "S1_conf", "ST", "ST_conf")}
                    for row in group.to_dict("records")
                }
                for observable, group in table.groupby("observable", sort=True)
            },
            "unidentifiable": sensitivity.unidentifiable(table),
        },
        METRICS,
    )


if __name__ == "__main__":
    run_stage(main)

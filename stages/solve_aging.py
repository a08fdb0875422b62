"""solve_aging: cycle every sample, measure its RPTs and save the states for impedance."""

import pandas as pd

from agingset.cache import decode_table
from agingset.calibration.dataset import dataset_model
from agingset.catalog import AGING_DIR as OUTPUT
from agingset.catalog import AGING_TABLES as TABLES
from agingset.catalog import DESIGN
from agingset.inputs import read_calibrated
from agingset.physics.aging import empty_table
from agingset.physics.model import handoff_state_names
from agingset.physics.provenance import package_versions
from agingset.tasks.aging import aging_tasks, solve_sample
from stages._blocks import write_results
from stages._io import atomic_path, run_stage, write_json
from stages._solve import solve_all


def provenance(params, model_config) -> dict:
    """The run's configuration; each sample's complete m_i is in metadata.parquet."""
    return {
        "model": model_config.model_dump(),
        "solver": {"name": "IDAKLUSolver", **params.solver.model_dump()},
        "aging": params.aging.model_dump(),
        "seed": params.seed,
        "versions": package_versions(),
    }


def main(params):
    design = pd.read_parquet(DESIGN)
    model_config = dataset_model(params.model, read_calibrated(params))  # calibrated base values, named in every m_i
    handoff_names = handoff_state_names(model_config, params.eis.surface_form)
    tasks = aging_tasks(model_config, params.solver, params.aging, handoff_names, design)
    # A worker stuck inside one solver step never reaches the per-step timeout check.
    hard_timeout_s = 2 * params.solver.timeout_s + 30
    results = solve_all(solve_sample, tasks, "solve_aging", hard_timeout_s, encoded=True)

    with atomic_path(OUTPUT, directory=True) as directory:
        for table in TABLES:
            if table == "curves":  # the largest: a block of samples at a time, for the stages that read it so
                by_sample = {task.sample["sample_id"]: result for task, result in zip(tasks, results)}
                write_results(directory / "curves.parquet", by_sample, design, empty_table(table), table)
                continue
            frames = [frame for result in results if not (frame := decode_table(result, table)).empty]
            table_frame = pd.concat(frames, ignore_index=True) if frames else empty_table(table)
            table_frame.to_parquet(directory / f"{table}.parquet", index=False)
        write_json({**provenance(params, model_config), "handoff_state_variables": list(handoff_names)}, directory / "metadata.json")


if __name__ == "__main__":
    run_stage(main)

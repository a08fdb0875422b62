"""solve_aging: cycle every sample, measure its RPTs and save the states for impedance."""

import importlib.metadata

import pandas as pd

from agingset.executor import default_workers, map_ordered
from agingset.physics.aging import aging_tasks, solve_sample
from agingset.params import PROTOCOL_FIELDS
from agingset.physics.model import handoff_state_names
from stages._io import atomic_path, run_stage, write_json

DESIGN = "data/design/samples.parquet"
OUTPUT = "data/aging"
TABLES = ("status", "snapshots", "curves", "states")


def provenance(params) -> dict:
    """m: the exact model, parameters and solver configuration behind every sample."""
    versions = {name: importlib.metadata.version(name) for name in ("pybamm", "casadi", "pybammsolvers", "numpy")}
    return {
        "model": params.model.model_dump(),
        "solver": {"name": "IDAKLUSolver", **params.solver.model_dump()},
        "aging": params.aging.model_dump(),
        "seed": params.seed,
        "versions": versions,
    }


def main(params):
    design = pd.read_parquet(DESIGN)
    handoff_names = handoff_state_names(params.model, params.eis.surface_form)
    tasks = aging_tasks(params.model, params.solver, params.aging, handoff_names, design)
    # Workers reuse one built model per protocol: hand them protocol-sorted tasks.
    order = sorted(range(len(tasks)), key=lambda i: (*(tasks[i].sample[f] for f in PROTOCOL_FIELDS), i))
    solved = map_ordered(solve_sample, [tasks[i] for i in order], default_workers(), "solve_aging")
    results = [None] * len(tasks)
    for position, index in enumerate(order):
        results[index] = solved[position]

    with atomic_path(OUTPUT, directory=True) as directory:
        for table in TABLES:
            frames = [result[table] for result in results if not result[table].empty]
            table_frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
            table_frame.to_parquet(directory / f"{table}.parquet", index=False)
        write_json({**provenance(params), "handoff_state_variables": list(handoff_names)}, directory / "metadata.json")


if __name__ == "__main__":
    run_stage(main)

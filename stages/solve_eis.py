"""solve_eis: impedance spectra of every saved snapshot state (data/eis/spectra.parquet)."""

import numpy as np
import pandas as pd

from agingset.design import cell_parameter_columns
from agingset.executor import default_workers, map_ordered
from agingset.physics.eis import SpectrumTask, solve_spectra
from stages._io import run_stage, write_parquet

DESIGN = "data/design/samples.parquet"
AGING = "data/aging"
OUTPUT = "data/eis/spectra.parquet"


def main(params):
    design = pd.read_parquet(DESIGN).set_index("sample_id")
    snapshots = pd.read_parquet(f"{AGING}/snapshots.parquet")
    states = pd.read_parquet(f"{AGING}/states.parquet")
    input_names = tuple(cell_parameter_columns(design.reset_index()))
    states_by_snapshot = {
        key: {row.variable: np.asarray(row.values) for row in group.itertuples()}
        for key, group in states.groupby(["sample_id", "snapshot"], sort=False)
    }
    tasks = []
    for sample_id, sample_snapshots in snapshots.groupby("sample_id", sort=True):
        sample = design.loc[sample_id]
        tasks.append(
            SpectrumTask(
                params.model,
                params.eis,
                input_names,
                sample_id,
                {name: float(sample[name]) for name in input_names},
                float(sample["ambient_temperature_c"]),
                tuple(
                    (int(row.snapshot), float(row.eis_soc), states_by_snapshot[(sample_id, row.snapshot)])
                    for row in sample_snapshots.sort_values("snapshot").itertuples()
                ),
            )
        )
    spectra = map_ordered(solve_spectra, tasks, default_workers(), "solve_eis")
    write_parquet(pd.concat(spectra, ignore_index=True), OUTPUT)


if __name__ == "__main__":
    run_stage(main)

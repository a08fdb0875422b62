"""solve_eis: impedance spectra of every saved snapshot state (data/eis/spectra.parquet)."""

import pandas as pd

from agingset.executor import default_workers, map_ordered
from agingset.physics.eis import solve_spectra, spectrum_tasks
from stages._io import run_stage, write_parquet

DESIGN = "data/design/samples.parquet"
AGING = "data/aging"
OUTPUT = "data/eis/spectra.parquet"


def main(params):
    tasks = spectrum_tasks(
        params.model,
        params.eis,
        pd.read_parquet(DESIGN),
        pd.read_parquet(f"{AGING}/snapshots.parquet"),
        pd.read_parquet(f"{AGING}/states.parquet"),
    )
    spectra = map_ordered(solve_spectra, tasks, default_workers(), "solve_eis")
    write_parquet(pd.concat(spectra, ignore_index=True), OUTPUT)


if __name__ == "__main__":
    run_stage(main)

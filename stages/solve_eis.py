"""solve_eis: impedance spectra of every saved snapshot state (data/eis/spectra.parquet)."""

import pandas as pd

from agingset import impedance_features
from agingset.physics import eis, model
from agingset.physics.eis import solve_spectra, spectrum_tasks
from stages._io import dataset_model, run_stage, write_parquet
from stages._solve import solve_all

DESIGN = "data/design/samples.parquet"
AGING = "data/aging"
OUTPUT = "data/eis/spectra.parquet"


def main(params):
    tasks = spectrum_tasks(
        dataset_model(params),  # the same calibrated base values as solve_aging
        params.eis,
        pd.read_parquet(DESIGN),
        pd.read_parquet(f"{AGING}/snapshots.parquet"),
        pd.read_parquet(f"{AGING}/states.parquet"),
    )
    # The cache key covers every module a spectrum's values come from, features included.
    code = (eis.__file__, model.__file__, impedance_features.__file__)
    spectra = solve_all(solve_spectra, tasks, "solve_eis", code, params.eis.timeout_s)
    write_parquet(pd.concat(spectra, ignore_index=True), OUTPUT)


if __name__ == "__main__":
    run_stage(main)

"""solve_eis: impedance spectra of every saved snapshot state (data/eis/spectra.parquet)."""

import pandas as pd

from agingset.calibration.dataset import dataset_model
from agingset.catalog import AGING_DIR as AGING
from agingset.catalog import DESIGN
from agingset.catalog import SPECTRA as OUTPUT
from agingset.inputs import read_calibrated
from agingset.tasks import eis as eis_tasks
from agingset.tasks.eis import solve_spectra, spectrum_tasks
from stages._blocks import write_results
from stages._io import run_stage
from stages._solve import solve_all


def main(params):
    design = pd.read_parquet(DESIGN)
    tasks = spectrum_tasks(
        dataset_model(params.model, read_calibrated(params)),  # the same calibrated base values as solve_aging
        params.eis,
        design,
        pd.read_parquet(f"{AGING}/snapshots.parquet"),
        pd.read_parquet(f"{AGING}/states.parquet"),
        params.seed,  # draws the cross-checked spectra
    )
    spectra = solve_all(solve_spectra, tasks, "solve_eis", params.eis.timeout_s, encoded=True)
    by_sample = {task.sample_id: result for task, result in zip(tasks, spectra)}
    write_results(OUTPUT, by_sample, design, eis_tasks.empty_spectra())


if __name__ == "__main__":
    run_stage(main)

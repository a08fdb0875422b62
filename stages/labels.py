"""labels: y per (sample_id, snapshot) with per-sample provenance m, and the features x."""

import json

import pandas as pd

from agingset.design import cell_parameter_columns
from agingset.features import build_features
from agingset.labels import build_labels
from stages._io import atomic_path, run_stage, write_parquet

DESIGN = "data/design/samples.parquet"
AGING = "data/aging"
SPECTRA = "data/eis/spectra.parquet"
OUTPUT = "data/labels"


def provenance_columns(design: pd.DataFrame, metadata: dict) -> pd.DataFrame:
    """m per sample: design point plus the model and solver configuration, prefixed ``m_``."""
    m = design[["sample_id", *cell_parameter_columns(design)]].copy()
    m.columns = ["sample_id"] + [f"m_{name}" for name in m.columns[1:]]
    m["m_model_family"] = metadata["model"]["family"]
    m["m_parameter_set"] = metadata["model"]["parameter_set"]
    m["m_model_options"] = json.dumps(metadata["model"]["options"], sort_keys=True)
    m["m_var_pts"] = json.dumps(metadata["model"]["var_pts"], sort_keys=True)
    m["m_solver"] = metadata["solver"]["name"]
    m["m_rtol"] = metadata["solver"]["rtol"]
    m["m_atol"] = metadata["solver"]["atol"]
    m["m_pybamm_version"] = metadata["versions"]["pybamm"]
    m["m_seed"] = metadata["seed"]
    return m


def main(params):
    design = pd.read_parquet(DESIGN)
    snapshots = pd.read_parquet(f"{AGING}/snapshots.parquet")
    curves = pd.read_parquet(f"{AGING}/curves.parquet")
    metadata = json.loads(open(f"{AGING}/metadata.json").read())
    spectra = pd.read_parquet(SPECTRA)

    labels = build_labels(snapshots, params.labels.eol_soh)
    labels = labels.merge(design[["sample_id", "cell_design_id"]], on="sample_id", how="left")
    labels = labels.merge(provenance_columns(design, metadata), on="sample_id", how="left")
    features = build_features(design, curves, spectra, params.labels.voltage_grid)

    with atomic_path(OUTPUT, directory=True) as directory:
        labels.to_parquet(directory / "labels.parquet", index=False)
        labels.to_csv(directory / "labels.csv", index=False)
        features.to_parquet(directory / "features.parquet", index=False)


if __name__ == "__main__":
    run_stage(main)

"""design: the sampled cell designs and protocols (data/design/samples.parquet) and the ranges they come from."""

import logging

from agingset.catalog import DESIGN as OUTPUT
from agingset.catalog import DESIGN_RANGES as RANGES
from agingset.design import build_design, effective_config
from agingset.params import DesignConfig, Params, size_warning
from stages._io import read_calibration, run_stage, write_json, write_parquet


def dataset_design(params: Params) -> DesignConfig:
    """The design the dataset is drawn from: ``design``, with the calibrate stage's ranges when
    ``design.ranges: calibrated`` (run `dvc repro calibrate` first)."""
    return effective_config(params.design, read_calibration(params)[1])


def main(params):
    warning = size_warning(params)
    if warning:
        logging.getLogger("stages.design").warning(warning)
    calibration, _ = read_calibration(params)
    config = dataset_design(params)
    write_parquet(build_design(config, params.samples, params.seed), OUTPUT)
    write_json(
        {
            "ranges": params.design.ranges,
            "cell_parameters": {name: r.model_dump() for name, r in config.cell_parameters.items()},
            "calibrated_values": {
                name: calibration["parameters"][name]["fitted"]
                for name in config.cell_parameters
                if calibration and name in calibration["parameters"]
            },
            "calibration": {key: calibration[key] for key in ("measurements", "design_range_basis")}
            if calibration
            else None,
        },
        RANGES,
    )


if __name__ == "__main__":
    run_stage(main)

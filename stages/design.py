"""design: the sampled cell designs and protocols (data/design/samples.parquet) and the ranges they come from."""

import logging

from agingset.calibration.dataset import dataset_design, design_ranges_record
from agingset.catalog import DESIGN as OUTPUT
from agingset.catalog import DESIGN_RANGES as RANGES
from agingset.design import build_design
from agingset.inputs import read_calibrated
from agingset.params import size_warning
from stages._io import run_stage, write_json, write_parquet


def main(params):
    warning = size_warning(params)
    if warning:
        logging.getLogger("stages.design").warning(warning)
    calibrated = read_calibrated(params)
    write_parquet(build_design(dataset_design(params.design, calibrated), params.samples, params.seed), OUTPUT)
    write_json(design_ranges_record(params.design, calibrated), RANGES)


if __name__ == "__main__":
    run_stage(main)

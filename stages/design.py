"""design: the sampled cell designs and protocols (data/design/samples.parquet)."""

import logging

from agingset.design import build_design
from agingset.params import size_warning
from stages._io import run_stage, write_parquet

OUTPUT = "data/design/samples.parquet"


def main(params):
    warning = size_warning(params)
    if warning:
        logging.getLogger("stages.design").warning(warning)
    write_parquet(build_design(params.design, params.samples, params.seed), OUTPUT)


if __name__ == "__main__":
    run_stage(main)

"""check_params: the whole params.yaml against the schema, before any other stage runs.

DVC reruns a stage only when a key it declares changes, so a misspelt key (``sampels: 500``) would
be ignored by ``dvc repro``. This stage declares the whole file: any edit of params.yaml reruns it
(seconds), and a key or value the schema rejects fails ``dvc repro`` with the usual one line. Its
output is constant, so a valid edit reruns no stage that does not declare the edited key.
"""

from agingset.catalog import PARAMS_CHECK as OUTPUT
from stages._io import run_stage, write_text


def main(params):
    write_text("params.yaml: valid\n", OUTPUT)


if __name__ == "__main__":
    run_stage(main)

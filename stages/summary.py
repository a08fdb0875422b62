"""summary: metrics/summary.json, the headline `dvc metrics diff --targets metrics/summary.json` compares.

Reads the other stages' metrics only (calibration's when it exists), so it runs in a second.
"""

import json
from pathlib import Path

from agingset.summary import summarise
from stages._io import run_stage, write_json

QUALITY = "metrics/quality.json"
SPLIT = "metrics/split.json"
TRAIN = "metrics/train.json"
CALIBRATION = "metrics/calibration.json"
OUTPUT = "metrics/summary.json"


def _read(path: str) -> dict:
    return json.loads(Path(path).read_text())


def main(params):
    calibration = _read(CALIBRATION) if Path(CALIBRATION).exists() else None
    write_json(summarise(_read(QUALITY), _read(SPLIT), _read(TRAIN), calibration), OUTPUT)


if __name__ == "__main__":
    run_stage(main)

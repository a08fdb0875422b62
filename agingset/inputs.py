"""Reading the calibrate stage's result, for the stages and benchmarks that build on it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .calibration.dataset import Calibrated, needs_calibration
from .catalog import CALIBRATION
from .errors import InputError
from .params import Params


def read_calibrated(params: Params, path: str | Path = CALIBRATION) -> Calibrated | None:
    """The calibrate stage's result when the dataset's model or design takes from it, else None."""
    if not needs_calibration(params):
        return None
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path} not found: run the calibrate stage first (dvc repro calibrate)") from None
    return Calibrated(json.loads(data), hashlib.sha256(data).hexdigest())

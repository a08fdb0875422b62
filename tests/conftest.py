import copy
import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
os.environ.setdefault("AGINGSET_QUIET", "1")

ROOT = Path(__file__).resolve().parents[1]


def tiny_params_dict() -> dict:
    """The project's params.yaml shrunk to seconds: 4 samples, SPM, 20 cycles, 25 frequencies, 2 SOCs."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["samples"] = 4
    params["design"]["cell_parameters"]["SEI solvent diffusivity [m2.s-1]"] = {
        "low": 5.0e-20,
        "high": 2.0e-19,
        "scale": "log",
    }
    params["design"]["ambient_temperature_c"] = [25]
    params["design"]["charge_c_rate"] = [0.5, 1.0]
    params["aging"]["cycles"] = 20
    params["aging"]["rpt_every"] = 10
    params["eis"].update(
        {"f_min_hz": 1.0e-3, "f_max_hz": 1.0e3, "points_per_decade": 4, "socs": [0.2, 0.8], "temperatures_c": [25]}
    )
    params["split"]["test_fraction"] = 0.5
    params["train"]["n_estimators"] = 10
    return params


@pytest.fixture
def tiny_params_raw():
    return copy.deepcopy(tiny_params_dict())


@pytest.fixture(scope="session")
def tiny_params():
    from agingset.params import parse_params

    return parse_params(tiny_params_dict())

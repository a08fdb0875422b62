import copy
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
os.environ.setdefault("AGINGSET_QUIET", "1")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def temporary_files_under_basetemp(tmp_path_factory):
    """Every temporary file of the run lands under pytest's basetemp, which pyproject's
    ``tmp_path_retention_policy = "failed"`` removes after a passing run: this process's (``tempfile``)
    and its subprocesses' (``TMPDIR``: stages, DVC, executor workers). Without it a run leaves in the
    system temp folder bpx's ``tmp*reconstructed_function.py`` (one per function of a BPX parameter
    set loaded), PyBaMM's ``pybamm_casadi_aot`` builds and DVC's ``/var/tmp/dvc`` site cache. Each
    pytest-xdist worker has its own basetemp, so its own directory."""
    directory = tmp_path_factory.mktemp("tmp", numbered=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(directory))
        patch.setenv("DVC_SITE_CACHE_DIR", str(directory / "dvc"))
        patch.setattr(tempfile, "tempdir", str(directory))
        yield directory


KINETIC_DESIGN_PARAMETERS = {
    "Negative electrode reaction rate constant [A.m-2.(m3.mol)1.5]",
    "Positive electrode reaction rate constant [A.m-2.(m3.mol)1.5]",
    "Thermodynamic factor",
    "Negative particle reference diffusivity [m2.s-1]",
    "Positive particle reference diffusivity [m2.s-1]",
}


def tiny_params_dict() -> dict:
    """The project's params.yaml shrunk to seconds: 4 samples, SPM, 10 cycles (rates x 10) with an RPT every 5,
    25 frequencies, 2 SOCs (every spectrum cross-checked), a 2-parameter calibration of 2 steps, 2 Sobol base
    samples of 1 cycle."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["samples"] = 4
    # The SPM, not the default SPMe: the pipeline's plumbing at a third of the solve time (the suite's budget);
    # the SPMe's own physics is tested where it differs (tests/test_calibration.py, tests/test_physics.py).
    params["model"]["family"] = "SPM"
    # Interpreted, not compiled: a compiled build costs minutes of gcc per model variant, and tests build dozens
    # (test_physics.py compares a compiled solve with this one).
    params["solver"]["compile"] = False
    params["design"]["ambient_temperature_c"] = [25]
    params["design"]["charge_c_rate"] = [0.5, 1.0]
    params["design"].update(
        discharge_c_rate=[1.0], upper_voltage_v=[4.2], lower_voltage_v=[2.5], cv_cutoff_c_rate=[0.05],
        storage=[{"days": 0}, {"days": 3, "soc": 0.5}],  # calendar blocks in the pipeline, short (rates are x 10)
        temperature_switch=[{}, {"after_cycles": 5, "to_c": 45}],  # and a switch of ambient after the first block
    )
    # Three RPTs (fresh, 5 and 10 cycles): what the labels need (SOH falls twice, the RUL power law
    # has its 3 fit points). Blocks of 5 cycles leave cycle jumping no room (2 warm-up + 2 check
    # cycles), so every cycle is simulated; tests/test_cycle_jumping.py tests jumps on 40 cycles.
    params["aging"]["cycles"] = 10
    params["aging"]["rpt_every"] = 5
    # A toy dataset: degradation rates x 10 so that 10 cycles age the cells (SOH ~0.95), every RPT kept.
    params["aging"]["acceleration"] = 10
    params["aging"]["stop_at_soh"] = None
    params["eis"].update(
        {"f_min_hz": 1.0e-3, "f_max_hz": 1.0e3, "points_per_decade": 4, "socs": [0.2, 0.8], "temperatures_c": [25],
         "cross_check_fraction": 1.0}  # every spectrum cross-checked in tests
    )
    # The design's kinetics and transport (rate constants, thermodynamic factor, particle diffusivities) stay at the
    # base values: the tiny calibration does not fit them, so their ranges would be the wide priors, and the tests'
    # physics (plating, jumps, circuit fits) is asserted on the cell the set and the fit describe.
    params["design"]["cell_parameters"] = {
        name: spec for name, spec in params["design"]["cell_parameters"].items() if name not in KINETIC_DESIGN_PARAMETERS
    }
    params["split"]["test_fraction"] = 0.5
    params["train"]["n_estimators"] = 10
    # Two fitted parameters, coarse records, two trust-region steps: the stage's plumbing, in seconds.
    fitted = ("Contact resistance [Ohm]", "Negative electrode double-layer capacity [F.m-2]")
    params["calibrate"]["parameters"] = {name: params["calibrate"]["parameters"][name] for name in fitted}
    params["calibrate"]["rate_test_own"] = {name: params["calibrate"]["rate_test_own"][name] for name in fitted[:1]}
    params["calibrate"]["keep_set_values"] = [name for name in params["calibrate"]["keep_set_values"] if name in fitted]
    params["calibrate"].update(
        {"discharge_points": 20, "drive_cycle_resample_s": 600, "max_iterations": 2, "prediction_socs": [0.5]}
    )
    params["sensitivity"].update({"base_samples": 2, "cycles": 1})
    # The default calibration fits the cell's series inductance; the tiny one cannot identify it, so it is set
    # (tests/test_impedance.py: every dataset spectrum ends inductive).
    params["model"]["parameter_overrides"]["Cell series inductance [H]"] = 2.0e-7
    return params


@pytest.fixture
def tiny_params_raw():
    return copy.deepcopy(tiny_params_dict())


@pytest.fixture(scope="session")
def tiny_params():
    from agingset.config import parse_params

    return parse_params(tiny_params_dict())


# Tests in tiers: `pytest -m "not slow"` is the inner loop; plain `pytest` (README, CI) runs everything.
# A test is slow when it builds the whole pipeline (the tiny_dataset, built_project or tiny_solved fixtures,
# marked here so a new test using them is too), or is marked so: real-DVC end-to-end, fault injection, and
# solves of the larger models (SPMe/DFN) or of many samples.
FULL_PIPELINE_FIXTURES = {"tiny_dataset", "built_project", "tiny_solved"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if FULL_PIPELINE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def built_once(tmp_path_factory, name: str, build):
    """``build(directory)`` once per test session, its JSON-able result shared. The suite runs on
    pytest-xdist workers (pyproject addopts); they share one build: the first to ask builds it in the
    session's common temporary directory, the others wait on a lock and read its result."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return build(tmp_path_factory.mktemp(name))
    root = tmp_path_factory.getbasetemp().parent  # this session's, common to its workers
    directory, result = root / name, root / f"{name}.json"
    with FileLock(str(root / f"{name}.lock")):
        if not result.exists():
            shutil.rmtree(directory, ignore_errors=True)  # a build that failed in another worker
            directory.mkdir()
            result.write_text(json.dumps(build(directory)))
    return json.loads(result.read_text())


def _run_tiny_dataset(directory: Path) -> str:
    from agingset.cli import main

    params_file = directory / "tiny_params.yaml"
    params_file.write_text(yaml.safe_dump(tiny_params_dict(), sort_keys=False))
    output = directory / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AGINGSET_EXECUTOR", "local")
        patch.delenv("AGINGSET_CACHE_DIR", raising=False)  # its per-sample cache: run/.agingset-cache
        assert main(["--quiet", "--log-level", "WARNING", "run", "--params", str(params_file), "--workers", "1",
                     "--output", str(output)]) == 0
    return str(output)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A finished tiny dataset built by `agingset run` (all stages, card included) on the local executor
    with one worker, shared by tests (tests/test_dvc_pipeline.py compares its bytes with `dvc repro`'s).
    Tests never change it."""
    return Path(built_once(tmp_path_factory, "tiny_dataset", _run_tiny_dataset))

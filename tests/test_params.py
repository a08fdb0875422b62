"""params.yaml is validated once: bad keys and values fail with one line naming them."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agingset.config import parse_params
from agingset.params import ParamsError
from tests.conftest import ROOT


def test_default_params_are_valid():
    params = parse_params(yaml.safe_load((ROOT / "params.yaml").read_text()))
    assert params.samples > 0
    assert len(params.eis.frequencies_hz) >= 10


@pytest.mark.parametrize("family", ["SPM", "SPMe", "DFN"])
def test_every_model_family_is_accepted(tiny_params_raw, family):
    tiny_params_raw["model"]["family"] = family
    assert parse_params(tiny_params_raw).model.family == family


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda p: p.update(sampels=3), "sampels: unknown key"),
        (lambda p: p.pop("seed"), "seed: missing key"),
        (lambda p: p.update(samples="many"), "samples:"),
        (lambda p: p.update(samples=0), "samples:"),
        (lambda p: p["solver"].update(rtol=-1e-6), "solver.rtol:"),
        (lambda p: p["solver"].update(atol=float("nan")), "solver.atol:"),
        (
            lambda p: p["design"]["cell_parameters"].update(
                {"Negative electrode active material volume fraction": {"low": 0.8, "high": 0.7}}
            ),
            "low (0.8) must be < high (0.7)",
        ),
        (lambda p: p["eis"].update(f_min_hz=10, f_max_hz=1), "f_min_hz (10.0) must be < f_max_hz (1.0)"),
        (lambda p: p["model"].update(family="P4D"), "model.family:"),
        (lambda p: p["eis"].update(socs=[0.5, 1.2]), "eis.socs.1:"),
        (lambda p: p["eis"].update(temperatures_c=[25, 25]), "values must be distinct"),
        (lambda p: p["eis"].update(backend="laplace"), "eis.backend:"),
        (lambda p: p["model"]["options"].update(SEI="bogus"), "'bogus' is not recognized in option 'SEI'"),
        (lambda p: p["model"].update(parameter_set="Nope2099"), "unknown parameter set 'Nope2099'"),
        (
            lambda p: p["design"]["cell_parameters"].update({"Flux capacitance [F]": {"low": 1, "high": 2}}),
            "'Flux capacitance [F]' is not a parameter of OKane2022",
        ),
        (lambda p: p["aging"]["cycle"].append("Dance at 1C until 4 V"), "bad experiment step 'Dance at 1C until 4 V'"),
        (lambda p: p["aging"]["cycle"].append("Charge at {speed}C until 4.2 V"), "unknown placeholder ['speed']"),
        (
            lambda p: p["aging"]["cycle"].append("Rest for {charge_c_rate} hours"),
            "{charge_c_rate} must be the step's value or its termination value",
        ),
        (lambda p: p["aging"].update(cycles=25, rpt_every=10), "must be a multiple of rpt_every"),
        (lambda p: p["train"].update(targets=["colour"]), "train.targets.0:"),
        (lambda p: p["train"].update(cv_folds=1), "train.cv_folds: must be 0 (no cross-validation) or at least 2 folds, got 1"),
        (lambda p: p["eis"].update(points_per_decade=0), "eis.points_per_decade:"),
        (lambda p: p["eis"].update(f_min_hz=1.0, f_max_hz=1.0), "f_min_hz (1.0) must be < f_max_hz (1.0)"),
        (lambda p: p["model"]["options"].update(colour="blue"), "colour"),
        (lambda p: p.update(samples=10**9), "samples: Input should be less than or equal to 1000000"),
        (lambda p: p["labels"].update(eol_soh=1.2), "labels.eol_soh:"),
        (lambda p: p["model"]["options"].update({"SEI on cracks": "true"}), "does not conserve lithium in SPM"),
        (lambda p: p["design"].update(lower_voltage_v=[4.3]), "design: lower_voltage_v (4.3) must be below"),
        (lambda p: p["design"].update(cv_cutoff_c_rate=[0.5]), "design: cv_cutoff_c_rate (0.5) must be below"),
        (lambda p: p["labels"].update(knee_min_slope_ratio=0.5), "labels.knee_min_slope_ratio:"),
        # One set of physical bounds: validate's old copies name where they went.
        (lambda p: p["validate"].update(soh_max=1.1), "validate: soh_max moved to aging.bounds.soh_max"),
        (lambda p: p["validate"].update(numerical_noise_pct=0.01), "numerical_noise_pct moved to aging.bounds.noise_pct"),
        (
            lambda p: p["model"]["parameter_overrides"].update(
                {"Negative electrode reference concentration for free of deformation [mol.m-3]": 0.0}
            ),
            "model.parameter_overrides.Negative electrode reference concentration for free of deformation [mol.m-3]: "
            "a key of 76 characters; DVC folds",
        ),
    ],
)
def test_malformed_params_name_the_key(tiny_params_raw, mutate, expected):
    mutate(tiny_params_raw)
    with pytest.raises(ParamsError) as caught:
        parse_params(tiny_params_raw)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_stage_exits_nonzero_with_one_line_and_writes_nothing(tmp_path: Path, tiny_params_raw):
    tiny_params_raw["design"]["cell_parameters"]["Negative electrode active material volume fraction"] = {
        "low": 0.9,
        "high": 0.1,
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params_raw))
    result = subprocess.run(
        [sys.executable, "-m", "stages.design"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "PYBAMM_DISABLE_TELEMETRY": "true"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "design.cell_parameters.Negative electrode active material volume fraction" in result.stderr
    assert not (tmp_path / "data").exists()


def test_huge_sample_count_warns_with_a_size_estimate(tiny_params_raw):
    from agingset.params import size_warning

    assert size_warning(parse_params(tiny_params_raw)) is None
    tiny_params_raw["samples"] = 1_000_000
    warning = size_warning(parse_params(tiny_params_raw))
    assert warning.startswith("samples=1000000 will write about") and "GiB" in warning


@pytest.mark.parametrize("text, expected", [("[1, 2", "not valid YAML"), ("- just\n- a list\n", "top level must be a mapping")])
def test_unreadable_params_files(tmp_path, text, expected):
    from agingset.config import load_params

    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=expected):
        load_params(path)


def test_schema_is_pure_and_pybamm_checks_run_at_parse(tiny_params_raw):
    """Importing params and validating the schema touch no PyBaMM; parse_params adds its checks."""
    code = (
        "import sys, yaml; from agingset.params import Params; "
        "Params.model_validate(yaml.safe_load(open('params.yaml'))); print('pybamm' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
    from agingset.params import Params

    tiny_params_raw["model"]["parameter_set"] = "Nope2099"
    assert Params.model_validate(tiny_params_raw).model.parameter_set == "Nope2099"  # the schema alone
    with pytest.raises(ParamsError, match="model.parameter_set: unknown parameter set 'Nope2099'"):
        parse_params(tiny_params_raw)


def test_the_key_length_limit_is_where_dvc_lock_files_stop_reading_back():
    """params.yaml keys sit in dvc.lock from column 8, two more per level; DVC's own YAML writer
    and reader: a key at the limit survives a round trip, one character more does not."""
    from dvc.utils.serialize._yaml import dumps_yaml, parse_yaml

    from agingset.params import _LOCK_INDENT, _LOCK_KEY_COLUMN, _LOCK_WIDTH

    def round_trips(key: str) -> bool:
        lock = {"stages": {"calibrate": {"params": {"params.yaml": {"calibrate": {"parameters": {key: {"low": 1}}}}}}}}
        try:
            return parse_yaml(dumps_yaml(lock), "dvc.lock") == lock
        except Exception:
            return False

    limit = _LOCK_WIDTH - _LOCK_KEY_COLUMN - 2 * _LOCK_INDENT  # calibrate.parameters.<key>: two levels down
    words = ("Negative particle low-lithiation diffusivity activation energy [J.mol-1] " * 2)
    assert round_trips(words[: limit - 1] + "x")
    assert not round_trips(words[:limit] + "x")

"""A BPX JSON file as the base parameter set: `model.parameter_set: bpx:<path>`."""

import copy
import json

import pybamm
import pytest

from agingset.config import parse_params
from agingset.params import ParamsError
from agingset.physics.model import build_model, parameter_values, solver
from tests.conftest import ROOT

BPX_FILE = ROOT / "tests/data/toy_cell_bpx.json"
FARADAY = 96485.33212


# BPX has no contact resistance or double-layer capacities: the overrides add what calibrate fits
# and the impedance model needs.
BPX_LACKS = {
    "Contact resistance [Ohm]": 0.01,
    "Negative electrode double-layer capacity [F.m-2]": 0.2,
    "Positive electrode double-layer capacity [F.m-2]": 0.2,
}


def _bpx_params(raw, **model):
    overrides = {**BPX_LACKS, **model.pop("parameter_overrides", {})}
    raw["model"].update(parameter_set=f"bpx:{BPX_FILE}", options={}, parameter_overrides=overrides, **model)
    raw["design"]["cell_parameters"] = {
        "Negative electrode active material volume fraction": {"low": 0.6, "high": 0.7},
    }
    # A BPX cell has no degradation parameters, so no degradation rate can take an activation energy.
    raw["aging"]["activation_energies"] = {}
    return raw


def test_bpx_file_is_a_valid_parameter_set(tiny_params_raw):
    params = parse_params(_bpx_params(tiny_params_raw))
    assert params.model.parameter_set == f"bpx:{BPX_FILE}"


def test_overrides_may_add_what_bpx_lacks_but_not_misspell(tiny_params_raw):
    added = {"SEI solvent diffusivity [m2.s-1]": 2.5e-22}
    assert parse_params(_bpx_params(copy.deepcopy(tiny_params_raw), parameter_overrides=added))
    raw = _bpx_params(copy.deepcopy(tiny_params_raw))
    raw["design"]["cell_parameters"]["Negative electrode porosity typo"] = {"low": 0.2, "high": 0.3}
    with pytest.raises(ParamsError, match="'Negative electrode porosity typo' is not a parameter of bpx:"):
        parse_params(raw)
    # A fitted parameter is read from the set like any other: one line at load, not a calibrate traceback.
    raw = _bpx_params(tiny_params_raw)
    raw["model"]["parameter_overrides"].pop("Contact resistance [Ohm]")
    with pytest.raises(ParamsError, match=r"calibrate.parameters: 'Contact resistance \[Ohm\]' is not a parameter of bpx:"):
        parse_params(raw)


def test_unreadable_bpx_file_is_one_line(tiny_params_raw, tmp_path):
    tiny_params_raw["model"]["parameter_set"] = f"bpx:{tmp_path / 'missing.json'}"
    with pytest.raises(ParamsError, match=r"model.parameter_set: .*is not a readable BPX file") as err:
        parse_params(tiny_params_raw)
    assert "\n" not in str(err.value)


def test_bpx_cell_delivers_its_theoretical_capacity(tiny_params_raw):
    """A slow SPM discharge of the BPX cell empties its limiting electrode, as the file's numbers say."""
    params = parse_params(_bpx_params(tiny_params_raw))
    values = parameter_values(params.model, [])
    raw = json.loads(BPX_FILE.read_text())["Parameterisation"]
    area = raw["Cell"]["Electrode area [m2]"]
    capacities = []
    for name in ("Negative electrode", "Positive electrode"):
        electrode = raw[name]
        volume_fraction = (
            electrode["Surface area per unit volume [m-1]"] * electrode["Particle radius [m]"] / 3
        )
        window = electrode["Maximum stoichiometry"] - electrode["Minimum stoichiometry"]
        moles = (
            window
            * electrode["Maximum concentration [mol.m-3]"]
            * volume_fraction
            * electrode["Thickness [m]"]
            * area
        )
        capacities.append(moles * FARADAY / 3600)
    simulation = pybamm.Simulation(
        build_model(params.model),
        parameter_values=values,
        experiment=pybamm.Experiment(["Discharge at C/20 until 2.8 V"]),
        solver=solver(params.solver),
    )
    solution = simulation.solve()
    delivered = solution["Discharge capacity [A.h]"].entries[-1]
    assert delivered == pytest.approx(min(capacities), rel=0.03)
    assert values["Nominal cell capacity [A.h]"] == raw["Cell"]["Nominal cell capacity [A.h]"]


@pytest.mark.slow
def test_calibrate_stage_fits_a_bpx_cell(tiny_params_raw, tmp_path, monkeypatch):
    """`model.parameter_set: bpx:` reaches the calibrate stage: every fitted value is read from the set or
    the overrides through the one parameter-set loader, so the fit runs and records the BPX set."""
    import shutil

    from stages import calibrate

    params = parse_params(_bpx_params(tiny_params_raw))
    shutil.copytree(ROOT / "reference-data", tmp_path / "reference-data")
    monkeypatch.chdir(tmp_path)
    calibrate.main(params)
    calibrated = json.loads((tmp_path / "data/calibrate/calibrated.json").read_text())
    assert calibrated["model"]["parameter_set"] == f"bpx:{BPX_FILE}"
    fitted = {"Contact resistance [Ohm]", "Negative electrode double-layer capacity [F.m-2]"}
    assert fitted <= set(calibrated["parameters"])
    assert all(calibrated["parameters"][name]["fitted"] > 0 for name in fitted)

"""Calendar aging: storage blocks in the design and the aging loop, and the age labels they carry."""

import numpy as np
import pandas as pd
import pytest

from agingset.config import parse_params
from agingset.design import build_design
from agingset.params import ParamsError
from agingset.physics.aging import AgingSimulator, Protocol
from tests.conftest import tiny_params_dict
from tests.test_aging_labels import SEI, _inputs, _params

CYCLING = Protocol(25.0, 1.0, 1.0, 4.2, 2.5, 0.05)


def _stored(days: float, soc: float, temperature_c: float = 25.0) -> Protocol:
    return Protocol(temperature_c, 1.0, 1.0, 4.2, 2.5, 0.05, storage_days=days, storage_soc=soc)


def _snapshots(result):
    assert (result["status"]["status"] == "ok").all(), result["status"]["message"].tolist()
    return result["snapshots"].sort_values("snapshot").reset_index(drop=True)


@pytest.fixture(scope="module")
def simulator_and_inputs(tiny_params):
    # Real rates (no acceleration): a month of storage is then a month of calendar fade.
    params = _params(tiny_params, SEI, cycles=4, rpt_every=2)
    params = params.model_copy(update={"aging": params.aging.model_copy(update={"acceleration": 1.0})})
    inputs = _inputs(params)
    return AgingSimulator(params.model, params.solver, params.aging, list(inputs), []), inputs


def test_storage_adds_calendar_fade_time_and_no_cycles(simulator_and_inputs):
    """Thirty days of storage per block lose capacity to SEI on top of the same cycles, and the age
    labels count the stored days and the time; equivalent full cycles stay the cycles' (and the
    storage moves')."""
    simulator, inputs = simulator_and_inputs
    cycled = _snapshots(simulator.run("c", CYCLING, inputs))
    stored = _snapshots(simulator.run("s", _stored(30.0, 0.5), inputs))
    assert np.allclose(cycled["stored_days"], 0.0) and np.allclose(stored["stored_days"], [0.0, 30.0, 60.0])
    # Two blocks of storage: 60 days more, plus the two moves to 50 % SOC and back (C/5: 2.5 h each way).
    extra_days = stored["elapsed_days"].iloc[-1] - cycled["elapsed_days"].iloc[-1]
    assert 60.0 < extra_days < 60.0 + 2 * 6 / 24
    assert cycled["elapsed_days"].is_monotonic_increasing and cycled["elapsed_days"].iloc[0] == 0.0
    # Each block: 2 cycles of ~1 full discharge and an RPT (2 C/5 discharges and a pulse) ...
    assert 2 * (2 + 2) * 0.95 < cycled["efc"].iloc[-1] < 2 * (2 + 2) * 1.02
    # ... and, stored at half charge, a move of half the capacity down (and back) per block.
    at_full = _snapshots(simulator.run("f", _stored(30.0, 1.0), inputs))
    assert stored["efc"].iloc[-1] - at_full["efc"].iloc[-1] == pytest.approx(2 * 0.5, abs=0.05)
    assert at_full["elapsed_days"].iloc[-1] < stored["elapsed_days"].iloc[-1]
    sei = "capacity_lost_sei_ah"
    assert stored[sei].iloc[-1] > 2 * cycled[sei].iloc[-1]
    assert stored["rpt_capacity_ah"].iloc[-1] < cycled["rpt_capacity_ah"].iloc[-1] - 0.05


def test_calendar_fade_grows_with_storage_temperature(simulator_and_inputs):
    simulator, inputs = simulator_and_inputs
    cold = _snapshots(simulator.run("cold", _stored(30.0, 1.0, 10.0), inputs))
    warm = _snapshots(simulator.run("warm", _stored(30.0, 1.0, 45.0), inputs))
    assert warm["capacity_lost_sei_ah"].iloc[-1] > 2 * cold["capacity_lost_sei_ah"].iloc[-1]


def test_design_draws_storage_levels_as_one_factor():
    params = tiny_params_dict()
    params["design"]["storage"] = [{"days": 0}, {"days": 30, "soc": 0.5}, {"days": 90, "soc": 0.9}]
    design = build_design(parse_params(params).design, 64, 7)
    pairs = set(zip(design["storage_days"], design["storage_soc"]))
    assert pairs == {(0.0, 1.0), (30.0, 0.5), (90.0, 0.9)}
    # Every storage level at every ambient: the levels are not confounded with the cycling ones.
    params["design"]["ambient_temperature_c"] = [0, 25, 45]
    design = build_design(parse_params(params).design, 64, 7)
    counts = pd.crosstab(design["ambient_temperature_c"], design["storage_days"])
    assert counts.shape == (3, 3) and (counts.to_numpy() >= 4).all(), counts
    # A design without calendar levels is the one drawn before they existed (no dimension for them).
    params["design"]["storage"] = [{"days": 0}]
    plain = build_design(parse_params(params).design, 64, 7)
    assert set(plain["storage_days"]) == {0.0} and set(plain["storage_soc"]) == {1.0}


@pytest.mark.parametrize(
    "storage, message",
    [
        ([{"days": 0, "soc": 0.5}], "without storage days"),
        ([{"days": 30, "soc": 1.5}], "less than or equal to 1"),
        ([{"days": 10}, {"days": 10}], "repeated level"),
    ],
)
def test_bad_storage_levels_are_refused(storage, message):
    params = tiny_params_dict()
    params["design"]["storage"] = storage
    with pytest.raises(ParamsError, match=message) as error:
        parse_params(params)
    assert "design.storage" in str(error.value)


def _switched(after_cycles: float, late_c: float, ambient_c: float = 25.0) -> Protocol:
    return Protocol(ambient_c, 1.0, 1.0, 4.2, 2.5, 0.05, switch_after_cycles=after_cycles, late_ambient_temperature_c=late_c)


@pytest.fixture(scope="module")
def rpt_at_25(tiny_params):
    params = _params(tiny_params, SEI, cycles=4, rpt_every=2)
    aging = params.aging.model_copy(update={"acceleration": 1.0, "rpt_temperature_c": 25.0})
    params = params.model_copy(update={"aging": aging})
    inputs = _inputs(params)
    return AgingSimulator(params.model, params.solver, params.aging, list(inputs), []), inputs


def test_a_warm_then_cold_life_is_its_own_path(rpt_at_25):
    """Path dependence: 45 oC, then 0 oC after the first block, ends between always-45 and always-0, and
    its first block is the always-45 one; RPTs at 25 oC measure every snapshot at one temperature."""
    simulator, inputs = rpt_at_25
    warm = _snapshots(simulator.run("w", _switched(0.0, 45.0, 45.0), inputs))
    cold = _snapshots(simulator.run("c", _switched(0.0, 0.0, 0.0), inputs))
    path = _snapshots(simulator.run("p", _switched(2.0, 0.0, 45.0), inputs))
    sei = "capacity_lost_sei_ah"
    assert path[sei].iloc[1] == pytest.approx(warm[sei].iloc[1], rel=1e-6)
    assert cold[sei].iloc[-1] < path[sei].iloc[-1] < warm[sei].iloc[-1]
    # The fresh capacity is measured at 25 oC whatever the cycling ambient.
    assert cold["rpt_capacity_ah"].iloc[0] == pytest.approx(warm["rpt_capacity_ah"].iloc[0], rel=1e-3)
    assert np.allclose(path["switched_days"].iloc[:2], 0.0) and path["switched_days"].iloc[-1] > 0.1
    assert path["switched_days"].iloc[-1] < path["elapsed_days"].iloc[-1] - path["elapsed_days"].iloc[1] + 1e-9


def test_a_switch_needs_rpts_at_one_temperature():
    params = tiny_params_dict()
    params["design"]["temperature_switch"] = [{}, {"after_cycles": 5, "to_c": 0}]
    params["aging"]["rpt_temperature_c"] = None
    with pytest.raises(ParamsError, match="aging.rpt_temperature_c"):
        parse_params(params)
    params["aging"]["rpt_temperature_c"] = 25
    params["design"]["temperature_switch"] = [{}, {"after_cycles": 3, "to_c": 0}]
    with pytest.raises(ParamsError, match="multiple of aging.rpt_every"):
        parse_params(params)


def test_design_draws_a_switch_only_to_another_temperature():
    params = tiny_params_dict()
    params["design"]["ambient_temperature_c"] = [0, 25, 45]
    params["design"]["temperature_switch"] = [{}, {"after_cycles": 5, "to_c": 0}, {"after_cycles": 5, "to_c": 45}]
    params["aging"]["rpt_temperature_c"] = 25
    design = build_design(parse_params(params).design, 64, 7)
    switched = design["switch_after_cycles"] > 0
    assert switched.any() and (~switched).any()
    assert (design.loc[switched, "late_ambient_temperature_c"] != design.loc[switched, "ambient_temperature_c"]).all()
    assert (design.loc[~switched, "late_ambient_temperature_c"] == design.loc[~switched, "ambient_temperature_c"]).all()

"""Calendar aging: storage blocks in the design and the aging loop, and the age labels they carry."""

import numpy as np
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
    # The storage level has its own sequence: a cell's first protocol cycles as it would without storage.
    params["design"]["storage"] = [{"days": 0}]
    plain = build_design(parse_params(params).design, 64, 7)
    assert set(plain["storage_days"]) == {0.0} and set(plain["storage_soc"]) == {1.0}
    first = design["sample_index"] % params["design"]["protocols_per_cell"] == 0
    cycling = ["charge_c_rate", "discharge_c_rate", "ambient_temperature_c"]
    assert design.loc[first, cycling].equals(plain.loc[first, cycling])


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

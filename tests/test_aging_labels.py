"""Degradation mechanisms, capacity bookkeeping, statuses, RUL/knee labels and m_i records.

Mechanism tests drive AgingSimulator directly on 10 cycles with one mechanism switched
on at a time, so each shows its own physics.
"""

import hashlib
import json

import numpy as np
import pandas as pd
import pybamm
import pytest

from agingset.design import build_design, cell_parameter_columns
from agingset.labels import (
    RUL_CENSORED,
    RUL_EXTRAPOLATED,
    RUL_SIMULATED,
    build_labels,
    end_of_life,
    knee_point,
    sample_summary,
)
from agingset.physics import model as model_building
from agingset.physics.aging import (
    AgingSimulator,
    Protocol,
    TrajectoryFailed,
    accelerated,
    non_physical_reason,
)
from agingset.tasks.aging import aging_tasks, solve_sample

SEI = {"SEI": "ec reaction limited"}
# SEI growth rates of the EC reaction and of EC diffusion through the film, scaled together.
SEI_KINETIC, EC_DIFFUSIVITY = "SEI kinetic rate constant [m.s-1]", "EC diffusivity [m2.s-1]"
PLATING = {"lithium plating": "partially reversible"}
CRACKING = {
    "particle mechanics": ["swelling and cracking", "swelling only"],
    "loss of active material": "stress-driven",
}
WARM_SLOW = Protocol(25.0, 0.5, 1.0, 4.2, 2.5, 0.05)
COLD_FAST = Protocol(0.0, 2.0, 1.0, 4.2, 2.5, 0.05)


def _params(tiny_params, options: dict, cycles: int = 10, rpt_every: int = 5):
    model = tiny_params.model.model_copy(update={"options": {"contact resistance": "true", **options}})
    aging = tiny_params.aging.model_copy(update={"cycles": cycles, "rpt_every": rpt_every})
    return tiny_params.model_copy(update={"model": model, "aging": aging})


def _inputs(params, **changes):
    design = build_design(params.design, 1, params.seed)
    return {name: float(design.iloc[0][name]) for name in cell_parameter_columns(design)} | changes


def _solve(params, protocol, inputs):
    simulator = AgingSimulator(params.model, params.solver, params.aging, list(inputs), [])
    return simulator.run("s", protocol, inputs)


def _last(result, column):
    snapshots = result["snapshots"]
    return float(snapshots.sort_values("snapshot")[column].iloc[-1])


def _soh(result):
    capacity = result["snapshots"].sort_values("snapshot")["rpt_capacity_ah"].to_numpy()
    return capacity[-1] / capacity[0]


def test_higher_sei_rate_lowers_soh(tiny_params):
    params = _params(tiny_params, SEI)
    inputs = _inputs(params)
    simulator = AgingSimulator(params.model, params.solver, params.aging, list(inputs), [])
    slow = simulator.run("slow", WARM_SLOW, {**inputs, SEI_KINETIC: 1e-16, EC_DIFFUSIVITY: 1e-22})
    fast = simulator.run("fast", WARM_SLOW, {**inputs, SEI_KINETIC: 1e-14, EC_DIFFUSIVITY: 1e-20})
    assert (slow["status"]["status"] == "ok").all() and (fast["status"]["status"] == "ok").all()
    assert _soh(fast) < _soh(slow) - 0.005
    assert _last(fast, "capacity_lost_sei_ah") > 5 * _last(slow, "capacity_lost_sei_ah")


def test_sei_growth_is_faster_when_warmer(tiny_params):
    """Arrhenius: the same cell loses more lithium to SEI cycled at 45 oC than at 0 oC (after its first RPT:
    the conditioning and RPTs run at aging.rpt_temperature_c for both)."""
    params = _params(tiny_params, SEI)
    inputs = _inputs(params)
    warm = _solve(params, Protocol(45.0, 0.5, 1.0, 4.2, 2.5, 0.05), inputs)
    cold = _solve(params, Protocol(0.0, 0.5, 1.0, 4.2, 2.5, 0.05), inputs)

    def grown(result):
        return _last(result, "capacity_lost_sei_ah") - float(result["snapshots"].sort_values("snapshot")["capacity_lost_sei_ah"].iloc[0])

    assert grown(warm) > 2 * grown(cold)


def test_plating_needs_cold_fast_charging(tiny_params):
    params = _params(tiny_params, PLATING)
    # The dead-lithium rate below as solved: no toy acceleration on top of it.
    params = params.model_copy(update={"aging": params.aging.model_copy(update={"acceleration": 1.0})})
    inputs = _inputs(params, **{"Dead lithium decay constant [s-1]": 1e-4})
    cold_fast, warm_slow = _solve(params, COLD_FAST, inputs), _solve(params, WARM_SLOW, inputs)
    assert (cold_fast["status"]["status"] == "ok").all(), cold_fast["status"].to_dict("records")
    assert _last(cold_fast, "capacity_lost_plating_ah") > 0.01
    assert _last(cold_fast, "li_lost_plating_mol") > 0
    assert _last(cold_fast, "capacity_lost_plating_ah") > 2 * _last(warm_slow, "capacity_lost_plating_ah")
    assert _soh(cold_fast) < _soh(warm_slow)


def test_cracking_loses_active_material(tiny_params):
    params = _params(tiny_params, CRACKING)
    result = _solve(params, WARM_SLOW, _inputs(params))
    assert _last(result, "lam_ne_pct") > 0.1
    assert _last(result, "lam_pe_pct") > 0.1


@pytest.fixture(scope="module")
def no_degradation(tiny_params):
    params = _params(tiny_params, {})
    return _solve(params, COLD_FAST, _inputs(params))


def test_no_mechanism_no_aging(no_degradation):
    assert (no_degradation["status"]["status"] == "ok").all()
    assert _soh(no_degradation) == pytest.approx(1.0, abs=1e-3)
    snapshots = no_degradation["snapshots"]
    for column in ("lli_pct", "lam_ne_pct", "lam_pe_pct"):
        assert snapshots[column].abs().max() < 1e-3, column


@pytest.fixture(scope="module")
def aged_with_every_mechanism(tiny_params):
    params = _params(
        tiny_params, {**SEI, "lithium plating": "partially reversible", **CRACKING}, cycles=20, rpt_every=10
    )
    rates = {
        SEI_KINETIC: 1e-13,
        EC_DIFFUSIVITY: 1e-19,
        "Negative electrode LAM constant proportional term [s-1]": 1e-5,
        "Positive electrode LAM constant proportional term [s-1]": 1e-5,
        "Dead lithium decay constant [s-1]": 1e-5,
    }
    inputs = _inputs(params, **rates)
    return params, inputs, _solve(params, COLD_FAST, inputs)


def test_capacity_bookkeeping(aged_with_every_mechanism):
    """Measured fade agrees with the fade the degradation modes explain.

    The electrode-SOH model (Mohtat et al. 2019) places the cyclable lithium (Q_Li, i.e.
    LLI) in the two electrodes (Q_n, Q_p, i.e. LAM) between the RPT voltage limits; its
    capacity ratio is the SOH that LLI and LAM alone predict. The measured C/5 capacity
    also feels kinetic and resistance changes: agreement within 1.5 % SOH is required.
    """
    params, inputs, result = aged_with_every_mechanism
    assert (result["status"]["status"] == "ok").all(), result["status"].to_dict("records")
    values = model_building.parameter_values(params.model, [])
    values.update(inputs)
    esoh = pybamm.lithium_ion.ElectrodeSOHSolver(values)
    snapshots = result["snapshots"].sort_values("snapshot")
    explained = [
        esoh.solve({"Q_n": row.q_ne_ah, "Q_p": row.q_pe_ah, "Q_Li": row.q_li_ah})["Capacity [A.h]"]
        for row in snapshots.itertuples()
    ]
    explained_soh = np.asarray(explained) / explained[0]
    measured_soh = snapshots["rpt_capacity_ah"].to_numpy() / snapshots["rpt_capacity_ah"].iloc[0]
    assert measured_soh[-1] < 0.99  # the cell did age
    np.testing.assert_allclose(measured_soh, explained_soh, atol=0.015)


def test_lithium_is_conserved(aged_with_every_mechanism):
    _, _, result = aged_with_every_mechanism
    assert result["snapshots"]["lithium_balance_error"].abs().max() < 1e-3


def test_metadata_records_every_parameter_used(aged_with_every_mechanism, tiny_params):
    params, inputs, result = aged_with_every_mechanism
    row = result["metadata"].iloc[0]
    assert hashlib.sha256(row["metadata_json"].encode()).hexdigest() == row["metadata_sha256"]
    record = json.loads(row["metadata_json"])
    assert set(model_building.base_parameter_values(params.model.parameter_set).keys()) <= set(record["parameters"])
    # The values solved with: sampled rates times acceleration and Arrhenius factor at 0 oC.
    for name, value in accelerated(inputs, params.aging, 0.0).items():
        assert record["parameters"][name] == value
    assert record["parameters"]["Ambient temperature [K]"] == pytest.approx(273.15)
    assert record["solver"] == {
        "name": "IDAKLUSolver",
        "rtol": params.solver.rtol,
        "atol": params.solver.atol,
        "suppress_algebraic_error": params.solver.suppress_algebraic_error,
        "timeout_s": params.solver.timeout_s,
    }
    assert record["outcome"]["status"] == "ok"
    assert record["versions"]["pybamm"] == pybamm.__version__
    assert "Charge at 2C until 4.2 V" in record["experiment"]["cycle"]
    assert record["mesh"]["r_n"] == params.model.var_pts["r_n"]
    # A 2C charge at 0 oC: outside the measured LG M50 fade the rates were fitted to, and said so.
    assert record["aging_reference"]["cycling_inside"] is False
    assert "charge 2C (measured <= 0.3C)" in record["aging_reference"]["outside"]


def test_out_of_bounds_trajectory_is_non_physical(tiny_params):
    good = pd.DataFrame(
        {
            "rpt_capacity_ah": [5.0, 4.9],
            "lli_pct": [0.0, 1.0],
            "lam_ne_pct": [0.0, 0.5],
            "lam_pe_pct": [0.0, 0.5],
            "lithium_balance_error": [0.0, 1e-5],
            "pulse_resistance_ohm": [np.nan, np.nan],
        }
    )
    bounds = tiny_params.aging.bounds
    assert non_physical_reason(good, bounds) == ""
    assert "SOH" in non_physical_reason(good.assign(rpt_capacity_ah=[5.0, 5.5]), bounds)
    assert "lli_pct" in non_physical_reason(good.assign(lli_pct=[0.0, -0.5]), bounds)
    assert "lithium balance" in non_physical_reason(good.assign(lithium_balance_error=[0.0, 0.01]), bounds)


def test_failed_and_timed_out_samples_are_listed_with_reason_and_no_labels(tiny_params):
    design = build_design(tiny_params.design, 2, tiny_params.seed)
    design.loc[0, "Negative electrode active material volume fraction"] = 0.02  # cannot carry the current
    slow = tiny_params.solver.model_copy(update={"timeout_s": 1e-3})
    failed = solve_sample(
        aging_tasks(tiny_params.model, tiny_params.solver, tiny_params.aging, [], design)[0]
    )
    timed_out = solve_sample(aging_tasks(tiny_params.model, slow, tiny_params.aging, [], design)[1])
    results = [failed, timed_out]
    tables = {key: pd.concat([r[key] for r in results], ignore_index=True) for key in failed}
    labels = build_labels(tables["snapshots"], tables["cycles"], tiny_params.labels)
    summary = sample_summary(tables["status"], labels, tables["metadata"])
    assert sorted(summary["status"]) == ["failed", "timeout"]
    assert summary["message"].str.len().gt(0).all()
    assert summary["metadata_sha256"].notna().all()
    assert labels.empty and tables["curves"].empty and tables["states"].empty


def test_a_failed_life_is_solved_again_at_the_retry_tolerance_and_says_so(tiny_params, monkeypatch):
    design = build_design(tiny_params.design, 1, tiny_params.seed)
    configured = tiny_params.solver
    assert configured.retry_atol is not None and configured.retry_atol != configured.atol
    # The retry is the careful solve: the tighter atol and IDA's error test on every state.
    tighter = configured.model_copy(update={"atol": configured.retry_atol, "retry_atol": None, "suppress_algebraic_error": False})
    solved = AgingSimulator.trajectory

    def fails_at_the_configured_tolerance(self, *args, **kwargs):
        if self.solver_config.atol == configured.atol:
            raise TrajectoryFailed("rpt: Discharge at C/5 until 2.5 V: injected convergence failure")
        return solved(self, *args, **kwargs)

    monkeypatch.setattr(AgingSimulator, "trajectory", fails_at_the_configured_tolerance)
    retried = solve_sample(aging_tasks(tiny_params.model, configured, tiny_params.aging, [], design)[0])
    status = retried["status"].iloc[0]
    assert status["status"] == "ok" and status["snapshots"] > 1
    assert "injected convergence failure" in status["message"] and f"atol {configured.retry_atol:g}" in status["message"]
    metadata = json.loads(retried["metadata"]["metadata_json"].iloc[0])
    assert metadata["solver"]["atol"] == configured.retry_atol  # m_i says which solver made the data
    assert metadata["solver"]["suppress_algebraic_error"] is False
    without_retry = configured.model_copy(update={"retry_atol": None})
    failed = solve_sample(aging_tasks(tiny_params.model, without_retry, tiny_params.aging, [], design)[0])
    assert failed["status"]["status"].iloc[0] == "failed" and failed["snapshots"].empty
    monkeypatch.undo()
    # The retry is a real solve at the tighter tolerance: the life a direct solve at it gives.
    direct = solve_sample(aging_tasks(tiny_params.model, tighter, tiny_params.aging, [], design)[0])
    pd.testing.assert_frame_equal(retried["snapshots"], direct["snapshots"])


CYCLES = np.array([0.0, 20.0, 40.0, 60.0])


def _rul(tiny_params, soh, limit=50):
    config = tiny_params.labels.model_copy(update={"rul_extrapolation_limit_cycles": limit})
    return end_of_life(CYCLES, np.asarray(soh), config)


def test_rul_simulated_crossing_interpolates_between_rpts(tiny_params):
    eol = _rul(tiny_params, [1.0, 0.9, 0.85, 0.75])
    assert eol.source == RUL_SIMULATED
    assert eol.cycle == pytest.approx(50.0)


def test_rul_extrapolated_by_power_law_within_limit(tiny_params):
    soh = 1.0 - 0.2 * (CYCLES / 90.0) ** 1.5  # reaches 0.8 at cycle 90, 30 past the horizon
    eol = _rul(tiny_params, soh, limit=50)
    assert eol.source == RUL_EXTRAPOLATED
    assert eol.cycle == pytest.approx(90.0, rel=1e-6)
    assert _rul(tiny_params, soh, limit=20).source == RUL_CENSORED


def test_rul_censored_beyond_limit_keeps_only_a_lower_bound(tiny_params):
    eol = _rul(tiny_params, [1.0, 0.99, 0.985, 0.98])
    assert eol.source == RUL_CENSORED and np.isnan(eol.cycle)
    snapshots = pd.DataFrame(
        {
            "sample_id": "a",
            "snapshot": range(4),
            "cycle": CYCLES,
            "rpt_capacity_ah": 5.0 * np.array([1.0, 0.99, 0.985, 0.98]),
            "pulse_resistance_ohm": 0.03,
        }
    )
    labels = build_labels(snapshots, pd.DataFrame(), tiny_params.labels)
    assert labels["rul80_cycles"].isna().all()
    assert list(labels["rul80_lower_bound"]) == [60.0, 40.0, 20.0, 0.0]
    assert (labels["rul80_source"] == RUL_CENSORED).all()


def test_knee_found_where_fade_accelerates():
    cycles = np.arange(1.0, 101.0)
    capacity = 5.0 * np.where(cycles < 60, 1 - 2e-4 * cycles, 1 - 2e-4 * 60 - 2e-3 * (cycles - 60))
    knee = knee_point(cycles, capacity, min_slope_ratio=2.0)
    assert knee is not None and knee.cycle == pytest.approx(60.0, abs=2)


def test_no_knee_when_fade_decelerates_or_is_linear():
    cycles = np.arange(1.0, 101.0)
    assert knee_point(cycles, 5.0 * (1 - 0.01 * np.sqrt(cycles)), min_slope_ratio=2.0) is None
    assert knee_point(cycles, 5.0 * (1 - 1e-3 * cycles), min_slope_ratio=2.0) is None


def test_lumped_thermal_option_heats_the_cell(tiny_params):
    params = _params(tiny_params, {**SEI, "thermal": "lumped"}, cycles=2, rpt_every=2)
    inputs = _inputs(params)
    simulator = AgingSimulator(params.model, params.solver, params.aging, list(inputs), [])
    protocol = Protocol(25.0, 2.0, 2.0, 4.2, 2.5, 0.05)
    assert (simulator.run("s", protocol, inputs)["status"]["status"] == "ok").all()
    start = simulator._run("start", None, simulator.solver_inputs(protocol, inputs), None)[-1][-1].end()
    cycle = simulator._run("cycle", start, simulator.solver_inputs(protocol, inputs), None)[-1]
    temperature_c = np.concatenate([step.entries("Volume-averaged cell temperature [K]") for step in cycle]) - 273.15
    assert temperature_c.min() >= 25.0 - 1e-6
    assert temperature_c.max() > 30.0  # 2C cycling heats a lumped cell above ambient


def test_provenance_columns_flatten_m_per_sample(tiny_params):
    from agingset.labels import noise_provenance, provenance_columns

    design = build_design(tiny_params.design, 2, tiny_params.seed)
    metadata = {
        "model": {"family": "SPM", "parameter_set": "OKane2022", "options": {"b": "2", "a": "1"}, "var_pts": {"x_n": 5}},
        "solver": {"name": "IDAKLUSolver", "rtol": 1e-6, "atol": 1e-7},
        "versions": {"pybamm": "26.10"},
        "seed": 7,
    }
    m = provenance_columns(design, metadata)
    assert list(m["sample_id"]) == list(design["sample_id"])
    assert [f"m_{name}" for name in cell_parameter_columns(design)] == list(m.columns[1 : 1 + len(tiny_params.design.cell_parameters)])
    assert m["m_model_options"].iloc[0] == '{"a": "1", "b": "2"}' and m["m_atol"].iloc[0] == 1e-7
    noise = noise_provenance(design["sample_id"], tiny_params.noise, tiny_params.seed)
    assert noise["m_noise_voltage_noise_v"].eq(tiny_params.noise.voltage_noise_v).all()
    assert "m_noise_current_offset_drawn_a" in noise

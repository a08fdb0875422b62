"""Sobol indices: known values on the Ishigami function; zero for a parameter a model does not use."""

import numpy as np
import pandas as pd
import pytest

from agingset import sensitivity
from agingset.params import Range
from agingset.tasks.aging import aging_tasks, solve_sample

PI_RANGE = Range(low=-np.pi, high=np.pi)


def _ishigami(x1, x2, x3, a=7.0, b=0.1):
    return np.sin(x1) + a * np.sin(x2) ** 2 + b * x3**4 * np.sin(x1)


def test_ishigami_indices_match_the_analytic_values():
    samples = sensitivity.sample({"x1": PI_RANGE, "x2": PI_RANGE, "x3": PI_RANGE}, 1024, seed=3)
    assert len(samples) == 1024 * (3 + 2)
    output = _ishigami(samples["x1"].to_numpy(), samples["x2"].to_numpy(), samples["x3"].to_numpy())
    table = sensitivity.indices(["x1", "x2", "x3"], {"y": output}, threshold=0.05).set_index("parameter")
    # Analytic values for a = 7, b = 0.1 (Ishigami & Homma 1990; Sobol' & Levitan 1999).
    np.testing.assert_allclose(table["S1"], [0.3139, 0.4424, 0.0], atol=0.05)
    np.testing.assert_allclose(table["ST"], [0.5576, 0.4424, 0.2437], atol=0.05)
    assert table["identifiable"].all()


def test_a_parameter_outside_the_function_is_unidentifiable():
    ranges = {"used": Range(low=0, high=1), "unused": Range(low=1e-3, high=1, scale="log")}
    samples = sensitivity.sample(ranges, 64, seed=0)
    table = sensitivity.indices(list(ranges), {"y": samples["used"].to_numpy() ** 2}, threshold=0.05)
    assert sensitivity.unidentifiable(table) == {"y": ["unused"]}
    assert table.set_index("parameter").loc["unused", "ST"] == pytest.approx(0.0, abs=1e-12)


def test_constant_and_failed_observables():
    table = sensitivity.indices(["a"], {"flat": np.ones(6), "failed": np.array([1.0, np.nan] * 3)}, 0.05)
    flat, failed = table.set_index("observable").loc["flat"], table.set_index("observable").loc["failed"]
    assert flat["ST"] == 0.0 and not flat["identifiable"]
    assert np.isnan(failed["ST"]) and not failed["identifiable"]


@pytest.mark.slow
def test_on_the_model_sei_diffusivity_does_not_move_a_cell_without_sei(tiny_params):
    """Positive active material sets capacity; the SEI parameter has no SEI model to act in."""
    model = tiny_params.model.model_copy(update={"options": {"contact resistance": "true"}})
    aging = tiny_params.aging.model_copy(update={"cycles": 1, "rpt_every": 1})
    ranges = {
        "Positive electrode active material volume fraction": Range(low=0.6, high=0.7),
        "SEI solvent diffusivity [m2.s-1]": Range(low=1e-20, high=1e-18, scale="log"),
    }
    samples = sensitivity.sample(ranges, 8, seed=0)
    runs = samples.assign(
        sample_id=[f"run{i}" for i in range(len(samples))],
        ambient_temperature_c=25.0,
        charge_c_rate=1.0,
        discharge_c_rate=1.0,
        **{field: getattr(tiny_params.design, field)[0] for field in ("upper_voltage_v", "lower_voltage_v", "cv_cutoff_c_rate")},
        storage_days=0.0, storage_soc=1.0, switch_after_cycles=0.0, late_ambient_temperature_c=25.0,
    )
    results = [solve_sample(task) for task in aging_tasks(model, tiny_params.solver, aging, [], runs)]
    observed = pd.DataFrame(
        [sensitivity.observables(r["snapshots"], r["curves"], tiny_params.sensitivity.ica) for r in results]
    )
    table = sensitivity.indices(list(ranges), {"capacity_ah": observed["capacity_ah"].to_numpy()}, 0.05)
    by_parameter = table.set_index("parameter")
    assert by_parameter.loc["SEI solvent diffusivity [m2.s-1]", "ST"] == pytest.approx(0.0, abs=1e-9)
    assert by_parameter.loc["Positive electrode active material volume fraction", "ST"] > 0.5


def test_runs_carry_ids_the_sensitivity_protocol_and_the_sample(tiny_params):
    ranges = {"a": Range(low=1.0, high=2.0), "b": Range(low=1e-3, high=1e-1, scale="log")}
    config = tiny_params.sensitivity
    runs = sensitivity.runs(ranges, config, tiny_params.design, seed=4)
    assert len(runs) == config.base_samples * (len(ranges) + 2) and runs["sample_id"].is_unique
    assert list(runs.columns[-2:]) == ["a", "b"]
    assert runs[["a", "b"]].equals(sensitivity.sample(ranges, config.base_samples, seed=4))
    assert (runs["charge_c_rate"] == config.protocol.charge_c_rate).all()
    assert (runs["upper_voltage_v"] == tiny_params.design.upper_voltage_v[0]).all()  # left out: the design's first level
    aging = sensitivity.short_aging(tiny_params.aging, config)
    assert aging.cycles == aging.rpt_every == config.cycles

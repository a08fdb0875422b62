"""Identification recovers known parameters; the real drive cycle is fitted better than Chen2020."""

import numpy as np
import pandas as pd
import pytest

from agingset.calibration import INITIAL_SOC, FitParameter, RecordModel, build_objective, fit
from agingset.measurement import Measurement, MeasurementError, block_average, validate_measurement, window
from agingset.params import ModelConfig, ParamsError, SolverConfig, parse_params
from tests.conftest import ROOT

CHEN2020_SPM = ModelConfig(family="SPM", parameter_set="Chen2020")
SOLVER = SolverConfig(rtol=1e-6, atol=1e-6)
POSITIVE_FRACTION = "Positive electrode active material volume fraction"
NEGATIVE_FRACTION = "Negative electrode active material volume fraction"
REFERENCE = ROOT / "reference-data" / "lgm50lt_drive_cycle_80to20.csv.gz"


def _pulses(period_s=10.0, minutes=40) -> Measurement:
    """1C-ish discharge pulses with rests: the voltage sees both SOC and capacity."""
    time = np.arange(0.0, minutes * 60 + period_s, period_s)
    current = np.where((time // 120) % 2 == 0, -5.0, 0.0)
    return Measurement(time, current, np.full(time.size, 3.7))


def _synthetic(model, measurement, truth, noise_v, seed=0):
    voltage, _ = model.voltage(truth)
    noisy = voltage + np.random.default_rng(seed).normal(0, noise_v, voltage.size)
    return Measurement(measurement.time_s, measurement.current_a, noisy)


@pytest.fixture(scope="module")
def pulse_model():
    return RecordModel(CHEN2020_SPM, SOLVER, _pulses(), [INITIAL_SOC, POSITIVE_FRACTION])


def _soc_and_fraction(start):
    return [
        FitParameter(INITIAL_SOC, start[0], 0.3, 1.0),
        FitParameter(POSITIVE_FRACTION, start[1], 0.5, 0.8),
    ]


@pytest.mark.parametrize("method", ["least_squares", "L-BFGS-B"])
def test_recovers_known_parameters_from_noisy_voltage(pulse_model, method):
    truth = {INITIAL_SOC: 0.72, POSITIVE_FRACTION: 0.62}
    measured = _synthetic(pulse_model, _pulses(), truth, noise_v=0.002)
    result = fit(build_objective("voltage", pulse_model, measured, 0.01, 0.001), _soc_and_fraction([0.8, 0.665]), method)
    assert result.rmse_fitted < result.rmse_start
    assert result.rmse_fitted == pytest.approx(0.002, rel=0.2)  # down to the noise
    for name, true_value in truth.items():
        assert result.values[name] == pytest.approx(true_value, rel=0.02)
        assert abs(result.values[name] - true_value) < 3 * result.standard_errors[name]


def test_nelder_mead_is_selectable(pulse_model):
    truth = {INITIAL_SOC: 0.72, POSITIVE_FRACTION: 0.62}
    measured = _synthetic(pulse_model, _pulses(), truth, noise_v=0.002)
    objective = build_objective("voltage", pulse_model, measured, 0.01, 0.001)
    result = fit(objective, _soc_and_fraction([0.8, 0.665]), "Nelder-Mead", max_iterations=40)
    assert result.method == "Nelder-Mead" and result.rmse_fitted < result.rmse_start


def test_ica_objective_recovers_active_material_loss():
    """A C/10 discharge with known LAM on both electrodes, fitted on its dQ/dV alone."""
    time = np.arange(0.0, 10 * 3600, 60.0)
    record = Measurement(time, np.full(time.size, -0.5), np.full(time.size, 3.7))
    model = RecordModel(CHEN2020_SPM, SOLVER, record, [NEGATIVE_FRACTION, POSITIVE_FRACTION])
    truth = {NEGATIVE_FRACTION: 0.75 * 0.95, POSITIVE_FRACTION: 0.665 * 0.90}  # LAM_ne 5 %, LAM_pe 10 %
    voltage, _ = model.voltage(truth)
    measured = Measurement(time[: voltage.size], record.current_a[: voltage.size], voltage)
    model = RecordModel(CHEN2020_SPM, SOLVER, measured, [NEGATIVE_FRACTION, POSITIVE_FRACTION])
    parameters = [FitParameter(NEGATIVE_FRACTION, 0.75, 0.6, 0.8), FitParameter(POSITIVE_FRACTION, 0.665, 0.5, 0.7)]
    result = fit(build_objective("ica", model, measured, 0.01, 0.002), parameters, max_iterations=300)
    assert result.rmse_fitted < 0.1 * result.rmse_start
    for name, true_value in truth.items():
        assert result.values[name] == pytest.approx(true_value, rel=0.02)


def test_ica_objective_rejects_a_drive_cycle(pulse_model):
    with pytest.raises(ValueError, match="constant-current"):
        build_objective("ica", pulse_model, _pulses(), 0.01, 0.001)


def test_real_drive_cycle_fits_better_than_chen2020():
    table = pd.read_csv(REFERENCE)
    measured = block_average(window(validate_measurement(table, 50.0), 0, 3 * 3600), 60.0)
    model = RecordModel(CHEN2020_SPM, SOLVER, measured, [INITIAL_SOC, POSITIVE_FRACTION])
    result = fit(build_objective("voltage", model, measured, 0.01, 0.001), _soc_and_fraction([0.8, 0.665]))
    assert result.rmse_fitted < 0.7 * result.rmse_start
    assert 0.6 < result.values[INITIAL_SOC] < 0.95  # the record starts near 80 % SOC


@pytest.fixture
def good_table():
    return pd.DataFrame({"time_s": [0.0, 1.0, 2.0], "current_a": [-1.0, -1.0, 0.0], "voltage_v": [3.9, 3.8, 3.85]})


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.drop(columns="voltage_v"), r"missing column\(s\) \['voltage_v'\]"),
        (lambda t: t.assign(time_s=[0.0, 2.0, 1.0]), "strictly increasing; row 2"),
        (lambda t: t.assign(voltage_v=[3.9, np.nan, 3.85]), "'voltage_v' has 1 missing .* row 1"),
        (lambda t: t.assign(current_a=["-1", "x", "0"]), "'current_a' has 1 missing or non-numeric"),
        (lambda t: t.assign(current_a=[-5000.0, -5000.0, 0.0]), "milliamperes"),
        (lambda t: t.assign(voltage_v=[3900.0, 3800.0, 3850.0]), "millivolts"),
        (lambda t: t.iloc[:1], "at least 2 rows"),
    ],
)
def test_bad_measurements_are_named(good_table, change, message):
    with pytest.raises(MeasurementError, match=message):
        validate_measurement(change(good_table), 50.0, source="cell.csv")


def test_block_average_conserves_charge():
    table = pd.read_csv(REFERENCE, nrows=4000)
    measured = validate_measurement(table, 50.0)
    averaged = block_average(measured, 30.0)
    assert np.all(np.diff(averaged.time_s) > 0)
    assert averaged.discharged_ah[-1] == pytest.approx(measured.discharged_ah[-1], rel=0.01)


def test_calibrated_ranges_recentre_only_fitted_parameters(tiny_params):
    from agingset.design import effective_config

    fitted = {POSITIVE_FRACTION: 0.60, INITIAL_SOC: 0.8}
    prior = tiny_params.design
    assert effective_config(prior, fitted) is prior
    calibrated = effective_config(prior.model_copy(update={"ranges": "calibrated"}), fitted).cell_parameters
    assert calibrated[POSITIVE_FRACTION].low == pytest.approx(0.55)
    assert calibrated[POSITIVE_FRACTION].high == pytest.approx(0.65)
    for name, prior_range in prior.cell_parameters.items():
        if name != POSITIVE_FRACTION:
            assert calibrated[name] == prior_range
    sei = "SEI solvent diffusivity [m2.s-1]"
    log_range = effective_config(
        prior.model_copy(update={"ranges": "calibrated"}), {sei: 1e-19}
    ).cell_parameters[sei]
    assert log_range.low * log_range.high == pytest.approx(1e-38)  # centred on the log scale


def test_the_stage_names_a_bad_file(tmp_path, tiny_params):
    from stages._io import StageError
    from stages.calibrate import read_measurement

    path = tmp_path / "cell.csv"
    pd.DataFrame({"time_s": [0, 1, 2], "current_a": [-2000, -2000, 0], "voltage_v": [3.9, 3.8, 3.8]}).to_csv(path)
    config = tiny_params.calibrate.model_copy(update={"measurement": str(path)})
    with pytest.raises(StageError, match=r"cell\.csv: \|current_a\| reaches 2000.*milliamperes"):
        read_measurement(config)
    with pytest.raises(StageError, match="not found"):
        read_measurement(config.model_copy(update={"measurement": str(tmp_path / "absent.csv")}))


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (
            lambda p: p["calibrate"]["parameters"].update({"Made-up thing": {"low": 0, "high": 1}}),
            "calibrate: parameters: 'Made-up thing' is not a parameter of Chen2020",
        ),
        (
            lambda p: p["calibrate"]["parameters"].update({INITIAL_SOC: {"low": 0.5, "high": 1.0, "start": 1.2}}),
            "start (1.2) must lie within low..high",
        ),
        (
            lambda p: p["calibrate"]["parameters"].update({POSITIVE_FRACTION: {"low": 0.7, "high": 0.8}}),
            "the parameter set's value 0.665 lies outside 0.7..0.8",
        ),
        (lambda p: p["calibrate"].update(method="BFGS"), "calibrate.method: Input should be"),
        (lambda p: p["design"].update(ranges="fitted"), "design.ranges: Input should be 'prior' or 'calibrated'"),
        (lambda p: p["sensitivity"].update(base_samples=12), "must be a power of two"),
    ],
)
def test_calibration_params_name_the_key(tiny_params_raw, mutate, expected):
    mutate(tiny_params_raw)
    with pytest.raises(ParamsError) as caught:
        parse_params(tiny_params_raw)
    assert expected in str(caught.value)

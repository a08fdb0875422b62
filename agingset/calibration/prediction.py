"""One record simulated with one parameter vector: residuals, their Jacobian, tables and error metrics.

Residuals are dimensionless: impedance as (Z_sim - Z_meas) / |Z_meas| divided by
``impedance_relative`` (real and imaginary parts), voltage divided by ``voltage_v``, temperature
divided by ``temperature_k``. Each record's residuals are divided by the square root of their count
and multiplied by the record kind's weight, so a record counts by its weight, not by how densely it
was sampled. The rate-test cells (another product than the impedance and drive-cycle cell) may take
their own value of a parameter (:func:`rate_test_name`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .cell_models import PULSE_INSTANT_S, SIMULATION_CUTOFF_V, CellModels
from .measurements import LOW_FREQUENCY_HZ, MeasuredSpectrum, Measurement
from .observations import DISCHARGE, PULSE, RATE_TEST_KINDS, SPECTRUM, Observation, discharge_current


@dataclass(frozen=True)
class ResidualScales:
    impedance_relative: float = 0.02
    voltage_v: float = 0.01
    temperature_k: float = 2.0


@dataclass
class Prediction:
    """A record simulated with one parameter vector: residuals and what users plot."""

    observation: Observation
    residuals: np.ndarray  # dimensionless, weighted, normalised by count
    table: pd.DataFrame
    errors: dict[str, float]


def _spectrum_window(spectrum: MeasuredSpectrum, window_hz: tuple[float, float]):
    keep = (spectrum.frequency_hz >= window_hz[0] * (1 - 1e-9)) & (spectrum.frequency_hz <= window_hz[1] * (1 + 1e-9))
    return spectrum.frequency_hz[keep], spectrum.impedance_ohm[keep]


def _compared_samples(observation: Observation) -> np.ndarray:
    """The samples of a time-domain record its residuals compare: every one, except for a discharge
    the rested sample before the current starts (it only fixes the starting SOC; the model's
    constant current runs from t = 0)."""
    record = observation.record
    if observation.kind == DISCHARGE:
        return -record.current_a > 0.5 * discharge_current(record)
    return np.ones(record.time_s.size, dtype=bool)


def predict(
    models: CellModels,
    observation: Observation,
    values: dict[str, float],
    scales: ResidualScales,
    window_hz: tuple[float, float],
) -> Prediction:
    """Simulate one record with ``values``: its residuals, a long table and its error metrics."""
    if observation.kind == SPECTRUM:
        spectrum = observation.spectrum
        frequency, measured = _spectrum_window(spectrum, window_hz)
        soc = models.soc_at_voltage(spectrum.ocv_v)
        try:
            simulated = models.spectrum(values, soc, frequency, observation.ambient_temperature_c)
        except Exception:  # a trial point the linearisation cannot handle: worst case, not a crash
            simulated = np.full(frequency.shape, np.nan + 0j)
        relative = (simulated - measured) / np.abs(measured)
        finite = np.isfinite(relative)
        relative = np.where(finite, relative, 1.0)
        residuals = np.concatenate([relative.real, relative.imag]) / scales.impedance_relative
        magnitude_error = np.abs(np.abs(simulated) - np.abs(measured)) / np.abs(measured)
        table = pd.DataFrame(
            {
                "frequency_hz": frequency,
                "z_re_measured_ohm": measured.real,
                "z_im_measured_ohm": measured.imag,
                "z_re_simulated_ohm": simulated.real,
                "z_im_simulated_ohm": simulated.imag,
            }
        )
        # Scored as complex numbers too: |Z| is dominated by the real part and hides the shape (the
        # diffusion tail, the inductive end), so the complex error is what says the spectrum is the cell's.
        complex_error = np.where(finite, np.abs(relative), 1.0)
        low = frequency < LOW_FREQUENCY_HZ
        errors = {
            "soc_fitted": soc,
            "median_relative_abs_z_error_pct": float(100 * np.nanmedian(np.where(finite, magnitude_error, 1.0))),
            "max_relative_abs_z_error_pct": float(100 * np.nanmax(np.where(finite, magnitude_error, 1.0))),
            "median_complex_error_pct": float(100 * np.median(complex_error)),
            "median_complex_error_below_0_1hz_pct": float(100 * np.median(complex_error[low])) if low.any() else None,
        }
    elif observation.kind == PULSE:
        series = observation.pulses
        measured = series.measured_voltages()
        simulated = np.full(measured.shape, SIMULATION_CUTOFF_V)
        for index in range(measured.shape[0]):
            voltage, _ = models.pulse(values, series, index, observation.ambient_temperature_c)
            simulated[index, : voltage.size] = voltage
        difference = simulated - measured
        residuals = difference.ravel() / scales.voltage_v
        resistance_error_mohm = 1e3 * (series.resistances(simulated) - series.measured_resistances())
        measured_mohm = 1e3 * series.measured_resistances()
        errors = {
            "voltage_rmse_mv": float(1e3 * np.sqrt(np.mean(difference**2))),
            "r_instant_rmse_mohm": float(np.sqrt(np.mean(resistance_error_mohm[:, 0] ** 2))),
            "r_end_rmse_mohm": float(np.sqrt(np.mean(resistance_error_mohm[:, 1] ** 2))),
            "r_end_mean_error_mohm": float(np.mean(resistance_error_mohm[:, 1])),
            # The pulse resistance over the SOC steps, simulated against measured (median cell per step).
            "r_instant_relative_error_pct": float(100 * np.mean(resistance_error_mohm[:, 0]) / np.mean(measured_mohm[:, 0])),
            "r_end_relative_error_pct": float(100 * np.mean(resistance_error_mohm[:, 1]) / np.mean(measured_mohm[:, 1])),
        }
        times = np.column_stack([np.full(series.duration_s.shape, PULSE_INSTANT_S), series.duration_s])
        table = pd.DataFrame(
            {
                "time_s": times.ravel(),
                "current_a": np.repeat(-series.current_a, 2),
                "voltage_measured_v": measured.ravel(),
                "voltage_simulated_v": simulated.ravel(),
                "temperature_measured_c": np.nan,
                "temperature_simulated_c": np.nan,
                "pulse_soc_step": np.repeat(series.soc_step, 2),
                "pulse_rest_voltage_v": np.repeat(series.rest_voltage_v, 2),
            }
        )
    else:
        record = observation.record
        if observation.kind == DISCHARGE:
            voltage, temperature, _, _ = models.constant_current(values, observation, record)
        else:
            voltage, temperature, _, _ = models.driven(values, observation, record)
        reached = voltage.size
        full_voltage = np.full(record.time_s.size, SIMULATION_CUTOFF_V)
        full_voltage[:reached] = voltage
        full_temperature = np.full(record.time_s.size, np.nan)
        full_temperature[:reached] = temperature
        compared = _compared_samples(observation)
        difference = (full_voltage - record.voltage_v)[compared]
        parts = [difference / scales.voltage_v]
        errors = {
            "voltage_rmse_mv": float(1e3 * np.sqrt(np.mean(difference**2))),
            "reached_fraction": reached / record.time_s.size,
        }
        if observation.kind == DISCHARGE:
            measured_ah, simulated_ah = (
                capacity_to_voltage_ah(record, voltage, CAPACITY_VOLTAGE_V) for voltage in (record.voltage_v, full_voltage)
            )
            error_pct = 100 * (simulated_ah - measured_ah) / measured_ah
            # None (JSON null): that discharge was still above 3.0 V when the record ended.
            errors["capacity_to_3v_ah_measured"] = measured_ah if np.isfinite(measured_ah) else None
            errors["capacity_to_3v_error_pct"] = float(error_pct) if np.isfinite(error_pct) else None
        if record.temperature_c is not None:
            last = np.where(np.isfinite(full_temperature), full_temperature, full_temperature[max(reached - 1, 0)])
            if reached == 0:
                last = np.full(record.time_s.size, observation.ambient_temperature_c)
            temperature_difference = (last - record.temperature_c)[compared]
            parts.append(temperature_difference / scales.temperature_k)
            errors["temperature_rmse_k"] = float(np.sqrt(np.mean(temperature_difference**2)))
        residuals = np.concatenate(parts)
        table = pd.DataFrame(
            {
                "time_s": record.time_s,
                "current_a": record.current_a,
                "voltage_measured_v": record.voltage_v,
                "voltage_simulated_v": np.where(np.arange(record.time_s.size) < reached, full_voltage, np.nan),
                "temperature_measured_c": record.temperature_c if record.temperature_c is not None else np.nan,
                "temperature_simulated_c": full_temperature,
            }
        )
    weighted = residuals * observation.weight / math.sqrt(residuals.size)
    return Prediction(observation, weighted, table, errors)


# Relative step of the finite differences of a spectrum: the linearised impedance is a direct
# sparse solve, exact to rounding, so a small step is accurate.
SPECTRUM_STEP = 1e-6


def residual_jacobian(
    models: CellModels,
    observation: Observation,
    values: dict[str, float],
    scales: ResidualScales,
    window_hz: tuple[float, float],
) -> np.ndarray:
    """d residuals / d values (physical units) of one record, rows as :func:`predict`'s residuals.

    Time-domain records: IDAKLU forward sensitivities of voltage and cell temperature (zero
    past the point a cut-off stopped the solve). Spectra: forward differences.
    """
    names = models.fit_names
    if observation.kind == SPECTRUM:
        base = predict(models, observation, values, scales, window_hz).residuals
        columns = []
        for name in names:
            step = SPECTRUM_STEP * abs(values[name]) or SPECTRUM_STEP
            shifted = predict(models, observation, {**values, name: values[name] + step}, scales, window_hz).residuals
            columns.append((shifted - base) / step)
        return np.column_stack(columns)
    if observation.kind == PULSE:
        series = observation.pulses
        rows = np.zeros((series.rest_voltage_v.size, 2, len(names)))
        for index in range(series.rest_voltage_v.size):
            _, d_voltage = models.pulse(values, series, index, observation.ambient_temperature_c, sensitivities=True)
            rows[index, : d_voltage.shape[0]] = d_voltage
        jacobian = rows.reshape(-1, len(names)) / scales.voltage_v
        return jacobian * observation.weight / math.sqrt(jacobian.shape[0])
    record = observation.record
    if observation.kind == DISCHARGE:
        voltage, _, d_voltage, d_temperature = models.constant_current(values, observation, record, sensitivities=True)
    else:
        voltage, _, d_voltage, d_temperature = models.driven(values, observation, record, sensitivities=True)
    reached = voltage.size
    full_voltage = np.zeros((record.time_s.size, len(names)))
    full_voltage[:reached] = d_voltage
    compared = _compared_samples(observation)
    parts = [full_voltage[compared] / scales.voltage_v]
    if record.temperature_c is not None:
        full_temperature = np.zeros((record.time_s.size, len(names)))
        full_temperature[:reached] = d_temperature
        parts.append(full_temperature[compared] / scales.temperature_k)
    jacobian = np.vstack(parts)
    return jacobian * observation.weight / math.sqrt(jacobian.shape[0])


# through this level. 3.0 V rather than the tests' 2.5 V cut-off: a model whose knee comes late
# can end a record above 2.5 V, and below 3.0 V lie only the last ~3 % of these discharges.
CAPACITY_VOLTAGE_V = 3.0


def capacity_to_voltage_ah(record: Measurement, voltage_v: np.ndarray, level_v: float) -> float:
    """Charge [A.h] the record's current delivers until ``voltage_v`` (at the record's times: its
    own or a simulated one) last falls through ``level_v``, linear between the two samples around
    it; NaN when the voltage ends above it."""
    above = np.flatnonzero(voltage_v >= level_v)
    if above.size == 0 or above[-1] == voltage_v.size - 1:
        return float("nan")
    last = above[-1]
    share = (voltage_v[last] - level_v) / (voltage_v[last] - voltage_v[last + 1])
    delivered = record.discharged_ah
    return float(delivered[last] + share * (delivered[last + 1] - delivered[last]))


RATE_TEST_CELLS = " (rate-test cells)"


def rate_test_name(name: str) -> str:
    """Fit name of the rate-test cells' own value of a parameter (see :func:`record_values`)."""
    return name + RATE_TEST_CELLS


def record_values(observation: Observation, values: dict[str, float]) -> dict[str, float]:
    """The model inputs of one record: the shared values, except that constant-current
    discharges and pulses (another cell product than the impedance and drive-cycle cell) take
    their own value of a parameter wherever ``values`` holds one (``rate_test_name(name)``)."""
    if observation.kind not in RATE_TEST_KINDS:
        return values
    return {
        name: values.get(rate_test_name(name), value) for name, value in values.items() if not name.endswith(RATE_TEST_CELLS)
    }


def fresh_spectra(models: CellModels, values: dict, socs, temperature_c: float, frequencies_hz) -> pd.DataFrame:
    """The calibrated fresh cell's spectra at model SOCs, in the long format of spectra.parquet."""
    frames = []
    for soc in socs:
        impedance = models.spectrum(values, float(soc), np.asarray(frequencies_hz), temperature_c)
        frames.append(
            pd.DataFrame(
                {
                    "sample_id": "calibrated",
                    "snapshot": 0,
                    "soc": float(soc),
                    "temperature_c": float(temperature_c),
                    "frequency_hz": frequencies_hz,
                    "z_re_ohm": impedance.real,
                    "z_im_ohm": impedance.imag,
                    "z_abs_ohm": np.abs(impedance),
                    "phase_deg": np.degrees(np.angle(impedance)),
                    "backend": "pybamm.EISSimulation",
                    "solver_status": "ok",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def prediction_tables(models, observations, values, scales, window_hz, label: str):
    """Every observation simulated with ``values``: long tables (spectra, records) and errors."""
    spectra, records, errors = [], [], {}
    for observation in observations:
        prediction = predict(models, observation, record_values(observation, values), scales, window_hz)
        table = prediction.table.assign(
            measurement=observation.name, role=observation.role, parameters=label
        )
        if observation.kind == SPECTRUM:
            spectra.append(table.assign(soc_measured=observation.spectrum.soc))
        else:
            records.append(
                table.assign(
                    kind=observation.kind,
                    ambient_temperature_c=observation.ambient_temperature_c,
                    c_rate=observation.c_rate if observation.c_rate is not None else np.nan,
                )
            )
        errors[observation.name] = prediction.errors
    return pd.concat(spectra, ignore_index=True), pd.concat(records, ignore_index=True), errors

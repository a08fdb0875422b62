"""The measured records of a calibration as observations: kind, role (fit or held out), weight, the data.

Spectra and rate tests are fitted unless ``calibrate.held_out`` names their ambient temperature or
C-rate; the drive cycle takes ``calibrate.drive_cycle_role``; the pulse tests (one record per ambient,
the medians over the cells measured) ``calibrate.pulse_role``. A discharge starts from its rested
voltage before the current, which fixes its starting SOC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .measurements import MeasuredSpectrum, Measurement, RateTest

FIT, HELD_OUT = "fit", "held_out"
SPECTRUM, DISCHARGE, DRIVE_CYCLE, PULSE = "spectrum", "discharge", "drive_cycle", "pulse"
# Records of the rate-test cells (LG M50): they take that product's own parameter values.
RATE_TEST_KINDS = (DISCHARGE, PULSE)


@dataclass(frozen=True)
class PulseSeries:
    """One ambient temperature's discharge current pulses, one per SOC step (each the median
    over the cells measured): rested voltage before the pulse, current (positive), duration,
    resistance at the first sample under load and at the pulse's end."""

    soc_step: np.ndarray
    rest_voltage_v: np.ndarray
    current_a: np.ndarray
    duration_s: np.ndarray
    r_instant_ohm: np.ndarray
    r_end_ohm: np.ndarray

    def measured_resistances(self) -> np.ndarray:
        """(pulses, 2): the resistance at the first sample under load and at the end."""
        return np.column_stack([self.r_instant_ohm, self.r_end_ohm])

    def resistances(self, voltages: np.ndarray) -> np.ndarray:
        """(pulses, 2) resistances of (pulses, 2) voltages under load: the drop from rest over the current."""
        return (self.rest_voltage_v[:, None] - voltages) / self.current_a[:, None]

    def measured_voltages(self) -> np.ndarray:
        """(pulses, 2): the voltage at the first sample under load and at the end."""
        return self.rest_voltage_v[:, None] - self.measured_resistances() * self.current_a[:, None]


def pulse_series(pulses: pd.DataFrame, min_rest_voltage_v: float) -> dict[float, PulseSeries]:
    """Per ambient temperature, the pulse table's medians over its cells per SOC step, the
    steps rested below ``min_rest_voltage_v`` left out (the end of discharge, where a 10-s
    pulse runs into the knee and the resistance is the knee's position, not the cell's)."""
    medians = pulses.groupby(["ambient_temperature_c", "soc_step"]).median(numeric_only=True).reset_index()
    medians = medians[medians["rest_voltage_v"] >= min_rest_voltage_v]
    return {
        float(temperature): PulseSeries(
            group["soc_step"].to_numpy(dtype=int),
            group["rest_voltage_v"].to_numpy(dtype=float),
            group["pulse_current_a"].to_numpy(dtype=float),
            group["pulse_duration_s"].to_numpy(dtype=float),
            group["r_instant_ohm"].to_numpy(dtype=float),
            group["r_10s_ohm"].to_numpy(dtype=float),
        )
        for temperature, group in medians.groupby("ambient_temperature_c")
    }


@dataclass(frozen=True)
class Observation:
    """One measured record in the identification."""

    name: str
    kind: str  # SPECTRUM | DISCHARGE | DRIVE_CYCLE | PULSE
    role: str  # FIT | HELD_OUT
    weight: float
    spectrum: MeasuredSpectrum | None = None
    record: Measurement | None = None
    ambient_temperature_c: float = 25.0
    c_rate: float | None = None
    # A discharge's rested voltage before the current (fixes its starting SOC); None: the first sample.
    rest_voltage_v: float | None = None
    pulses: PulseSeries | None = None


# A rested first sample is followed by the ohmic step of the current: at least this resistance
# (the LG M50 pulse tests' instantaneous resistance is 24-67 mOhm at 0-45 degC).
REST_STEP_MIN_OHM = 0.010


def rested_start(record: Measurement) -> float | None:
    """The record's rested voltage before its discharge, or None when its first sample is
    already under load (no current step after it, e.g. a logger that starts late)."""
    current = discharge_current(record)
    if abs(record.current_a[0]) > 0.01 * current or record.current_a[1] >= 0:
        return None
    step_ohm = (record.voltage_v[0] - record.voltage_v[1]) / -record.current_a[1]
    return float(record.voltage_v[0]) if step_ohm >= REST_STEP_MIN_OHM else None


def rest_voltages(tests) -> dict[str, float]:
    """Each rate test's starting rest voltage: its own rested first sample, else the median of
    the rested starts at the same ambient temperature (every test starts from the same charge
    to 4.2 V and rest; their rested starts agree within 2 mV per temperature)."""
    own = {test.name: rested_start(test.record) for test in tests}
    result = {}
    for test in tests:
        if own[test.name] is not None:
            result[test.name] = own[test.name]
            continue
        same = [own[t.name] for t in tests if math.isclose(t.ambient_temperature_c, test.ambient_temperature_c) and own[t.name] is not None]
        if not same:
            raise ValueError(f"{test.name}: starts under load and no test at {test.ambient_temperature_c:g} degC starts at rest")
        result[test.name] = float(np.median(same))
    return result


def is_held_out(test: RateTest, held_out_temperatures_c, held_out_c_rates) -> bool:
    """The validation protocol: rate tests at these ambients or these C-rates are never fitted."""
    return any(math.isclose(test.ambient_temperature_c, t) for t in held_out_temperatures_c) or any(
        math.isclose(test.c_rate, c) for c in held_out_c_rates
    )


def resample_uniform(record: Measurement, points: int) -> Measurement:
    """The record at ``points`` equally spaced times (linear interpolation), first and last kept."""
    time_s = np.linspace(record.time_s[0], record.time_s[-1], points)
    temperature = None if record.temperature_c is None else np.interp(time_s, record.time_s, record.temperature_c)
    return Measurement(
        time_s,
        np.interp(time_s, record.time_s, record.current_a),
        np.interp(time_s, record.time_s, record.voltage_v),
        temperature,
    )


def discharge_current(record: Measurement) -> float:
    """A constant-current record's discharge current (positive), from its discharging samples."""
    return -float(np.median(record.current_a[record.current_a < 0]))


def slowest_fitted_discharge(observations, ambient_temperature_c: float) -> Observation:
    """The fitted constant-current discharge of lowest C-rate at this ambient temperature."""
    candidates = [
        o for o in observations
        if o.kind == DISCHARGE and o.role == FIT and math.isclose(o.ambient_temperature_c, ambient_temperature_c)
    ]
    if not candidates:
        raise ValueError(f"no fitted discharge at {ambient_temperature_c:g} degC to scale the rate-test OCV's SOC axis")
    return min(candidates, key=lambda o: o.c_rate)


def build_observations(
    spectra: list[MeasuredSpectrum],
    rate_tests: list[RateTest],
    drive_cycle: Measurement,
    config,
    pulses: dict[float, PulseSeries] | None = None,
) -> list[Observation]:
    """Every measurement as an observation with its role: spectra and rate tests are fitted
    unless ``config.held_out`` names their ambient temperature or C-rate; pulses (one record per
    ambient temperature) when ``config.pulse_role`` is fit, unless it names their temperature."""
    weights = config.weights
    observations = [
        Observation(
            f"spectrum_soc{round(100 * s.soc):d}",
            SPECTRUM,
            FIT,
            weights.spectrum,
            spectrum=s,
            ambient_temperature_c=config.spectra_temperature_c,
        )
        for s in spectra
    ]
    held = config.held_out
    rested = rest_voltages(rate_tests)
    for test in rate_tests:
        role = HELD_OUT if is_held_out(test, held.ambient_temperatures_c, held.c_rates) else FIT
        observations.append(
            Observation(
                test.name,
                DISCHARGE,
                role,
                weights.discharge,
                record=resample_uniform(test.record, config.discharge_points),
                ambient_temperature_c=test.ambient_temperature_c,
                c_rate=test.c_rate,
                rest_voltage_v=rested[test.name],
            )
        )
    observations.append(
        Observation(
            "drive_cycle",
            DRIVE_CYCLE,
            config.drive_cycle_role,
            weights.drive_cycle,
            record=drive_cycle,
            ambient_temperature_c=config.drive_cycle_temperature_c,
        )
    )
    for temperature, series in sorted((pulses or {}).items()):
        held_out = config.pulse_role == HELD_OUT or any(math.isclose(temperature, t) for t in held.ambient_temperatures_c)
        observations.append(
            Observation(
                f"pulses_{temperature:g}degC",
                PULSE,
                HELD_OUT if held_out else FIT,
                weights.pulse,
                ambient_temperature_c=temperature,
                pulses=series,
            )
        )
    return observations

"""The calibration's measurements: their documented table formats, the checks, resampling.

Current/voltage records (CSV or parquet, one row per sample, any extra columns ignored):

- ``time_s``: seconds, strictly increasing;
- ``current_a``: amperes, **negative = discharge** (PyBaMM's sign is the opposite);
- ``voltage_v``: terminal voltage in volts;
- ``temperature_c`` (optional): cell or ambient temperature in degrees Celsius.

Impedance spectra, rate tests, pulse tests and the pseudo-OCV have formats of their own (below).
Every check names the column and the first offending row, so a wrong file fails with a message
that says what to fix, not deep inside a solver. Reading the files is the caller's (``agingset.inputs``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("time_s", "current_a", "voltage_v")
OPTIONAL_COLUMNS = ("temperature_c",)
# A lithium-ion cell's terminal voltage lies well inside this band; a value outside it
# is a unit mistake (mV) or a different quantity.
VOLTAGE_BAND_V = (0.5, 6.0)


class MeasurementError(ValueError):
    """A measurement table that does not follow the documented format."""


@dataclass(frozen=True)
class Measurement:
    time_s: np.ndarray
    current_a: np.ndarray
    voltage_v: np.ndarray
    temperature_c: np.ndarray | None = None

    @property
    def discharged_ah(self) -> np.ndarray:
        """Charge removed since the start, by trapezoidal coulomb counting."""
        steps = -0.5 * (self.current_a[1:] + self.current_a[:-1]) * np.diff(self.time_s) / 3600.0
        return np.concatenate([[0.0], np.cumsum(steps)])


def validate_measurement(table: pd.DataFrame, max_abs_current_a: float, source: str = "measurement") -> Measurement:
    """Check a table against the format and return its arrays (time shifted to start at 0)."""
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise MeasurementError(
            f"{source}: missing column(s) {missing}; required {list(REQUIRED_COLUMNS)}, "
            f"found {list(table.columns)}"
        )
    if len(table) < 2:
        raise MeasurementError(f"{source}: needs at least 2 rows, found {len(table)}")
    columns = [*REQUIRED_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in table.columns)]
    arrays = _numeric_columns(table, columns, source)

    steps = np.diff(arrays["time_s"])
    backwards = np.flatnonzero(steps <= 0)
    if backwards.size:
        row = backwards[0] + 1
        raise MeasurementError(
            f"{source}: time_s must be strictly increasing; row {row} has {arrays['time_s'][row]!r} "
            f"after {arrays['time_s'][row - 1]!r}"
        )
    peak_current = float(np.max(np.abs(arrays["current_a"])))
    if peak_current > max_abs_current_a:
        raise MeasurementError(
            f"{source}: |current_a| reaches {peak_current:g}, above the {max_abs_current_a:g} A limit; "
            "current_a must be in amperes (milliamperes divided by 1000?)"
        )
    v_low, v_high = float(np.min(arrays["voltage_v"])), float(np.max(arrays["voltage_v"]))
    if v_low < VOLTAGE_BAND_V[0] or v_high > VOLTAGE_BAND_V[1]:
        raise MeasurementError(
            f"{source}: voltage_v spans {v_low:g}..{v_high:g}, outside {VOLTAGE_BAND_V[0]}..{VOLTAGE_BAND_V[1]} V; "
            "voltage_v must be in volts (millivolts divided by 1000?)"
        )
    return Measurement(
        time_s=arrays["time_s"] - arrays["time_s"][0],
        current_a=arrays["current_a"],
        voltage_v=arrays["voltage_v"],
        temperature_c=arrays.get("temperature_c"),
    )


def window(measurement: Measurement, start_s: float, end_s: float) -> Measurement:
    """The part of the record between ``start_s`` and ``end_s``, time shifted to start at 0."""
    keep = (measurement.time_s >= start_s) & (measurement.time_s <= end_s)
    if keep.sum() < 2:
        raise MeasurementError(f"window {start_s:g}..{end_s:g} s holds fewer than 2 samples")
    temperature = None if measurement.temperature_c is None else measurement.temperature_c[keep]
    time = measurement.time_s[keep]
    return Measurement(time - time[0], measurement.current_a[keep], measurement.voltage_v[keep], temperature)


def block_average(measurement: Measurement, period_s: float) -> Measurement:
    """Mean current, voltage (and temperature) over consecutive ``period_s`` blocks.

    Averaging conserves charge, and for the model's slow (diffusion) dynamics the mean
    voltage of a block is the voltage of its mean current up to second-order terms, so a
    fit on blocks sees the same parameters at a fraction of the solver steps. The first
    sample is kept as it is so the record still starts at t = 0.
    """
    if period_s <= 0:
        raise MeasurementError(f"resampling period must be positive, got {period_s}")
    block = np.floor(measurement.time_s / period_s).astype(int)
    counts = np.bincount(block)
    filled = counts > 0

    def average(values):
        return np.concatenate([values[:1], (np.bincount(block, values)[filled] / counts[filled])])

    time = np.concatenate([[0.0], (np.flatnonzero(filled) + 0.5) * period_s])
    time[-1] = min(time[-1], measurement.time_s[-1])
    temperature = None if measurement.temperature_c is None else average(measurement.temperature_c)
    return Measurement(time, average(measurement.current_a), average(measurement.voltage_v), temperature)


# -- impedance spectra -------------------------------------------------------------------
SPECTRUM_COLUMNS = ("soc_pct", "ocv_v", "frequency_hz", "z_re_ohm", "z_im_ohm")
# A cell's impedance magnitude lies well inside this band; outside it is a unit mistake.
IMPEDANCE_BAND_OHM = (1e-5, 10.0)
# Where a spectrum's diffusion tail is scored on its own (complex error below this frequency): the part |Z|
# and a whole-band median hide.
LOW_FREQUENCY_HZ = 0.1


@dataclass(frozen=True)
class MeasuredSpectrum:
    """One impedance spectrum at a rested state of charge (frequencies ascending)."""

    soc: float
    ocv_v: float
    frequency_hz: np.ndarray
    impedance_ohm: np.ndarray


def _numeric_columns(table: pd.DataFrame, columns, source: str) -> dict[str, np.ndarray]:
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise MeasurementError(
            f"{source}: missing column(s) {missing}; required {list(columns)}, found {list(table.columns)}"
        )
    arrays = {}
    for column in columns:
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise MeasurementError(
                f"{source}: column {column!r} has {bad.size} missing or non-numeric value(s), "
                f"first at row {bad[0]} ({table[column].iloc[bad[0]]!r})"
            )
        arrays[column] = values
    return arrays


def validate_spectra(table: pd.DataFrame, source: str = "spectra") -> list[MeasuredSpectrum]:
    """Check an impedance table (columns ``SPECTRUM_COLUMNS``) and return one spectrum per SOC.

    ``soc_pct`` is in percent, impedance in ohm with capacitive arcs at ``z_im_ohm < 0``;
    frequencies must be positive and strictly monotonic within each SOC, in the file's order.
    """
    arrays = _numeric_columns(table, SPECTRUM_COLUMNS, source)
    soc = arrays["soc_pct"]
    if soc.min() < 0 or soc.max() > 100:
        raise MeasurementError(f"{source}: soc_pct spans {soc.min():g}..{soc.max():g}, outside 0..100 (percent)")
    if soc.max() <= 1:
        raise MeasurementError(f"{source}: soc_pct is at most {soc.max():g}: give percent (0-100), not a fraction")
    magnitude = np.hypot(arrays["z_re_ohm"], arrays["z_im_ohm"])
    if magnitude.min() < IMPEDANCE_BAND_OHM[0] or magnitude.max() > IMPEDANCE_BAND_OHM[1]:
        raise MeasurementError(
            f"{source}: |Z| spans {magnitude.min():g}..{magnitude.max():g} ohm, outside "
            f"{IMPEDANCE_BAND_OHM[0]:g}..{IMPEDANCE_BAND_OHM[1]:g}; z_re_ohm/z_im_ohm must be in ohm (milliohm divided by 1000?)"
        )
    if arrays["frequency_hz"].min() <= 0:
        raise MeasurementError(f"{source}: frequency_hz must be positive, found {arrays['frequency_hz'].min():g}")
    spectra = []
    for value in dict.fromkeys(soc):  # in file order
        rows = np.flatnonzero(soc == value)
        frequency = arrays["frequency_hz"][rows]
        steps = np.diff(frequency)
        if not (np.all(steps > 0) or np.all(steps < 0)):
            bad = rows[1 + np.flatnonzero(np.sign(steps) != np.sign(steps[0]) if steps.size else [])[:1]]
            row = int(bad[0]) if bad.size else int(rows[0])
            raise MeasurementError(
                f"{source}: frequency_hz must be strictly monotonic within soc_pct {value:g}; row {row} breaks it "
                f"({table['frequency_hz'].iloc[row]!r})"
            )
        order = np.argsort(frequency)
        impedance = arrays["z_re_ohm"][rows] + 1j * arrays["z_im_ohm"][rows]
        spectra.append(
            MeasuredSpectrum(
                soc=value / 100.0,
                ocv_v=float(np.median(arrays["ocv_v"][rows])),
                frequency_hz=frequency[order],
                impedance_ohm=impedance[order],
            )
        )
    return spectra


# -- rate tests ----------------------------------------------------------------------------
RATE_TEST_KEYS = ("ambient_temperature_c", "c_rate")
# Ambient and cell temperatures of a lithium-ion test lie well inside this band (kelvin would not).
TEMPERATURE_BAND_C = (-60.0, 120.0)


@dataclass(frozen=True)
class RateTest:
    """A constant-current discharge from rest, at one ambient temperature."""

    ambient_temperature_c: float
    c_rate: float
    record: Measurement

    @property
    def name(self) -> str:
        return f"discharge_{self.c_rate:g}C_{self.ambient_temperature_c:g}degC"


def validate_rate_tests(table: pd.DataFrame, max_abs_current_a: float, source: str = "rate tests") -> list[RateTest]:
    """Check a long rate-test table (``RATE_TEST_KEYS`` + the record columns with ``temperature_c``)."""
    _numeric_columns(table, (*RATE_TEST_KEYS, *REQUIRED_COLUMNS, "temperature_c"), source)
    for column in ("ambient_temperature_c", "temperature_c"):
        values = pd.to_numeric(table[column]).to_numpy(dtype=float)
        if values.min() < TEMPERATURE_BAND_C[0] or values.max() > TEMPERATURE_BAND_C[1]:
            raise MeasurementError(
                f"{source}: {column} spans {values.min():g}..{values.max():g}, outside "
                f"{TEMPERATURE_BAND_C[0]:g}..{TEMPERATURE_BAND_C[1]:g}; temperatures must be in degrees Celsius (kelvin?)"
            )
    tests = []
    for (ambient, c_rate), group in table.groupby(list(RATE_TEST_KEYS), sort=True):
        where = f"{source} (ambient_temperature_c {ambient:g}, c_rate {c_rate:g})"
        tests.append(RateTest(float(ambient), float(c_rate), validate_measurement(group, max_abs_current_a, where)))
    return tests


# -- pseudo-OCV ----------------------------------------------------------------------------
OCV_COLUMNS = ("soc_pct", "ocv_v", "hysteresis_v")


def validate_ocv(table: pd.DataFrame, source: str = "ocv") -> tuple[np.ndarray, np.ndarray]:
    """SOC (fraction) and the discharge-branch OCV (mean OCV minus half the hysteresis, which
    is taken as the full charge-discharge gap) of a pseudo-OCV table."""
    arrays = _numeric_columns(table, OCV_COLUMNS, source)
    soc = arrays["soc_pct"]
    if soc.min() < 0 or soc.max() > 100 or soc.max() <= 1:
        raise MeasurementError(f"{source}: soc_pct spans {soc.min():g}..{soc.max():g}; give percent (0-100)")
    if np.any(np.diff(soc) <= 0):
        raise MeasurementError(f"{source}: soc_pct must be strictly increasing")
    discharge = arrays["ocv_v"] - arrays["hysteresis_v"] / 2
    if discharge.min() < VOLTAGE_BAND_V[0] or discharge.max() > VOLTAGE_BAND_V[1]:
        raise MeasurementError(f"{source}: ocv_v spans {discharge.min():g}..{discharge.max():g}; must be in volts")
    if np.any(np.diff(discharge) <= 0):
        raise MeasurementError(f"{source}: the discharge OCV (ocv_v - hysteresis_v/2) must rise with soc_pct")
    return soc / 100.0, discharge


# -- every measurement of a calibration -----------------------------------------------------
PULSE_COLUMNS = (
    "ambient_temperature_c", "soc_step", "cell", "rest_voltage_v", "pulse_current_a", "pulse_duration_s", "r_instant_ohm", "r_10s_ohm"
)


@dataclass(frozen=True)
class MeasurementTables:
    """The files named in ``params.calibrate`` as read: one table per key (``rate_test_ocv``
    optional) and each file's SHA-256 by its path as written in params."""

    spectra: pd.DataFrame
    rate_tests: pd.DataFrame
    drive_cycle: pd.DataFrame
    pulse_resistance: pd.DataFrame
    rate_test_ocv: pd.DataFrame | None
    sha256: dict[str, str]


@dataclass(frozen=True)
class Measurements:
    """Every measurement of a calibration, checked: the spectra, the rate tests, the drive cycle
    (block-averaged over ``calibrate.drive_cycle_resample_s``), the pulse table, the rate-test
    cells' (SOC, discharge OCV) or None, and the files' hashes."""

    spectra: list[MeasuredSpectrum]
    rate_tests: list[RateTest]
    drive_cycle: Measurement
    pulses: pd.DataFrame
    rate_test_ocv: tuple[np.ndarray, np.ndarray] | None
    sha256: dict[str, str]


def validate_tables(tables: MeasurementTables, config) -> Measurements:
    """Check every table against its format (``config``: ``params.calibrate``, whose keys name the sources)."""
    spectra = validate_spectra(tables.spectra, source=config.spectra)
    rate_tests = validate_rate_tests(tables.rate_tests, config.max_abs_current_a, source=config.rate_tests)
    drive = validate_measurement(tables.drive_cycle, config.max_abs_current_a, source=config.drive_cycle)
    pulses = tables.pulse_resistance
    missing = [column for column in PULSE_COLUMNS if column not in pulses.columns]
    if missing:
        raise MeasurementError(f"{config.pulse_resistance}: missing column(s) {missing}; required {list(PULSE_COLUMNS)}")
    ocv = None
    if tables.rate_test_ocv is not None:
        ocv = validate_ocv(tables.rate_test_ocv, source=config.rate_test_ocv)
    return Measurements(
        spectra, rate_tests, block_average(drive, config.drive_cycle_resample_s), pulses, ocv, dict(tables.sha256)
    )

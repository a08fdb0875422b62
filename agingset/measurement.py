"""A measured current/voltage record: the documented table format, its checks, resampling.

Format (CSV or parquet, one row per sample, any extra columns ignored):

- ``time_s``: seconds, strictly increasing;
- ``current_a``: amperes, **negative = discharge** (PyBaMM's sign is the opposite);
- ``voltage_v``: terminal voltage in volts;
- ``temperature_c`` (optional): cell or ambient temperature in degrees Celsius.

Every check names the column and the first offending row, so a wrong file fails with a
message that says what to fix, not deep inside a solver.
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

"""Incremental-capacity (dQ/dV) and differential-voltage (dV/dQ) analysis of low-rate curves.

Method, the same for both curves: the measured curve is made monotonic (running minimum of
a discharge / running maximum of a charge voltage, so relaxation blips cannot make the
inverse ambiguous), resampled by linear interpolation onto a uniform grid of the
independent variable, and differentiated with a Gaussian derivative filter
(``scipy.ndimage.gaussian_filter1d(order=1)``): smoothing and differentiation in one
linear operation whose only knob is the Gaussian's standard deviation, given in the
physical unit (V or A.h) so that results do not depend on the grid step.

Curves are direction-free: a charge or a discharge, with capacity counted either way,
gives the same positive dQ/dV and dV/dQ. Peaks are found with ``scipy.signal.find_peaks``
with a prominence threshold relative to the curve's range.

All functions are pure (arrays in, arrays or dicts out).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

DEFAULT_VOLTAGE_STEP_V = 0.001
DEFAULT_VOLTAGE_SMOOTHING_V = 0.01
DEFAULT_CAPACITY_POINTS = 1000
DEFAULT_CAPACITY_SMOOTHING_FRACTION = 0.01


def _monotonic_curve(capacity_ah, voltage_v) -> tuple[np.ndarray, np.ndarray]:
    """(capacity from the low-voltage end, monotonic voltage), sorted by voltage, no NaNs."""
    capacity = np.asarray(capacity_ah, dtype=float)
    voltage = np.asarray(voltage_v, dtype=float)
    if capacity.shape != voltage.shape or capacity.ndim != 1:
        raise ValueError("capacity_ah and voltage_v must be 1-D arrays of the same length")
    finite = np.isfinite(capacity) & np.isfinite(voltage)
    capacity, voltage = capacity[finite], voltage[finite]
    if capacity.size < 4:
        raise ValueError(f"need at least 4 finite points, got {capacity.size}")
    order = np.argsort(capacity, kind="stable")
    capacity, voltage = capacity[order], voltage[order]
    if voltage[-1] < voltage[0]:  # voltage falls as capacity grows: a discharge
        voltage = np.minimum.accumulate(voltage)
        capacity = capacity[-1] - capacity
    else:
        voltage = np.maximum.accumulate(voltage)
        capacity = capacity - capacity[0]
    order = np.argsort(voltage, kind="stable")
    voltage, capacity = voltage[order], capacity[order]
    voltage, first = np.unique(voltage, return_index=True)
    return capacity[first], voltage


def incremental_capacity(
    capacity_ah,
    voltage_v,
    step_v: float = DEFAULT_VOLTAGE_STEP_V,
    smoothing_v: float = DEFAULT_VOLTAGE_SMOOTHING_V,
) -> tuple[np.ndarray, np.ndarray]:
    """dQ/dV [A.h/V] on a uniform voltage grid: ``(voltage_grid_v, dqdv)``.

    ``smoothing_v`` is the standard deviation of the Gaussian derivative filter in volts.
    """
    if step_v <= 0 or smoothing_v <= 0:
        raise ValueError("step_v and smoothing_v must be positive")
    capacity, voltage = _monotonic_curve(capacity_ah, voltage_v)
    grid = np.arange(voltage[0], voltage[-1], step_v)
    if grid.size < 4:
        raise ValueError(f"voltage span {voltage[-1] - voltage[0]:.4g} V is too short for step {step_v} V")
    q = np.interp(grid, voltage, capacity)
    dqdv = gaussian_filter1d(q, smoothing_v / step_v, order=1, mode="nearest") / step_v
    return grid, dqdv


def differential_voltage(
    capacity_ah,
    voltage_v,
    points: int = DEFAULT_CAPACITY_POINTS,
    smoothing_ah: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """dV/dQ [V/A.h] on a uniform capacity grid from the low-voltage end: ``(capacity_grid_ah, dvdq)``.

    ``smoothing_ah`` defaults to 1 % of the curve's capacity.
    """
    capacity, voltage = _monotonic_curve(capacity_ah, voltage_v)
    order = np.argsort(capacity, kind="stable")
    capacity, voltage = capacity[order], voltage[order]
    span = capacity[-1] - capacity[0]
    if span <= 0 or points < 4:
        raise ValueError("need a positive capacity span and at least 4 grid points")
    smoothing_ah = DEFAULT_CAPACITY_SMOOTHING_FRACTION * span if smoothing_ah is None else smoothing_ah
    if smoothing_ah <= 0:
        raise ValueError("smoothing_ah must be positive")
    grid = np.linspace(capacity[0], capacity[-1], points)
    step = grid[1] - grid[0]
    v = np.interp(grid, capacity, voltage)
    dvdq = gaussian_filter1d(v, smoothing_ah / step, order=1, mode="nearest") / step
    return grid, dvdq


def _peak_arrays(x, y, prominence_fraction: float, count: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions, heights, prominences) of :func:`peaks`, as arrays."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    span = float(np.nanmax(y) - np.nanmin(y)) if y.size else 0.0
    if span <= 0:
        return np.array([]), np.array([]), np.array([])
    index, properties = find_peaks(y, prominence=prominence_fraction * span)
    prominence = properties["prominences"]
    if count is not None:  # the most prominent, the first found among equals
        keep = np.sort(np.argsort(-prominence, kind="stable")[:count])
        index, prominence = index[keep], prominence[keep]
    return x[index], y[index], prominence


def peaks(x, y, prominence_fraction: float = 0.05, count: int | None = None) -> pd.DataFrame:
    """Local maxima of ``y(x)``: columns ``position``, ``height``, ``prominence``, sorted by position.

    A peak must stand ``prominence_fraction`` of ``y``'s range above its surroundings; with
    ``count``, only the ``count`` most prominent peaks are kept.
    """
    position, height, prominence = _peak_arrays(x, y, prominence_fraction, count)
    found = pd.DataFrame({"position": position, "height": height, "prominence": prominence})
    return found.sort_values("position", ignore_index=True)


def track_peaks(reference_positions, positions, max_shift: float) -> np.ndarray:
    """For each reference peak, the nearest of ``positions`` within ``max_shift`` (else NaN).

    Follows ICA/DVA peaks from a fresh-cell curve through an aging trajectory.
    """
    reference = np.asarray(reference_positions, dtype=float)
    candidates = np.asarray(positions, dtype=float)
    tracked = np.full(reference.shape, np.nan)
    if candidates.size == 0:
        return tracked
    for i, position in enumerate(reference):
        nearest = candidates[np.argmin(np.abs(candidates - position))]
        if abs(nearest - position) <= max_shift:
            tracked[i] = nearest
    return tracked


def peak_features(x, y, count: int, prefix: str, prominence_fraction: float = 0.05) -> dict[str, float]:
    """``{prefix}_peak{k}_position`` / ``_height`` for the ``count`` most prominent peaks, by position.

    Missing peaks are NaN, so every curve gives the same columns.
    """
    position, height, _ = _peak_arrays(x, y, prominence_fraction, count)
    order = np.argsort(position, kind="stable")
    features = {}
    for k in range(count):
        present = k < len(order)
        features[f"{prefix}_peak{k}_position"] = float(position[order[k]]) if present else np.nan
        features[f"{prefix}_peak{k}_height"] = float(height[order[k]]) if present else np.nan
    return features

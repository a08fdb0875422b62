"""How fast the impedance grows as a cell loses capacity: Re Z at 100 Hz, 1 Hz and 0.1 Hz and the pulse
resistance, in percent per 10 % of capacity lost (docs/aging-signatures.md).

Pure: the spectra, labels and quality flags in, one dict out. Per sample and spectrum condition
(measurement temperature, SOC) the growth is the least-squares slope, through the origin, of
``R/R0 - 1`` against ``1 - C/C0`` over the sample's usable snapshots (``R0``, ``C0``: its first usable
snapshot), times 0.1; over the samples, the median and the 5-95 % range. The slope is what a measured
aging study reports as "resistance increase per capacity lost", so the two can be set side by side
(:data:`MEASURED`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .catalog import KEYS
from .impedance_features import spectrum_suffix

FREQUENCIES_HZ = (100.0, 1.0, 0.1)
PER_CAPACITY_LOST = 0.1  # the growth per 10 % of the first capacity lost
# A sample whose capacity moved by less than this (fraction of C0) has no slope worth the name:
# a resistance change of numerical size over a tiny fade would give any number.
MIN_CAPACITY_LOST = 0.01
PERCENTILES = (5, 95)
PULSE = "pulse_resistance"

# Measured aged NMC/graphite cells, as read from their sources (docs/aging-signatures.md, "Measured cells",
# gives where and how each number was read). Empty: no source with Re Z per capacity lost was found and
# read while this was written; an entry is {"source": ..., "quantity": ..., "growth_pct": ...}.
MEASURED: tuple[dict, ...] = ()


def quantity_name(frequency_hz: float) -> str:
    return f"re_z_{frequency_hz:g}hz"


def nearest_frequency(grid: np.ndarray, target_hz: float) -> float:
    """The grid frequency nearest ``target_hz`` on a log axis."""
    grid = np.unique(np.asarray(grid, dtype=float))
    grid = grid[grid > 0]
    if not grid.size:
        raise ValueError("no positive frequency in the spectra")
    return float(grid[np.argmin(np.abs(np.log(grid) - np.log(target_hz)))])


def growth_per_capacity_lost(relative_change: np.ndarray, capacity_lost: np.ndarray) -> float:
    """Least-squares slope through the origin of ``relative_change`` on ``capacity_lost``, per
    :data:`PER_CAPACITY_LOST`, in percent; NaN when the capacity lost never reaches
    :data:`MIN_CAPACITY_LOST`."""
    y = np.asarray(relative_change, dtype=float)
    x = np.asarray(capacity_lost, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if not x.size or np.max(np.abs(x)) < MIN_CAPACITY_LOST:
        return float("nan")
    return float(100.0 * PER_CAPACITY_LOST * np.dot(x, y) / np.dot(x, x))


SNAPSHOT_COLUMNS = [*KEYS, "rpt_capacity_ah", "resistance_ohm"]


def _usable_snapshots(labels: pd.DataFrame, flags: pd.DataFrame | None) -> pd.DataFrame:
    # A run in which no sample reached an RPT has an empty labels table, perhaps without these columns.
    rows = labels.reindex(columns=SNAPSHOT_COLUMNS)
    if flags is not None and "usable" in flags:
        usable = flags.loc[flags["usable"].astype(bool), KEYS]
        rows = rows.merge(usable, on=KEYS, how="inner")
    return rows.sort_values(KEYS).reset_index(drop=True)


def _usable_points(spectra: pd.DataFrame, checked_spectra: pd.DataFrame | None) -> pd.DataFrame:
    points = spectra[spectra["solver_status"].eq("ok") & np.isfinite(spectra["z_re_ohm"])]
    if checked_spectra is not None and "usable" in checked_spectra:
        keys = [*KEYS, "soc", "temperature_c"]
        usable = checked_spectra.loc[checked_spectra["usable"].astype(bool), keys]
        points = points.merge(usable, on=keys, how="inner")
    return points


def signature_points(spectra: pd.DataFrame, checked_spectra: pd.DataFrame | None = None) -> pd.DataFrame:
    """The usable points at the frequencies nearest :data:`FREQUENCIES_HZ`: all of ``spectra`` that
    :func:`per_sample_growth` reads. Taken a block of samples at a time and concatenated, they give it
    the whole table's result: the frequency nearest a target overall is the nearest of some block."""
    points = _usable_points(spectra, checked_spectra)
    if points.empty:
        return points
    nearest = [nearest_frequency(points["frequency_hz"].to_numpy(), f) for f in FREQUENCIES_HZ]
    return points[points["frequency_hz"].isin(nearest)]


def _relative_to_first(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    """Per sample (frame sorted by snapshot): ``1 - C/C0`` and ``value/value0 - 1`` at its first row."""
    first = frame.groupby("sample_id")[["rpt_capacity_ah", value]].transform("first")
    return frame.assign(
        capacity_lost=1.0 - frame["rpt_capacity_ah"] / first["rpt_capacity_ah"],
        relative_change=frame[value] / first[value] - 1.0,
    )


def per_sample_growth(
    spectra: pd.DataFrame,
    labels: pd.DataFrame,
    flags: pd.DataFrame | None = None,
    checked_spectra: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per sample and quantity: ``sample_id, temperature_c, soc, quantity, growth_pct``.

    ``flags`` (data/validate/flags.parquet) and ``checked_spectra`` (data/validate/spectra.parquet) leave out
    flagged snapshots and spectra; failed or non-finite spectrum points are left out either way. The
    pulse resistance has NaN temperature and SOC (it is taken at the sample's own ambient, at the RPT).
    """
    snapshots = _usable_snapshots(labels, flags)
    rows = []
    pulse = _relative_to_first(snapshots.dropna(subset=["resistance_ohm"]), "resistance_ohm")
    for sample_id, group in pulse.groupby("sample_id", sort=True):
        growth = growth_per_capacity_lost(group["relative_change"], group["capacity_lost"])
        rows.append((sample_id, np.nan, np.nan, PULSE, growth))

    points = signature_points(spectra, checked_spectra)
    if not points.empty:
        chosen = {nearest_frequency(points["frequency_hz"].to_numpy(), f): f for f in FREQUENCIES_HZ}
        points = points[points["frequency_hz"].isin(list(chosen))]
        points = points.merge(snapshots[[*KEYS, "rpt_capacity_ah"]], on=KEYS, how="inner")
        for (temperature_c, soc, frequency), group in points.groupby(
            ["temperature_c", "soc", "frequency_hz"]
        ):
            group = _relative_to_first(group.sort_values(KEYS), "z_re_ohm")
            for sample_id, sample in group.groupby("sample_id", sort=True):
                growth = growth_per_capacity_lost(sample["relative_change"], sample["capacity_lost"])
                rows.append((sample_id, temperature_c, soc, quantity_name(chosen[frequency]), growth))
    table = pd.DataFrame(rows, columns=["sample_id", "temperature_c", "soc", "quantity", "growth_pct"])
    return table.dropna(subset=["growth_pct"]).reset_index(drop=True)


def _spread(values: pd.Series) -> dict:
    values = values.to_numpy(dtype=float)
    low, high = np.percentile(values, PERCENTILES)
    return {
        "median": round(float(np.median(values)), 4),
        f"p{PERCENTILES[0]}": round(float(low), 4),
        f"p{PERCENTILES[1]}": round(float(high), 4),
        "samples": int(values.size),
    }


def condition_name(temperature_c: float, soc: float) -> str:
    return spectrum_suffix(soc, temperature_c)


def _median(values: pd.Series) -> float:
    return round(float(np.median(values.to_numpy(dtype=float))), 4)


def _summaries(table: pd.DataFrame, summarise=_spread) -> dict:
    summary: dict = {}
    pulse = table[table["quantity"] == PULSE]
    if not pulse.empty:
        summary[PULSE] = summarise(pulse["growth_pct"])
    spectral = table[table["quantity"] != PULSE]
    for (temperature_c, soc), group in spectral.groupby(["temperature_c", "soc"], sort=True):
        summary[condition_name(temperature_c, soc)] = {
            quantity_name(f): summarise(group.loc[group["quantity"] == quantity_name(f), "growth_pct"])
            for f in FREQUENCIES_HZ
            if (group["quantity"] == quantity_name(f)).any()
        }
    return summary


def aging_signatures(
    spectra: pd.DataFrame,
    labels: pd.DataFrame,
    flags: pd.DataFrame | None = None,
    checked_spectra: pd.DataFrame | None = None,
    design: pd.DataFrame | None = None,
) -> dict:
    """Growth per 10 % capacity lost, in percent: pulse resistance and Re Z per spectrum condition
    (``soc<percent>_t<celsius>c``), median and 5-95 % over samples; with ``design``, the medians per
    ambient temperature of the cycling protocol under ``by_ambient_temperature_c`` (a few samples each:
    a 5-95 % range of them would be their extremes)."""
    table = per_sample_growth(spectra, labels, flags, checked_spectra)
    result = {
        "per_capacity_lost_pct": round(100 * PER_CAPACITY_LOST),
        "samples": int(table["sample_id"].nunique()),
        "growth_pct": _summaries(table),
    }
    if design is not None and "ambient_temperature_c" in design and not table.empty:
        ambient = table["sample_id"].map(design.set_index("sample_id")["ambient_temperature_c"])
        result["by_ambient_temperature_c"] = {
            f"{value:g}": _summaries(table[ambient == value], _median)
            for value in sorted(ambient.dropna().unique())
        }
    return result


def growth_rows(signatures: Mapping, condition: str) -> list[tuple[str, dict]]:
    """``(quantity, spread)`` for the pulse resistance and each Re Z of one spectrum condition, in
    :data:`FREQUENCIES_HZ` order (for the card's table)."""
    growth = signatures.get("growth_pct", {})
    rows = [(PULSE, growth[PULSE])] if PULSE in growth else []
    spectral = growth.get(condition, {})
    return [
        *rows,
        *(
            (quantity_name(f), spectral[quantity_name(f)])
            for f in FREQUENCIES_HZ
            if quantity_name(f) in spectral
        ),
    ]

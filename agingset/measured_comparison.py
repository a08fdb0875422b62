"""The dataset's fresh spectra against the measured cell's: complex error and the 5-95 % envelope.

The calibration scores the *calibrated model* against the measured LG M50LT spectra (metrics/calibration.json).
What a model trained on the dataset learns from, though, is the *dataset's* spectra, made by its own cells
(the design's spread around the base values, the dataset's model). This module scores those: for every
measured spectrum (an SOC at ``calibrate.spectra_temperature_c``), each sample's first spectrum at that SOC and
temperature (its fresh cell, at the first RPT), interpolated in log-frequency onto the measured frequencies of
the band (the calibration's fit window, ``calibrate.frequency_window_hz``), and

- the complex error |Z_sim - Z_meas| / |Z_meas| (real and imaginary parts together: |Z| alone is dominated by
  the real part and hides the diffusion tail and the inductive end) of the dataset's median spectrum (per
  frequency, median Re Z and Im Z over the samples: is the dataset centred on the measured cell?), median over
  the band and below 0.1 Hz; and of each sample (its median over the band), median and 5-95 % over the samples;
- the envelope coverage: the share of the band's measured frequencies whose measured Re Z *and* Im Z both lie
  inside the dataset's 5-95 % range at that frequency (does the dataset contain the measured cell?), and the
  same for |Z| alone;
- -Im Z at the band's lowest frequency (the diffusion tail), the samples' median against the measured.

Spectra that failed or that the validate stage marked unusable are left out. Pure: tables in, a dict out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .calibration.measurements import LOW_FREQUENCY_HZ, MeasuredSpectrum

ENVELOPE_PERCENTILES = (5.0, 95.0)
POINT_COLUMNS = ["sample_id", "soc", "frequency_hz", "z_re_ohm", "z_im_ohm"]


def _band(spectrum: MeasuredSpectrum, band_hz: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    inside = (spectrum.frequency_hz >= band_hz[0]) & (spectrum.frequency_hz <= band_hz[1])
    return spectrum.frequency_hz[inside], spectrum.impedance_ohm[inside]


def fresh_points(
    spectra: pd.DataFrame,
    measured: Sequence[MeasuredSpectrum],
    temperature_c: float,
    band_hz: tuple[float, float],
    checked_spectra: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Each sample's first spectrum at every measured SOC and ``temperature_c``, on the measured frequencies
    (columns :data:`POINT_COLUMNS`). A sample's spectra all lie in one block of samples, so the points of the
    blocks, concatenated, are those of the whole table."""
    # The first snapshot of each sample, chosen before any spectrum is left out: a later one is not fresh.
    first_snapshot = spectra.groupby("sample_id")["snapshot"].transform("min")
    rows = spectra[
        spectra["snapshot"].eq(first_snapshot)
        & np.isclose(spectra["temperature_c"].to_numpy(dtype=float), temperature_c)
        & spectra["solver_status"].eq("ok")
        & np.isfinite(spectra["z_re_ohm"])
        & np.isfinite(spectra["z_im_ohm"])
    ]
    if checked_spectra is not None and "usable" in checked_spectra and len(rows):
        keys = ["sample_id", "snapshot", "soc", "temperature_c"]
        usable = checked_spectra.loc[checked_spectra["usable"].astype(bool), keys]
        rows = rows.merge(usable, on=keys, how="inner")
    parts = []
    for spectrum in measured:
        frequency, _ = _band(spectrum, band_hz)
        at_soc = rows[np.isclose(rows["soc"].to_numpy(dtype=float), spectrum.soc)]
        if at_soc.empty or not frequency.size:
            continue
        for sample_id, points in at_soc.groupby("sample_id", sort=True):
            points = points.sort_values("frequency_hz")
            log_f = np.log(points["frequency_hz"].to_numpy(dtype=float))
            # Only inside the simulated grid: never extrapolated.
            inside = (np.log(frequency) >= log_f[0] - 1e-9) & (np.log(frequency) <= log_f[-1] + 1e-9)
            target = np.log(frequency[inside])
            parts.append(
                pd.DataFrame(
                    {
                        "sample_id": sample_id,
                        "soc": spectrum.soc,
                        "frequency_hz": frequency[inside],
                        "z_re_ohm": np.interp(target, log_f, points["z_re_ohm"].to_numpy(dtype=float)),
                        "z_im_ohm": np.interp(target, log_f, points["z_im_ohm"].to_numpy(dtype=float)),
                    }
                )
            )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=POINT_COLUMNS)


def _spread(values: np.ndarray) -> dict:
    return {
        "median": round(float(np.median(values)), 4),
        "p5": round(float(np.percentile(values, 5)), 4),
        "p95": round(float(np.percentile(values, 95)), 4),
    }


def _inside(measured: np.ndarray, simulated: np.ndarray) -> np.ndarray:
    """Per frequency: the measured value inside the samples' 5-95 % range."""
    low, high = np.percentile(simulated, ENVELOPE_PERCENTILES, axis=0)
    return (measured >= low) & (measured <= high)


def measured_comparison(
    points: pd.DataFrame, measured: Sequence[MeasuredSpectrum], temperature_c: float, band_hz: tuple[float, float]
) -> dict:
    """Per measured spectrum (``soc20`` ...): the complex errors, the envelope coverage and the tail, from
    :func:`fresh_points`. A measured SOC without dataset spectra says so (``samples`` 0)."""
    result = {"temperature_c": float(temperature_c), "band_hz": [float(f) for f in band_hz], "spectra": {}}
    for spectrum in measured:
        frequency, impedance = _band(spectrum, band_hz)
        name = f"soc{round(100 * spectrum.soc):d}"
        at_soc = points[np.isclose(points["soc"].to_numpy(dtype=float), spectrum.soc)]
        # Frequencies every sample covers (the grids are the same for all samples of a dataset).
        shared = set(frequency)
        for _, sample in at_soc.groupby("sample_id"):
            shared &= set(sample["frequency_hz"])
        keep = np.isin(frequency, sorted(shared))
        frequency, impedance = frequency[keep], impedance[keep]
        if at_soc.empty or not frequency.size:
            result["spectra"][name] = {"samples": 0}
            continue
        table = at_soc[at_soc["frequency_hz"].isin(frequency)].sort_values(["sample_id", "frequency_hz"])
        samples = table["sample_id"].nunique()
        simulated = (table["z_re_ohm"].to_numpy() + 1j * table["z_im_ohm"].to_numpy()).reshape(samples, frequency.size)
        error = 100 * np.abs(simulated - impedance) / np.abs(impedance)
        median = np.median(simulated.real, axis=0) + 1j * np.median(simulated.imag, axis=0)
        median_error = 100 * np.abs(median - impedance) / np.abs(impedance)
        low = frequency < LOW_FREQUENCY_HZ
        covered = _inside(impedance.real, simulated.real) & _inside(impedance.imag, simulated.imag)
        entry = {
            "samples": int(samples),
            "frequencies": int(frequency.size),
            "envelope_coverage_pct": round(float(100 * covered.mean()), 2),
            "abs_z_coverage_pct": round(float(100 * _inside(np.abs(impedance), np.abs(simulated)).mean()), 2),
            "median_spectrum_complex_error_pct": round(float(np.median(median_error)), 4),
            "sample_complex_error_pct": _spread(np.median(error, axis=1)),
            "tail_frequency_hz": float(frequency[0]),
            "tail_minus_im_z_mohm": {
                "dataset_median": round(float(-1e3 * median[0].imag), 4),
                "measured": round(float(-1e3 * impedance[0].imag), 4),
            },
        }
        if low.any():
            entry["envelope_coverage_below_0_1hz_pct"] = round(float(100 * covered[low].mean()), 2)
            entry["median_spectrum_complex_error_below_0_1hz_pct"] = round(float(np.median(median_error[low])), 4)
            entry["sample_complex_error_below_0_1hz_pct"] = _spread(np.median(error[:, low], axis=1))
        result["spectra"][name] = entry
    return result

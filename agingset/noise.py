"""Instrument noise on the observables, and the estimation of its levels from real measurements.

A simulator's outputs are exact; an instrument's are not. This module puts a measurement's
errors on clean observables, so that a model is trained and scored on differences a real
instrument resolves. The clean values stay in the dataset; the noisy ones sit beside them.

- **Impedance** (:func:`noisy_impedance`): every frequency gets an independent complex
  Gaussian error relative to its own magnitude, Z + s |Z| (e_re + j e_im), e ~ N(0, 1).
- **Voltage curves** (:func:`noisy_curve`): Gaussian voltage noise, then quantisation to
  the recorder's resolution; a current-sensor offset integrated by the coulomb counter
  shifts the discharged capacity by offset x t. The offset belongs to the channel a cell
  sits on, so it is drawn once per sample (:func:`current_offset_a`) and is the same at
  every RPT of that sample; voltage noise is drawn per (sample, snapshot).

Draws are seeded by (params seed, ``noise.seed_offset``, stream, sample_id, snapshot[,
spectrum condition]) through :func:`noise_rng`: the same key gives the same numbers whatever
the order or the number of workers that handle the rows. A level of 0 returns the clean
values unchanged (bit for bit).

The default levels come from the real LG M50LT measurements in ``reference-data/``
(:func:`estimate_voltage_levels`, :func:`estimate_impedance_relative_noise`; numbers and
method in docs/noise.md, reproduced by ``python -m benchmarks run noise_levels``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

KEYS = ["sample_id", "snapshot"]
NOISY_PREFIX = "noisy_"

# Independent random streams: one per kind of error.
STREAM_VOLTAGE = 1
STREAM_CURRENT_OFFSET = 2
STREAM_IMPEDANCE = 3


class NoiseLevels(Protocol):
    """What the noise functions read (``agingset.params.NoiseConfig`` satisfies it)."""

    seed_offset: int
    impedance_relative: float
    voltage_noise_v: float
    voltage_resolution_v: float
    current_offset_a: float


def feature_views(features: list[str]) -> dict[str, list[str]]:
    """``clean``: the simulator's exact observables; ``noisy``: the same columns with each
    replaced by its ``noisy_`` counterpart where the dataset has one (protocol settings and
    other columns without one are kept). ``noisy`` is absent when there are no noisy columns."""
    present = set(features)
    clean = [name for name in features if not name.startswith(NOISY_PREFIX)]
    views = {"clean": clean}
    if any(name.startswith(NOISY_PREFIX) for name in features):
        views["noisy"] = [
            f"{NOISY_PREFIX}{name}" if f"{NOISY_PREFIX}{name}" in present else name for name in clean
        ]
    return views


def _key_integers(*parts) -> list[int]:
    """Four 32-bit words of the SHA-256 of the parts' text: a stable seed for any key."""
    digest = hashlib.sha256("|".join(repr(part) for part in parts).encode()).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


def noise_rng(seed: int, seed_offset: int, stream: int, sample_id: str, *key) -> np.random.Generator:
    """The generator of one stream for one (sample_id, *key), e.g. key = (snapshot,) or
    (snapshot, soc, temperature_c). Independent of the order rows are processed in."""
    normalised = tuple(float(part) if isinstance(part, (float, np.floating)) else part for part in key)
    normalised = tuple(int(part) if isinstance(part, (np.integer,)) else part for part in normalised)
    entropy = [int(seed), int(seed_offset), int(stream), *_key_integers(str(sample_id), *normalised)]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def spectrum_rng(seed: int, levels: NoiseLevels, sample_id: str, snapshot: int, soc: float, temperature_c: float):
    """The generator for the impedance noise of one spectrum."""
    return noise_rng(
        seed, levels.seed_offset, STREAM_IMPEDANCE, sample_id, int(snapshot), float(soc), float(temperature_c)
    )


def noisy_impedance(
    frequency_hz: np.ndarray, z: np.ndarray, levels: NoiseLevels, rng: np.random.Generator
) -> np.ndarray:
    """Z measured by an impedance analyser: one independent complex Gaussian error per
    frequency, with standard deviation ``levels.impedance_relative`` x |Z(f)| on each of
    the real and imaginary parts. A level of 0 returns ``z`` unchanged."""
    z = np.asarray(z, dtype=complex)
    if np.shape(frequency_hz) != z.shape:
        raise ValueError(f"frequency_hz {np.shape(frequency_hz)} and z {z.shape} differ in shape")
    relative = float(levels.impedance_relative)
    if relative == 0.0:
        return z.copy()
    error = rng.standard_normal(z.shape) + 1j * rng.standard_normal(z.shape)
    return z + relative * np.abs(z) * error


SPECTRUM_KEYS = ["sample_id", "snapshot", "soc", "temperature_c"]


def noisy_spectra(spectra: pd.DataFrame, levels: NoiseLevels, seed: int) -> pd.DataFrame:
    """The long spectra table (``sample_id, snapshot, soc, temperature_c, frequency_hz, z_re_ohm,
    z_im_ohm``, ...) as an impedance analyser measures it: same rows, same order, noisy
    ``z_re_ohm``/``z_im_ohm`` (and ``z_abs_ohm``/``phase_deg`` when present). Each spectrum's
    draw is keyed by its (sample_id, snapshot, soc, temperature_c), frequencies in ascending
    order, so the result does not depend on row order. Feature code run on it gives the
    ``noisy_`` twins of the spectrum features."""
    result = spectra.copy()
    if spectra.empty:
        return result
    keys = [key for key in SPECTRUM_KEYS if key in spectra]
    frequency = spectra["frequency_hz"].to_numpy(dtype=float)
    z = spectra["z_re_ohm"].to_numpy(dtype=float) + 1j * spectra["z_im_ohm"].to_numpy(dtype=float)
    noisy = z.copy()
    for key, index in spectra.groupby(keys, sort=True).indices.items():
        key = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        index = index[np.argsort(frequency[index], kind="stable")]
        rng = spectrum_rng(
            seed, levels, key["sample_id"], key.get("snapshot", 0), key.get("soc", np.nan), key.get("temperature_c", np.nan)
        )
        noisy[index] = noisy_impedance(frequency[index], z[index], levels, rng)
    result["z_re_ohm"], result["z_im_ohm"] = noisy.real, noisy.imag
    if "z_abs_ohm" in result:
        result["z_abs_ohm"] = np.abs(noisy)
    if "phase_deg" in result:
        result["phase_deg"] = np.degrees(np.angle(noisy))
    return result


def quantise(values: np.ndarray, resolution: float) -> np.ndarray:
    """Round to the nearest multiple of ``resolution`` (unchanged when it is 0)."""
    values = np.asarray(values, dtype=float)
    if resolution == 0.0:
        return values.copy()
    return np.round(values / resolution) * resolution


def current_offset_a(seed: int, levels: NoiseLevels, sample_id: str) -> float:
    """The current-sensor offset of the sample's channel: N(0, current_offset_a), one per sample."""
    if levels.current_offset_a == 0.0:
        return 0.0
    rng = noise_rng(seed, levels.seed_offset, STREAM_CURRENT_OFFSET, sample_id)
    return float(levels.current_offset_a * rng.standard_normal())


@dataclass(frozen=True)
class NoisyCurve:
    voltage_v: np.ndarray
    discharged_ah: np.ndarray


def noisy_curve(
    time_s: np.ndarray,
    voltage_v: np.ndarray,
    discharged_ah: np.ndarray,
    levels: NoiseLevels,
    rng: np.random.Generator,
    offset_a: float,
) -> NoisyCurve:
    """A discharge curve as a cycler records it.

    Voltage: + N(0, voltage_noise_v), then rounded to voltage_resolution_v. Capacity: the
    coulomb counter integrates the measured current, true + ``offset_a`` (A, positive =
    discharge), so it reads discharged + offset_a x (t - t0) / 3600. Zero levels and a
    zero offset return the clean arrays unchanged.
    """
    voltage = np.asarray(voltage_v, dtype=float)
    if levels.voltage_noise_v:
        voltage = voltage + levels.voltage_noise_v * rng.standard_normal(voltage.shape)
    voltage = quantise(voltage, float(levels.voltage_resolution_v))
    discharged = np.asarray(discharged_ah, dtype=float).copy()
    if offset_a:
        time_s = np.asarray(time_s, dtype=float)
        discharged = discharged + offset_a * (time_s - time_s[0]) / 3600.0
    return NoisyCurve(voltage, discharged)


def noisy_curves(curves: pd.DataFrame, levels: NoiseLevels, seed: int) -> pd.DataFrame:
    """Every RPT curve (``sample_id, snapshot, time_s, voltage_v, discharged_ah``) with
    instrument noise on ``voltage_v`` and ``discharged_ah``; same rows, same order."""
    result = curves.copy()
    if curves.empty:
        return result
    voltage = result["voltage_v"].to_numpy(dtype=float).copy()
    discharged = result["discharged_ah"].to_numpy(dtype=float).copy()
    offsets = {sample_id: current_offset_a(seed, levels, sample_id) for sample_id in curves["sample_id"].unique()}
    for (sample_id, snapshot), index in curves.groupby(KEYS, sort=True).indices.items():
        index = index[np.argsort(curves["time_s"].to_numpy()[index], kind="stable")]
        rng = noise_rng(seed, levels.seed_offset, STREAM_VOLTAGE, sample_id, int(snapshot))
        noisy = noisy_curve(
            curves["time_s"].to_numpy(dtype=float)[index], voltage[index], discharged[index], levels, rng,
            offsets[sample_id],
        )
        voltage[index], discharged[index] = noisy.voltage_v, noisy.discharged_ah
    result["voltage_v"] = voltage
    result["discharged_ah"] = discharged
    return result


def sample_offsets(sample_ids, levels: NoiseLevels, seed: int) -> pd.DataFrame:
    """The current-sensor offset applied to each sample (provenance)."""
    ids = pd.Series(sorted(set(sample_ids)), dtype=getattr(sample_ids, "dtype", object))
    return pd.DataFrame({"sample_id": ids, "current_offset_a": [current_offset_a(seed, levels, s) for s in ids]})


# ---------------------------------------------------------------- estimation from real records


@dataclass(frozen=True)
class VoltageLevels:
    voltage_noise_v: float
    voltage_resolution_v: float
    current_offset_a: float
    rest_points: int
    rest_periods: int


def rest_periods(current_a: np.ndarray, rest_current_a: float, min_points: int) -> list[np.ndarray]:
    """Index runs of at least ``min_points`` consecutive samples with |I| < rest_current_a."""
    rest = np.flatnonzero(np.abs(np.asarray(current_a, dtype=float)) < rest_current_a)
    if rest.size == 0:
        return []
    runs = np.split(rest, np.flatnonzero(np.diff(rest) > 1) + 1)
    return [run for run in runs if len(run) >= min_points]


def estimate_voltage_levels(
    current_a: np.ndarray, voltage_v: np.ndarray, rest_current_a: float = 0.01, min_points: int = 10
) -> VoltageLevels:
    """Noise, resolution and current offset of a cycler, from the rests of a measured record.

    - voltage noise: in a rest the voltage relaxes smoothly, so the second difference
      v[k+1] - 2 v[k] + v[k-1] is noise (variance 6 sigma^2 for white noise); sigma from its
      median absolute deviation (1.4826 MAD / sqrt 6), robust to the relaxation's curvature;
    - resolution: the smallest step between distinct recorded voltages;
    - current offset: the median current recorded in the rests, where the true current is 0.
    """
    current_a, voltage_v = np.asarray(current_a, dtype=float), np.asarray(voltage_v, dtype=float)
    runs = rest_periods(current_a, rest_current_a, min_points)
    if not runs:
        raise ValueError(f"no rest of {min_points} points with |I| < {rest_current_a} A in the record")
    second = np.concatenate([np.diff(voltage_v[run], n=2) for run in runs])
    noise = 1.4826 * float(np.median(np.abs(second - np.median(second)))) / np.sqrt(6.0)
    levels = np.unique(np.round(voltage_v, 9))
    resolution = float(np.round(np.diff(levels).min(), 9))
    offset = float(np.median(np.concatenate([current_a[run] for run in runs])))
    return VoltageLevels(noise, resolution, offset, int(sum(len(run) for run in runs)), len(runs))


def kk_residual_response(
    frequency_hz: np.ndarray, z: np.ndarray, relative: float, draws: int, seed: int
) -> np.ndarray:
    """The project's lin-KK residual (``kk_residual_pct``) of ``draws`` noisy copies of the
    KK-compliant part of ``z`` with relative noise ``relative``."""
    from .impedance_features import kk_residual_pct, lin_kk, lin_kk_basis

    basis = lin_kk_basis(frequency_hz)
    compliant = lin_kk(frequency_hz, z, basis)
    rng = np.random.default_rng(seed)
    levels = _Relative(relative)
    return np.array(
        [
            kk_residual_pct(frequency_hz, noisy_impedance(frequency_hz, compliant, levels, rng), basis)
            for _ in range(draws)
        ]
    )


@dataclass(frozen=True)
class _Relative:
    impedance_relative: float


@dataclass(frozen=True)
class ImpedanceNoise:
    relative: float  # per-part standard deviation / |Z|
    kk_residual_pct: float  # measured
    kk_pct_per_relative: float  # median lin-KK residual (%) per unit relative noise on this grid


def estimate_impedance_relative_noise(
    frequency_hz: np.ndarray, z: np.ndarray, draws: int = 200, seed: int = 0
) -> ImpedanceNoise:
    """Relative noise whose lin-KK residual matches the measured spectrum's.

    A measured spectrum is its Kramers-Kronig-compliant part plus what lin-KK cannot fit:
    noise (and drift). The largest lin-KK residual grows linearly with the noise, so it is
    simulated at one level on the measured grid (median of ``draws`` seeded draws on the
    spectrum's own KK-compliant fit) and scaled to the measured residual.
    """
    from .impedance_features import kk_residual_pct

    frequency_hz, z = np.asarray(frequency_hz, dtype=float), np.asarray(z, dtype=complex)
    measured = kk_residual_pct(frequency_hz, z)
    probe = 1e-3
    per_relative = float(np.median(kk_residual_response(frequency_hz, z, probe, draws, seed))) / probe
    return ImpedanceNoise(measured / per_relative, measured, per_relative)

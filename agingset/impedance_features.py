"""Features of impedance spectra: arc and tail geometry, an equivalent-circuit fit, lin-KK.

Spectra follow the storage convention Z = z_re + j z_im (capacitive arcs have z_im < 0).
The circuit fit and the Kramers-Kronig test use impedance.py (``impedance`` on PyPI).
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd

KEYS = ["sample_id", "snapshot"]
SPECTRUM_KEYS = [*KEYS, "temperature_c", "soc"]

# R0 + charge-transfer arc (R || CPE) + finite-space (reflective) Warburg: the particle
# diffusion tail of an intercalation electrode turns capacitive at the lowest frequencies.
CIRCUIT = "R0-p(R1,CPE1)-Wo1"
CIRCUIT_PARAMETERS = ["r0_ohm", "rct_ohm", "cpe_q", "cpe_alpha", "warburg_z0_ohm", "warburg_tau_s"]


def kk_residual_pct(frequency_hz: np.ndarray, impedance: np.ndarray) -> float:
    """Largest lin-KK residual of a spectrum, in % of |Z| (NaN for an incomplete spectrum).

    Schönleber's lin-KK: a series resistance, a series capacitance (the cell's
    low-frequency capacitive tail) and RC elements with fixed log-spaced time constants,
    fitted to both parts; their number grows until the over-fit measure mu < 0.85.
    A causal, linear, stable spectrum is reproduced within numerical noise.
    """
    from impedance.validation import linKK

    impedance = np.asarray(impedance, dtype=complex)
    if len(impedance) < 4 or not np.all(np.isfinite(impedance)):
        return float("nan")
    with contextlib.redirect_stdout(io.StringIO()):  # linKK prints progress every 10 elements
        _, _, _, residual_real, residual_imag = linKK(
            np.asarray(frequency_hz, dtype=float), impedance, c=0.85, max_M=50, fit_type="complex", add_cap=True
        )
    return float(100.0 * np.max(np.maximum(np.abs(residual_real), np.abs(residual_imag))))


def arc_and_tail(frequency_hz: np.ndarray, z_re: np.ndarray, z_im: np.ndarray) -> dict[str, float]:
    """High-frequency intercept, arc width and apex, low-frequency tail slope.

    The arc ends at the lowest-frequency local minimum of -Z_im (the knee where the
    diffusion tail starts), so the arc width spans both electrodes' overlapping arcs.
    """
    order = np.argsort(frequency_hz)[::-1]
    f, re, minus_im = frequency_hz[order], z_re[order], -z_im[order]
    minima = [i for i in range(1, len(f) - 1) if minus_im[i] <= minus_im[i - 1] and minus_im[i] < minus_im[i + 1]]
    knee = minima[-1] if minima else len(f) - 1
    apex = int(np.argmax(minus_im[: knee + 1]))
    r0 = float(re[0])
    tail = slice(max(knee, len(f) - 3), len(f))
    tail_slope = (
        float(np.polyfit(re[tail], minus_im[tail], 1)[0]) if len(re[tail]) >= 2 and np.ptp(re[tail]) > 0 else np.nan
    )
    return {
        "r0_ohm": r0,
        "rct_ohm": float(re[knee] - r0),
        "apex_hz": float(f[apex]),
        "apex_minus_zim_ohm": float(minus_im[apex]),
        "tail_slope": tail_slope,
    }


def fit_circuit(frequency_hz: np.ndarray, impedance: np.ndarray, geometry: dict[str, float]) -> dict[str, float]:
    """Least-squares fit of :data:`CIRCUIT`, started from the spectrum's geometry.

    ``fit_error_pct`` is the RMS of |Z - Z_fit| / |Z| in percent.
    """
    from impedance.models.circuits import CustomCircuit

    rct = max(geometry["rct_ohm"], 1e-6)
    guess = [
        max(geometry["r0_ohm"], 1e-6),
        rct,
        1.0 / (rct * 2 * np.pi * geometry["apex_hz"]),
        0.9,
        rct,
        1.0 / (2 * np.pi * float(np.min(frequency_hz))),
    ]
    bounds = ([0, 0, 0, 0.3, 0, 0], [np.inf, np.inf, np.inf, 1.0, np.inf, np.inf])
    circuit = CustomCircuit(CIRCUIT, initial_guess=guess)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            circuit.fit(frequency_hz, impedance, bounds=bounds, weight_by_modulus=True, maxfev=20000)
    except (RuntimeError, ValueError):  # no convergence: the features say so
        return {**dict.fromkeys(f"ecm_{name}" for name in CIRCUIT_PARAMETERS), "ecm_fit_error_pct": np.nan}
    fitted = circuit.predict(frequency_hz)
    error = 100.0 * float(np.sqrt(np.mean(np.abs(fitted - impedance) ** 2 / np.abs(impedance) ** 2)))
    return {
        **{f"ecm_{name}": float(value) for name, value in zip(CIRCUIT_PARAMETERS, circuit.parameters_)},
        "ecm_fit_error_pct": error,
    }


def spectrum_features(frequency_hz: np.ndarray, z_re: np.ndarray, z_im: np.ndarray) -> dict[str, float]:
    geometry = arc_and_tail(frequency_hz, z_re, z_im)
    return {**geometry, **fit_circuit(frequency_hz, z_re + 1j * z_im, geometry)}


def _suffix(soc: float, temperature_c: float) -> str:
    return f"soc{round(100 * soc):d}_t{temperature_c:g}c"


def impedance_features(spectra: pd.DataFrame) -> pd.DataFrame:
    """One row per snapshot: features and raw Re/Im of every spectrum, named by SOC and temperature.

    Columns read ``eis_<feature>_soc<percent>_t<celsius>c`` and
    ``z_re_ohm_at_<f>hz_soc<percent>_t<celsius>c``; spectra that failed give NaN features.
    """
    rows: dict[tuple, dict] = {}
    for (sample_id, snapshot, temperature_c, soc), spectrum in spectra.groupby(SPECTRUM_KEYS, sort=True):
        spectrum = spectrum.sort_values("frequency_hz")
        f = spectrum["frequency_hz"].to_numpy()
        re, im = spectrum["z_re_ohm"].to_numpy(), spectrum["z_im_ohm"].to_numpy()
        suffix = _suffix(soc, temperature_c)
        row = rows.setdefault((sample_id, snapshot), {"sample_id": sample_id, "snapshot": snapshot})
        if np.all(np.isfinite(re)) and np.all(np.isfinite(im)):
            row.update({f"eis_{name}_{suffix}": value for name, value in spectrum_features(f, re, im).items()})
        for index, frequency in enumerate(f):
            row[f"z_re_ohm_at_{frequency:.4g}hz_{suffix}"] = re[index]
            row[f"z_im_ohm_at_{frequency:.4g}hz_{suffix}"] = im[index]
    return pd.DataFrame(list(rows.values()))

"""Features of impedance spectra: arc and tail geometry, an equivalent-circuit fit, lin-KK.

Spectra follow the storage convention Z = z_re + j z_im (capacitive arcs have z_im < 0).
The circuit is made of impedance.py's elements (``impedance`` on PyPI) and fitted with
SciPy; the Kramers-Kronig test is lin-KK, written out in :func:`lin_kk`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .batch_lm import least_squares_batch
from .catalog import KEYS

SPECTRUM_KEYS = [*KEYS, "temperature_c", "soc"]

# R0 + one (R || CPE) arc per electrode + finite-space (reflective) Warburg: the particle
# diffusion tail of an intercalation electrode turns capacitive at the lowest frequencies.
# A single arc leaves 2-4 % RMS misfit on these spectra, two arcs 0.05-2 %. + the series
# inductance of the cell and its leads: a spectrum turns inductive above a few hundred hertz
# (without it, 14 % misfit on the dataset's spectra to 10 kHz).
CIRCUIT = "R0-p(R1,CPE1)-p(R2,CPE2)-Wo1-L0"
CIRCUIT_PARAMETERS = [
    "r0_ohm",
    "r1_ohm",
    "cpe1_q",
    "cpe1_alpha",
    "r2_ohm",
    "cpe2_q",
    "cpe2_alpha",
    "warburg_z0_ohm",
    "warburg_tau_s",
    "l0_h",
]
# Positions in a circuit's parameter vector used by name below.
_Z0, _TAU, _L0 = (CIRCUIT_PARAMETERS.index(name) for name in ("warburg_z0_ohm", "warburg_tau_s", "l0_h"))


def lin_kk_basis(frequency_hz: np.ndarray) -> np.ndarray:
    """lin-KK's elements at each frequency (Schönleber et al., Electrochim. Acta 131 (2014) 20):
    series R, L and C (the cell's capacitive low-frequency tail) plus one RC element per
    measured frequency, time constants log-spaced over the measured range (Boukamp's M = N).

    The number of RC elements is fixed rather than chosen by Schönleber's mu criterion:
    aged cells with particle mechanics show a small low-frequency inductive loop, which
    needs negative resistances and stops the mu search far too early. Written out here
    because impedance.py 1.7.1's ``linKK`` evaluates a string built from ``repr`` of numpy
    scalars, which numpy 2 no longer prints as plain numbers.
    """
    omega = 2 * np.pi * np.asarray(frequency_hz, dtype=float)
    tau = np.logspace(np.log10(1 / omega.max()), np.log10(1 / omega.min()), len(omega))
    rc = 1.0 / (1.0 + 1j * omega[:, None] * tau[None, :])
    return np.column_stack([np.ones_like(omega), 1j * omega, 1.0 / (1j * omega), rc])


def lin_kk(frequency_hz: np.ndarray, impedance: np.ndarray, basis: np.ndarray | None = None) -> np.ndarray:
    """The Kramers-Kronig-compliant fit of a spectrum: :func:`lin_kk_basis` (or ``basis``, the
    same built once for spectra sharing ``frequency_hz``) fitted linearly to both parts
    weighted by 1/|Z|."""
    basis = lin_kk_basis(frequency_hz) if basis is None else basis
    weight = 1.0 / np.abs(impedance)
    system = np.vstack([basis.real * weight[:, None], basis.imag * weight[:, None]])
    target = np.concatenate([impedance.real * weight, impedance.imag * weight])
    coefficients, *_ = np.linalg.lstsq(system, target, rcond=None)
    return basis @ coefficients


def kk_residual_pct(frequency_hz: np.ndarray, impedance: np.ndarray, basis: np.ndarray | None = None) -> float:
    """Largest lin-KK residual of a spectrum (real or imaginary part) in % of |Z|.

    A causal, linear, stable spectrum is reproduced within numerical noise when the grid
    resolves its features (about 5 points per decade or more); NaN for a spectrum with
    missing points.
    """
    impedance = np.asarray(impedance, dtype=complex)
    if len(impedance) < 4 or not np.all(np.isfinite(impedance)):
        return float("nan")
    residual = (impedance - lin_kk(frequency_hz, impedance, basis)) / np.abs(impedance)
    return float(100.0 * np.max(np.maximum(np.abs(residual.real), np.abs(residual.imag))))


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


def circuit_impedance(parameters: np.ndarray, frequency_hz: np.ndarray) -> np.ndarray:
    """Z of :data:`CIRCUIT` from impedance.py's element definitions (CPE, Wo): the reference
    that :func:`circuit_and_jacobian` is tested against."""
    from impedance.models.circuits.elements import CPE, L, Wo

    r0, r1, q1, alpha1, r2, q2, alpha2, z0, tau, l0 = parameters
    arc1 = 1 / (1 / r1 + 1 / CPE([q1, alpha1], frequency_hz))
    arc2 = 1 / (1 / r2 + 1 / CPE([q2, alpha2], frequency_hz))
    return r0 + arc1 + arc2 + Wo([z0, tau], frequency_hz) + L([l0], frequency_hz)


def circuit_and_jacobian(parameters: np.ndarray, omega: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Z of :data:`CIRCUIT` at angular frequencies ``omega`` and its derivatives, one column
    per parameter: with respect to the logarithm of each positive parameter and to the CPE
    exponents themselves (the fitted coordinates of :func:`fit_circuits`).

    ``parameters`` is one set (10,) or a batch (k, 10); Z comes back (m,) or (k, m), the
    Jacobian (m, 10) or (k, m, 10). The elements are impedance.py's, written out in numpy: an
    arc R || CPE is R / (1 + R Q (j omega)^alpha), the open Warburg Z0 coth(u) / u with
    u = sqrt(j omega tau), the inductor j omega L.
    """
    parameters = np.asarray(parameters, dtype=float)
    r0, r1, q1, alpha1, r2, q2, alpha2, z0, tau, l0 = (value[..., None] for value in np.moveaxis(parameters, -1, 0))
    log_j_omega = np.log(omega) + 0.5j * np.pi  # ln(j omega): (j omega)^alpha = exp(alpha ln(j omega))
    shape = np.broadcast_shapes(r0.shape, omega.shape)
    jacobian = np.empty((*shape, parameters.shape[-1]), dtype=complex)
    impedance = np.broadcast_to(r0, shape).astype(complex)
    jacobian[..., 0] = r0
    for (i_r, i_q, i_alpha), r, q, alpha in (((1, 2, 3), r1, q1, alpha1), ((4, 5, 6), r2, q2, alpha2)):
        denominator = 1.0 + r * q * np.exp(alpha * log_j_omega)
        arc = r / denominator
        impedance = impedance + arc
        jacobian[..., i_r] = arc / denominator  # R dZ/dR
        jacobian[..., i_q] = arc / denominator - arc  # Q dZ/dQ
        jacobian[..., i_alpha] = (arc / denominator - arc) * log_j_omega
    u = np.sqrt(1j * omega * tau)
    tanh = np.tanh(u)
    warburg = z0 / (u * tanh)
    impedance = impedance + warburg
    jacobian[..., 7] = warburg  # Z0 dZ/dZ0
    jacobian[..., 8] = -0.5 * z0 * (1.0 / tanh**2 - 1.0 + 1.0 / (tanh * u))  # tau dZ/dtau: csch^2 u + coth(u) / u
    inductive = 1j * omega * l0
    impedance = impedance + inductive
    jacobian[..., 9] = inductive  # L dZ/dL
    return impedance, jacobian


def _circuit_bounds(frequency_hz: np.ndarray, impedances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Physical bounds of :data:`CIRCUIT`'s parameters per spectrum (physical units, (n, 10)).

    A resistance lies between a millionth and ten times the spectrum's largest |Z|, and so does
    the inductor's reactance at the highest frequency; a time constant (an arc's (R Q)^(1/alpha),
    the Warburg tau) within two decades beyond the measured frequency range. Q is left wide here
    and held to that time constant afterwards.
    """
    scale = np.max(np.abs(impedances), axis=1)
    tau_low = 1e-2 / (2 * np.pi * float(np.max(frequency_hz)))
    tau_high = 1e2 / (2 * np.pi * float(np.min(frequency_hz)))
    r_low, r_high = 1e-6 * scale, 10.0 * scale
    omega_max = 2 * np.pi * float(np.max(frequency_hz))
    ones = np.ones_like(scale)
    low = np.column_stack(
        [r_low, r_low, 1e-12 * ones, 0.3 * ones, r_low, 1e-12 * ones, 0.3 * ones, r_low, tau_low * ones, r_low / omega_max]
    )
    high = np.column_stack(
        [r_high, r_high, 1e12 * ones, ones, r_high, 1e12 * ones, ones, r_high, tau_high * ones, r_high / omega_max]
    )
    return low, high


def _arc_time_constants(parameters: np.ndarray) -> np.ndarray:
    """(n, 2): each arc's (R Q)^(1 / alpha) for (n, 9) parameters."""
    return np.column_stack(
        [(parameters[:, 1] * parameters[:, 2]) ** (1 / parameters[:, 3]),
         (parameters[:, 4] * parameters[:, 5]) ** (1 / parameters[:, 6])]
    )


def _circuit_start(frequency_hz: np.ndarray, geometry: dict[str, float]) -> np.ndarray:
    """A spectrum's starting circuit from its geometry: the faster arc a decade above the apex,
    the slower one at it, the Warburg as wide as the arc and as slow as the lowest frequency, an
    inductor whose reactance at the highest frequency is a tenth of the series resistance."""
    rct = max(geometry["rct_ohm"], 1e-6)
    apex_omega = 2 * np.pi * np.float64(geometry["apex_hz"])  # numpy: an apex at 0 Hz gives inf, not an exception
    return np.array(
        [
            max(geometry["r0_ohm"], 1e-6),
            rct / 2,
            1.0 / (rct / 2 * apex_omega * 10),
            0.9,
            rct / 2,
            1.0 / (rct / 2 * apex_omega),
            0.9,
            rct,
            1.0 / (2 * np.pi * float(np.min(frequency_hz))),
            0.1 * max(geometry["r0_ohm"], 1e-6) / (2 * np.pi * float(np.max(frequency_hz))),
        ]
    )


ECM_NAMES = [f"ecm_{name}" for name in [*CIRCUIT_PARAMETERS, "rct_ohm", "fit_error_pct", "converged"]]
# Resistances, capacitances and tau are fitted as logarithms (positive, and spanning decades);
# the CPE exponents stay linear within [0.3, 1].
_LOGARITHMIC = np.array([name not in ("cpe1_alpha", "cpe2_alpha") for name in CIRCUIT_PARAMETERS])
# What a spectrum without that element fits to its lower bound: resistances and the inductor.
_MAY_VANISH = np.array([name.endswith("_ohm") or name == "l0_h" for name in CIRCUIT_PARAMETERS])


def _to_fitted(values: np.ndarray) -> np.ndarray:
    return np.where(_LOGARITHMIC, np.log(np.where(_LOGARITHMIC, values, 1.0)), values)


def _physical(x: np.ndarray) -> np.ndarray:
    return np.where(_LOGARITHMIC, np.exp(np.where(_LOGARITHMIC, x, 0.0)), x)


def fit_circuits(
    frequency_hz: np.ndarray, impedances: np.ndarray, geometries: list[dict[str, float]]
) -> list[dict[str, float]]:
    """Bounded least-squares fits of :data:`CIRCUIT` to spectra on one frequency grid
    (``impedances`` (n, m), finite), residuals weighted by 1/|Z|; one dict per spectrum.

    Each fit starts from its spectrum's geometry (:func:`_circuit_start`) and is solved by
    :func:`agingset.batch_lm.least_squares_batch` with the circuit's analytic Jacobian
    (:func:`circuit_and_jacobian`), all spectra in one batch: ~2 ms per spectrum in a sample's
    batch of ~100 where SciPy's ``least_squares`` took ~15 ms (its Python overhead per
    iteration, not the circuit), and impedance.py's ``CustomCircuit.fit`` with the same
    elements 0.7 s. A fit's result does not depend on the batch it is in. ``ecm_rct_ohm`` is
    R1 + R2; ``ecm_fit_error_pct`` is the RMS of |Z - Z_fit| / |Z| in percent.

    A fit that does not converge, runs to a physical bound (:func:`_circuit_bounds`) or puts
    an arc's time constant outside them is reported as not converged: every ``ecm_*`` value
    NaN and ``ecm_converged`` 0. An element the spectrum lacks may vanish (its resistance at
    the lower bound), and a Warburg still semi-infinite at the lowest frequency sits at its
    tau ceiling. Unbounded, such fits ran to values above 1e38 that no float32 model input
    can hold.
    """
    impedances = np.asarray(impedances, dtype=complex).reshape(-1, len(frequency_hz))
    nothing = {**dict.fromkeys(ECM_NAMES, np.nan), "ecm_converged": 0.0}
    if len(impedances) == 0:
        return []
    low, high = _circuit_bounds(frequency_hz, impedances)
    with np.errstate(all="ignore"):
        guess = np.array([_circuit_start(frequency_hz, geometry) for geometry in geometries])
    startable = np.all(np.isfinite(guess), axis=1)
    guess = np.where(startable[:, None], guess, 1.0)
    weight = 1.0 / np.abs(impedances)
    omega = 2 * np.pi * np.asarray(frequency_hz, dtype=float)

    def residuals(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        impedance, jacobian = circuit_and_jacobian(_physical(x), omega)
        difference = (impedance - impedances[rows]) * weight[rows]
        weighted = jacobian * weight[rows, :, None]
        return (
            np.concatenate([difference.real, difference.imag], axis=1),
            np.concatenate([weighted.real, weighted.imag], axis=1),
        )

    lower, upper = _to_fitted(low), _to_fitted(high)
    # A start on or beyond a bound is moved just inside it.
    margin = 1e-6 * (upper - lower)
    start = np.clip(_to_fitted(np.clip(guess, low, high)), lower + margin, upper - margin)
    with np.errstate(all="ignore"):
        # Stopped at 1e-6 relative change of cost or parameters: far below the 0.1 % instrument noise,
        # and slow fits stop crawling (2,003 of 2,004 converge; 1,979 at SciPy's 1e-8, the same values
        # within 0.2 %).
        result = least_squares_batch(residuals, start, lower, upper, ftol=1e-6, xtol=1e-6)
        fitted_parameters = _physical(result.x)
        time_constants = _arc_time_constants(fitted_parameters)
        fitted = circuit_and_jacobian(fitted_parameters, omega)[0]
        # An element the spectrum does not need fits to a vanishing resistance, and a diffusion tail
        # still semi-infinite at the lowest frequency to a Warburg tau at its ceiling (Z0 / sqrt(tau)
        # is then what the spectrum fixes): those are answers. A parameter on any other bound (a
        # resistance or inductor at its ceiling, Q at either end, a CPE exponent at 0.3, tau at its floor) is a
        # runaway, and so is an arc whose time constant leaves the bounds.
        tolerance = 1e-6 * (upper - lower)
        at_upper = result.x >= upper - tolerance
        at_lower = result.x <= lower + tolerance
        runaway = (at_upper & _LOGARITHMIC) | (at_lower & ~_MAY_VANISH)
        runaway[:, _TAU] = at_lower[:, _TAU] & ~at_lower[:, _Z0]  # a vanished Warburg's tau means nothing
        vanished_arc = at_lower[:, [1, 4]]  # R1, R2
        arc_in_range = (time_constants >= low[:, [_TAU]]) & (time_constants <= high[:, [_TAU]])
        converged = (
            startable
            & result.success
            & np.all(np.isfinite(fitted_parameters), axis=1)
            & ~np.any(runaway, axis=1)
            & np.all(arc_in_range | vanished_arc, axis=1)
        )
        errors = 100.0 * np.sqrt(np.mean(np.abs(fitted - impedances) ** 2 / np.abs(impedances) ** 2, axis=1))
    fits = []
    for ok, values, error in zip(converged, fitted_parameters, errors):
        if not ok:
            fits.append(dict(nothing))
            continue
        parameters = dict(zip(CIRCUIT_PARAMETERS, (float(value) for value in values)))
        fits.append(
            {
                **{f"ecm_{name}": value for name, value in parameters.items()},
                "ecm_rct_ohm": parameters["r1_ohm"] + parameters["r2_ohm"],
                "ecm_fit_error_pct": float(error),
                "ecm_converged": 1.0,
            }
        )
    return fits


def fit_circuit(frequency_hz: np.ndarray, impedance: np.ndarray, geometry: dict[str, float]) -> dict[str, float]:
    """:func:`fit_circuits` of one spectrum."""
    return fit_circuits(frequency_hz, np.asarray(impedance)[None, :], [geometry])[0]


FEATURE_NAMES = [
    f"eis_{name}"
    for name in ["r0_ohm", "rct_ohm", "apex_hz", "apex_minus_zim_ohm", "tail_slope", *ECM_NAMES]
]


def spectra_features(spectra: list[tuple[np.ndarray, np.ndarray]]) -> list[dict[str, float]]:
    """Every per-spectrum feature of (frequency_hz, impedance) pairs, named as stored: ``eis_*``
    and ``kk_residual_pct``; the circuit fits of spectra sharing a frequency grid run as one batch.

    NaN for a spectrum with missing points (``eis_ecm_converged`` 0).
    """
    features: list[dict[str, float]] = [{} for _ in spectra]
    grids: dict[bytes, list[int]] = {}
    for index, (frequency_hz, impedance) in enumerate(spectra):
        if np.all(np.isfinite(impedance)):
            grids.setdefault(np.asarray(frequency_hz, dtype=float).tobytes(), []).append(index)
        else:
            features[index] = {**dict.fromkeys(FEATURE_NAMES, np.nan), "eis_ecm_converged": 0.0, "kk_residual_pct": np.nan}
    for members in grids.values():
        frequency_hz = np.asarray(spectra[members[0]][0], dtype=float)
        impedances = np.array([spectra[index][1] for index in members], dtype=complex)
        geometries = [arc_and_tail(frequency_hz, impedance.real, impedance.imag) for impedance in impedances]
        fits = fit_circuits(frequency_hz, impedances, geometries)
        basis = lin_kk_basis(frequency_hz)
        for index, impedance, geometry, fit in zip(members, impedances, geometries, fits):
            named = {f"eis_{name}": value for name, value in {**geometry, **fit}.items()}
            features[index] = {**named, "kk_residual_pct": kk_residual_pct(frequency_hz, impedance, basis)}
    return features


def spectrum_features(frequency_hz: np.ndarray, impedance: np.ndarray) -> dict[str, float]:
    """:func:`spectra_features` of one spectrum."""
    return spectra_features([(frequency_hz, np.asarray(impedance, dtype=complex))])[0]


def spectrum_feature_table(spectra: pd.DataFrame) -> pd.DataFrame:
    """One row per spectrum of a long spectra table: its keys, the SOC it reached and its features."""
    ordered = spectra.sort_values([*SPECTRUM_KEYS, "frequency_hz"], kind="stable")
    key_table = ordered[SPECTRUM_KEYS]
    starts = np.flatnonzero((key_table != key_table.shift()).any(axis=1).to_numpy())
    bounds = zip(starts, [*starts[1:], len(ordered)])
    frequency = ordered["frequency_hz"].to_numpy()
    impedance = ordered["z_re_ohm"].to_numpy() + 1j * ordered["z_im_ohm"].to_numpy()
    soc_reached = ordered["soc_reached" if "soc_reached" in ordered else "soc"].to_numpy(dtype=float)
    keys = key_table.iloc[starts].to_dict("records")
    reached = [float(soc_reached[start]) for start in starts]
    pairs = [(frequency[start:end], impedance[start:end]) for start, end in bounds]
    rows = [
        {**key, "soc_reached": soc, **features}
        for key, soc, features in zip(keys, reached, spectra_features(pairs))
    ]
    columns = [*SPECTRUM_KEYS, "soc_reached", *FEATURE_NAMES, "kk_residual_pct"]
    table = pd.DataFrame(rows, columns=columns)
    if not rows:  # typed like the spectra it summarises, so that merges on its keys still work
        table = table.astype({**dict.fromkeys(columns, "float64"), **spectra[SPECTRUM_KEYS].dtypes.to_dict()})
    return table


@dataclass(frozen=True)
class SpectrumFeatureTask:
    """The spectra of one sample, whose features a worker computes (see :mod:`agingset.executor`)."""

    sample_id: str
    spectra: pd.DataFrame

    def cache_token(self) -> str:
        """The sample and a hash of its spectra: clean and noisy twins, or a re-solve, are other entries."""
        content = pd.util.hash_pandas_object(self.spectra, index=False).to_numpy().tobytes()
        return f"{self.sample_id}:{hashlib.sha256(content).hexdigest()}"

    def failure(self, status: str, message: str) -> pd.DataFrame:
        """Every spectrum of the sample with missing features (its worker hung or died)."""
        return spectrum_feature_table(self.spectra.assign(z_re_ohm=np.nan, z_im_ohm=np.nan))


def spectrum_feature_tasks(spectra: pd.DataFrame) -> list[SpectrumFeatureTask]:
    """One task per sample, in sample order: concatenated, their results are :func:`spectrum_feature_table`."""
    return [SpectrumFeatureTask(sample_id, group) for sample_id, group in spectra.groupby("sample_id", sort=True)]


def sample_spectrum_features(task: SpectrumFeatureTask) -> pd.DataFrame:
    return spectrum_feature_table(task.spectra)


def spectrum_suffix(soc: float, temperature_c: float) -> str:
    """How a spectrum's columns are named in the per-snapshot feature table."""
    return f"soc{round(100 * soc):d}_t{temperature_c:g}c"


def impedance_features(spectra: pd.DataFrame, per_spectrum: pd.DataFrame) -> pd.DataFrame:
    """One row per snapshot: every spectrum's features and raw Re/Im, named by SOC and temperature.

    Columns read ``eis_<feature>_soc<percent>_t<celsius>c`` (including
    ``eis_kk_residual_pct_...`` and ``eis_soc_reached_...``, the SOC the cell actually reached)
    and ``z_re_ohm_at_<f>hz_soc<percent>_t<celsius>c``, spectrum by spectrum in (temperature,
    SOC) order. ``per_spectrum`` comes from :func:`spectrum_feature_table`.
    """
    stored = {**{name: name for name in FEATURE_NAMES}, "kk_residual_pct": "eis_kk_residual_pct", "soc_reached": "eis_soc_reached"}
    by_spectrum = ["temperature_c", "soc"]
    parts = []
    if len(per_spectrum):
        wide = per_spectrum.astype(dict.fromkeys(stored, "float64")).pivot(index=KEYS, columns=by_spectrum, values=list(stored))
        spectra_order = sorted({key[1:] for key in wide.columns})
        order = [(name, *spectrum) for spectrum in spectra_order for name in stored]
        wide = wide.reindex(columns=order)
        wide.columns = [f"{stored[name]}_{spectrum_suffix(soc, temperature)}" for name, temperature, soc in order]
        parts.append(wide)
    if len(spectra):
        raw = spectra.pivot(index=KEYS, columns=[*by_spectrum, "frequency_hz"], values=["z_re_ohm", "z_im_ohm"])
        points = sorted({key[1:] for key in raw.columns})
        order = [(part, *point) for point in points for part in ("z_re_ohm", "z_im_ohm")]
        raw = raw.reindex(columns=order)
        raw.columns = [
            f"{part}_at_{frequency:.4g}hz_{spectrum_suffix(soc, temperature)}" for part, temperature, soc, frequency in order
        ]
        parts.append(raw)
    if not parts:
        return pd.DataFrame(columns=KEYS)
    table = pd.concat(parts, axis=1, join="outer").sort_index()
    return table.reset_index()

"""NREL BLAST-Lite's LG M50 life model (``Nmc811_GrSi_LGM50_5Ah_Battery``), written out for the project.

A semi-empirical capacity-fade model fitted by NREL to the LG M50 (NMC811 / graphite-SiOx, 5 Ah, 21700)
aging data of T. M. N. Bui et al., IEEE Access 9 (2021), https://ieeexplore.ieee.org/document/9617644 :
calendar aging at 0 / 25 / 45 / 60 degC x 13 SOCs (0-100 %), cycling at 0-25 degC, 100 % depth of discharge,
discharge up to 2C, charge C/3 (the package's ``experimental_range``: charge <= 0.3C). It is the
project's outside reference for how fast an LG M50 fades, condition by condition
(benchmarks/blast_fade.py, docs/aging-reference.md).

The model (time t in days, charge throughput in equivalent full cycles EFC)::

    q = 1 - q_loss_t - q_loss_efc
    q_loss_t   = k_cal * (t / 1e4) ** p_cal        k_cal = k_cal(T, SOC, Ua(SOC)), time-averaged
    q_loss_efc = k_cyc * (EFC / 1e4) ** p_cyc      k_cyc = k_cyc(T, mean discharge C-rate), time-averaged
    k_cal = b0 + b1 exp(TN^3 / UaN^(1/3)) + b2 TN^3 / UaN^(1/2) + b3 exp(SOC^(1/2) / TN^2) + b4 exp(SOC^3)
    k_cyc = c0 exp(c1 Cdis^3) exp(c2 TN^3 Cdis^(1/2))
    TN = T[K] / 308.15,  UaN = Ua / 0.123 V,  Ua = graphite potential vs Li from SOC (Safari & Delacourt 2011)

Stepping is BLAST's own: each update of a time-series chunk time-averages the rates over the chunk and
advances each loss as a "power state" (exact first step y = k x^p, then forward Euler on
dy/dx = k p (y/k)^((p-1)/p)), so BLAST's answers depend on how the input is chunked; this module
replicates that chunking (rainflow turning points, a breakpoint every equivalent full cycle or every
day) and the package's quirks (one sample interval is skipped between chunks; with
``conserve_energy_throughput=False`` a repeated constant input advances the fade by the first chunk's
throughput while its EFC counter shrinks with q). ``tests/test_life_reference.py`` checks it against
numbers produced by the package itself (``studies/blast_crosscheck.py``).

Source: github.com/NREL/BLAST-Lite, ``blast/models/nmc811_grSi_LGM50_5Ah_2021.py``,
``blast/models/degradation_model.py``, ``blast/utils/rainflow.py``, ``blast/utils/functions.py``;
PyPI ``blast-lite`` 1.1.1 (its code identical to the repository's 1.1.0, commit bae8c71). Equations and
coefficients are NREL's (model by Paul Gasper, NREL); the code here is a re-implementation of them.

BLAST-Lite licence (BSD 3-Clause; the full text and NREL's NOTICE are in LICENSES/BLAST-Lite.txt)::

    Copyright (c) 2023, Alliance for Sustainable Energy, LLC
    (1.1.1: Copyright (c) 2023, Alliance for Energy Innovation, LLC)
    All rights reserved.

    Redistribution and use in source and binary forms, with or without modification, are permitted
    provided that the following conditions are met:
    1. Redistributions of source code must retain the above copyright notice, this list of conditions
       and the following disclaimer.
    2. Redistributions in binary form must reproduce the above copyright notice, this list of
       conditions and the following disclaimer in the documentation and/or other materials provided
       with the distribution.
    3. Neither the name of the copyright holder nor the names of its contributors may be used to
       endorse or promote products derived from this software without specific prior written
       permission.

    THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND ANY EXPRESS OR
    IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND
    FITNESS FOR A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR
    CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
    DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE,
    DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER
    IN CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT
    OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

Pure: numpy only, no file I/O.
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

import numpy as np

SOURCE = {
    "repository": "https://github.com/NREL/BLAST-Lite",
    "file": "blast/models/nmc811_grSi_LGM50_5Ah_2021.py",
    "class": "Nmc811_GrSi_LGM50_5Ah_Battery",
    "package": "blast-lite 1.1.1 (PyPI); repository 1.1.0, commit bae8c71, same code",
    "licence": "BSD-3-Clause (LICENSES/BLAST-Lite.txt)",
    "data": "T. M. N. Bui et al., IEEE Access 9 (2021), doi:10.1109/ACCESS.2021.3128774 (ieeexplore 9617644)",
}

NOMINAL_CAPACITY_AH = 5.0

# The fitted coefficients, as in the package's ``_params_life`` (names kept: q1_* calendar, q3_* cycling).
PARAMETERS = {
    "p_cal": 0.651697743905278,
    "q1_b0": -2.39156628786525,
    "q1_b1": 2.44205317834185,
    "q1_b2": -4.45998246136905,
    "q1_b3": 0.448140062203916,
    "q1_b4": -0.185337797906876,
    "p_cyc": 0.441996792536332,
    "q3_b0": 0.181235015387132,
    "q3_b1": -0.123779206033993,
    "q3_b2": 1.24459541295018,
}
TEMPERATURE_NORMALISATION_K = 273.15 + 35
ANODE_POTENTIAL_NORMALISATION_V = 0.123

# The conditions the model was fitted to (package docstring and ``experimental_range``). The package
# gives the cycling discharge rate only as a maximum (2C) and the charge rate as a maximum (0.3C, C/3 in
# the tests); calendar storage covered 0, 2, 5, 10, 30, 50, 60, 70, 80, 85, 90, 95 and 100 % SOC.
MEASURED_RANGE = {
    "calendar": {
        "temperature_c": (0.0, 60.0),
        "soc": (0.0, 1.0),
        "temperatures_c": (0.0, 25.0, 45.0, 60.0),
        "socs": (0.0, 0.02, 0.05, 0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0),
    },
    "cycling": {
        "temperature_c": (0.0, 25.0),
        "dod": 1.0,
        "max_charge_c_rate": 0.3,
        "max_discharge_c_rate": 2.0,
    },
}
# A cycling depth of discharge counts as "full" within this much (a voltage-limited full cycle
# delivers slightly less than the nominal capacity).
FULL_DEPTH_TOLERANCE = 0.05

_SECONDS_PER_DAY = 24 * 60 * 60


def in_measured_range(
    kind: str,
    temperature_c: float,
    *,
    soc: float | None = None,
    dod: float | None = None,
    charge_c_rate: float | None = None,
    discharge_c_rate: float | None = None,
) -> bool:
    """Whether a condition lies inside the data the model was fitted to.

    ``kind="calendar"``: storage at ``temperature_c`` (0-60 degC) and ``soc`` (0-1).
    ``kind="cycling"``: cycling at 0-25 degC, full depth (``dod`` within 5 % of 1), ``charge_c_rate`` <= 0.3
    and 0 < ``discharge_c_rate`` <= 2. An argument left None is not checked.
    """
    if kind == "calendar":
        low, high = MEASURED_RANGE["calendar"]["temperature_c"]
        inside = low <= temperature_c <= high
        if soc is not None:
            soc_low, soc_high = MEASURED_RANGE["calendar"]["soc"]
            inside = inside and soc_low <= soc <= soc_high
        return bool(inside)
    if kind == "cycling":
        cycling = MEASURED_RANGE["cycling"]
        low, high = cycling["temperature_c"]
        inside = low <= temperature_c <= high
        if dod is not None:
            inside = inside and abs(dod - cycling["dod"]) <= FULL_DEPTH_TOLERANCE
        if charge_c_rate is not None:
            inside = inside and 0 < charge_c_rate <= cycling["max_charge_c_rate"]
        if discharge_c_rate is not None:
            inside = inside and 0 < discharge_c_rate <= cycling["max_discharge_c_rate"]
        return bool(inside)
    raise ValueError(f"kind {kind!r}: allowed are 'calendar', 'cycling'")


def protocol_range(protocol: dict, full_window_v: tuple[float, float]) -> dict:
    """Where one aging protocol of the design lies against the model's measured range (m_i's ``aging_reference``).

    ``protocol``: the design's levels (``ambient_temperature_c``, ``charge_c_rate``, ``discharge_c_rate``,
    ``upper_voltage_v``, ``lower_voltage_v``, ``storage_days``, ``storage_soc``, ``late_ambient_temperature_c``);
    ``full_window_v``: the cell's (lower, upper) cut-off voltages, a cycle between them being full depth. The
    cycling counts as inside when it is at every ambient the protocol cycles at; the calendar part (None without
    storage) likewise for its storage. ``outside`` names each condition past the range: there the dataset's rates
    extrapolate by their physics (docs/aging-reference.md, "Measured range")."""
    cycling = MEASURED_RANGE["cycling"]
    ambient = float(protocol["ambient_temperature_c"])
    late = protocol.get("late_ambient_temperature_c")
    temperatures = sorted({ambient, ambient if late is None else float(late)})
    lower, upper = full_window_v
    full_depth = protocol["upper_voltage_v"] >= upper - 1e-9 and protocol["lower_voltage_v"] <= lower + 1e-9
    outside = []
    for temperature in temperatures:
        if not in_measured_range("cycling", temperature):
            outside.append(f"cycling at {temperature:g} degC (measured {cycling['temperature_c'][0]:g}-{cycling['temperature_c'][1]:g})")
    if not full_depth:
        outside.append(
            f"window {protocol['lower_voltage_v']:g}-{protocol['upper_voltage_v']:g} V, not full depth ({lower:g}-{upper:g} V)"
        )
    if not 0 < protocol["charge_c_rate"] <= cycling["max_charge_c_rate"]:
        outside.append(f"charge {protocol['charge_c_rate']:g}C (measured <= {cycling['max_charge_c_rate']:g}C)")
    if not 0 < protocol["discharge_c_rate"] <= cycling["max_discharge_c_rate"]:
        outside.append(f"discharge {protocol['discharge_c_rate']:g}C (measured <= {cycling['max_discharge_c_rate']:g}C)")
    cycling_inside = not outside
    calendar_inside = None
    if float(protocol.get("storage_days", 0.0)) > 0:
        soc = float(protocol.get("storage_soc", 1.0))
        stored_outside = [t for t in temperatures if not in_measured_range("calendar", t, soc=soc)]
        calendar_inside = not stored_outside
        outside += [f"storage at {t:g} degC, SOC {soc:g}" for t in stored_outside]
    return {
        "model": "BLAST-Lite Nmc811_GrSi_LGM50_5Ah_Battery",
        "cycling_inside": cycling_inside,
        "calendar_inside": calendar_inside,
        "outside": outside,
    }


# ---------------------------------------------------------------- the model's equations


def anode_potential_v(soc):
    """Graphite potential vs Li [V] from SOC (Safari & Delacourt 2011, lithiation x = 0.0085 + 0.7715 SOC)."""
    xa = 8.5 * 10**-3 + soc * (0.78 - 8.5 * 10**-3)
    return (
        0.6379
        + 0.5416 * np.exp(-305.5309 * xa)
        + 0.044 * np.tanh(-1 * (xa - 0.1958) / 0.1088)
        - 0.1978 * np.tanh((xa - 1.0571) / 0.0854)
        - 0.6875 * np.tanh((xa + 0.0117) / 0.0529)
        - 0.0175 * np.tanh((xa - 0.5692) / 0.0875)
    )


def calendar_rate(temperature_k, soc, anode_potential=None):
    """k_cal: the calendar loss coefficient (loss = k_cal (days / 1e4) ** p_cal) at each point."""
    p = PARAMETERS
    tn = temperature_k / TEMPERATURE_NORMALISATION_K
    ua = anode_potential_v(soc) if anode_potential is None else anode_potential
    uan = ua / ANODE_POTENTIAL_NORMALISATION_V
    return (
        p["q1_b0"]
        + p["q1_b1"] * np.exp((tn**3) * (1 / (uan ** (1 / 3))))
        + p["q1_b2"] * (tn**3) * (1 / (uan**0.5))
        + p["q1_b3"] * np.exp((1 / (tn**2)) * (soc**0.5))
        + p["q1_b4"] * np.exp(soc**3)
    )


def cycling_rate(temperature_k, discharge_c_rate):
    """k_cyc: the cycling loss coefficient (loss = k_cyc (EFC / 1e4) ** p_cyc) at each point."""
    p = PARAMETERS
    tn = temperature_k / TEMPERATURE_NORMALISATION_K
    return (
        p["q3_b0"]
        * np.exp(p["q3_b1"] * (discharge_c_rate**3))
        * np.exp(p["q3_b2"] * (tn**3) * (discharge_c_rate**0.5))
    )


def _trapezoid(y, x) -> np.float64:
    # numpy 1.x's np.trapz, operation for operation (numpy 2 renamed it): the same float rounding.
    y, x = np.asanyarray(y), np.asanyarray(x)
    d = np.diff(x)
    return (d * (y[1:] + y[:-1]) / 2.0).sum()


# ---------------------------------------------------------------- rainflow (ASTM E1049-85, 5.4.4)


def _reversals(series):
    """Reversal points (index, value) of ``series``; first and last points count as reversals."""
    series = iter(series)
    x_last, x = next(series, None), next(series, None)
    if x_last is None or x is None:
        return
    d_last = x - x_last
    yield 0, x_last
    index = None
    x_next = None
    for index, x_next in enumerate(series, start=1):
        if x_next == x:
            continue
        d_next = x_next - x
        if d_last * d_next < 0:
            yield index, x
        x_last, x = x, x_next
        d_last = d_next
    if index is not None:
        yield index + 1, x_next


def rainflow_cycles(series):
    """Cycles of ``series`` as (range, mean, count, start index, end index); count 1 or 0.5 (half)."""
    points: deque = deque()

    def cycle(point1, point2, count):
        (i1, x1), (i2, x2) = point1, point2
        return abs(x1 - x2), 0.5 * (x1 + x2), count, i1, i2

    for point in _reversals(series):
        points.append(point)
        while len(points) >= 3:
            x1, x2, x3 = points[-3][1], points[-2][1], points[-1][1]
            if abs(x3 - x2) < abs(x2 - x1):
                break
            if len(points) == 3:
                yield cycle(points[0], points[1], 0.5)
                points.popleft()
            else:
                yield cycle(points[-3], points[-2], 1.0)
                last = points.pop()
                points.pop()
                points.pop()
                points.append(last)
    while len(points) > 1:
        yield cycle(points[0], points[1], 0.5)
        points.popleft()


def _rescale_soc(soc, factor):
    # BLAST's rescale_soc: scale each SOC step by ``factor`` from the first point, clip to [0, 1].
    d_soc = np.diff(soc, prepend=soc[0]) * factor
    soc = np.cumsum(d_soc) + soc[0]
    if np.max(soc) > 1 or np.min(soc) < 0:
        soc = np.maximum(0, np.minimum(1, soc))
    return soc


def _power_state_step(y0, dx, k, p):
    """BLAST's power-state update: y = k x^p from zero, then dy = k p (y0/k)^((p-1)/p) dx."""
    if y0 == 0:
        if dx == 0:
            dydx = 0
        else:
            y0 = k * (dx**p)
            dydx = y0 / dx
    else:
        if dx == 0:
            dydx = 0
        else:
            dydx = k * p * ((y0 / k) ** ((p - 1) / p))
    return dydx * dx


def extract_stressors(time_s, soc, temperature_c, q: float = 1.0) -> dict:
    """A chunk's stressors as the package extracts them, for a cell at relative capacity ``q``.

    delta_t_days, delta_efc (sum |dSOC| / 2, times q), dod (max - min SOC), Crate (time-averaged |dSOC/dt|
    above 0.01 /h, times q), Cdis (mean discharge rate over the discharging intervals, times q) and the
    point series TdegK, soc, Ua the rates are averaged over.
    """
    t_secs = np.asarray(time_s, dtype=float)
    soc = np.asarray(soc, dtype=float)
    temperature_c = np.asarray(temperature_c, dtype=float)
    q = np.float64(q)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_days = t_secs / _SECONDS_PER_DAY
        delta_t_days = t_days[-1] - t_days[0]
        delta_efc = np.sum(np.abs(np.ediff1d(soc, to_begin=0))) / 2 * q
        dod = np.max(soc) - np.min(soc)
        dt = np.diff(t_secs)
        abs_crate = np.abs(np.diff(soc) / np.diff(t_secs / (60 * 60)))
        abs_crate[abs_crate < 1e-2] = 0
        crate = _trapezoid(abs_crate, t_days[1:]) / delta_t_days
        if np.isnan(crate):  # a chunk of zero duration
            cdis = 0
        else:
            crate_signed = np.diff(soc) / (dt / 3600)
            crate_signed[np.abs(crate_signed) < 1e-2] = 0
            discharging = crate_signed < 0
            cdis_points = crate_signed[discharging]
            t_discharging = np.cumsum(dt[discharging])
            if len(cdis_points) > 1:
                cdis = _trapezoid(cdis_points, t_discharging) / (t_discharging[-1] - t_discharging[0])
            elif len(cdis_points) == 1:
                cdis = cdis_points[0]
            else:
                cdis = 0
        crate = crate * q
        cdis = cdis * q
    return {
        "t_secs": t_secs,
        "delta_t_days": delta_t_days,
        "delta_efc": delta_efc,
        "TdegK": temperature_c + 273.15,
        "soc": soc,
        "dod": dod,
        "Ua": anode_potential_v(soc),
        "Crate": crate,
        "Cdis": np.abs(cdis),
    }


# ---------------------------------------------------------------- the stepped model


class LgM50Life:
    """The LG M50 model's state and history, stepped as BLAST-Lite steps it.

    ``update(time_s, soc, temperature_c)`` ages the cell by one chunk (BLAST's ``update_battery_state``),
    ``repeat()`` by the last chunk again without re-extracting its stressors
    (``update_battery_state_repeating``), ``simulate(...)`` runs a whole profile
    (``simulate_battery_life``). History arrays: ``t_days``, ``efc``, ``q``, ``q_t``, ``q_efc``, ``k_cal``,
    ``k_cyc``; ``chunk_end`` / ``chunk_repeat`` say which input index and which repetition of the input
    each ``simulate`` update ended at (-1 for the initial state).
    """

    def __init__(self, degradation_scalar: float = 1.0):
        self.degradation_scalar = degradation_scalar
        self._states = {"qLoss_t": [np.float64(0.0)], "qLoss_EFC": [np.float64(0.0)]}
        self._outputs = {"q": [np.float64(1.0)], "q_t": [np.float64(1.0)], "q_EFC": [np.float64(1.0)]}
        self._stressors = {
            key: [np.float64(np.nan)]
            for key in ("delta_t_days", "delta_efc", "TdegK", "soc", "dod", "Crate", "Cdis")
        }
        self._stressors["t_days"] = [np.float64(0.0)]
        self._stressors["efc"] = [np.float64(0.0)]
        self._rates = {"k_cal": [np.float64(np.nan)], "k_cyc": [np.float64(np.nan)]}
        self._chunk_end = [-1]
        self._chunk_repeat = [-1]

    # -- history
    def _series(self, values) -> np.ndarray:
        return np.array(values, dtype=float)

    @property
    def q(self) -> np.ndarray:
        return self._series(self._outputs["q"])

    @property
    def q_t(self) -> np.ndarray:
        return self._series(self._outputs["q_t"])

    @property
    def q_efc(self) -> np.ndarray:
        return self._series(self._outputs["q_EFC"])

    @property
    def t_days(self) -> np.ndarray:
        return self._series(self._stressors["t_days"])

    @property
    def efc(self) -> np.ndarray:
        return self._series(self._stressors["efc"])

    @property
    def k_cal(self) -> np.ndarray:
        return self._series(self._rates["k_cal"])

    @property
    def k_cyc(self) -> np.ndarray:
        return self._series(self._rates["k_cyc"])

    @property
    def chunk_end(self) -> np.ndarray:
        return np.array(self._chunk_end)

    @property
    def chunk_repeat(self) -> np.ndarray:
        return np.array(self._chunk_repeat)

    # -- steps
    def update(self, time_s, soc, temperature_c) -> None:
        """Age by one chunk of time series (its stressors extracted, its rates time-averaged)."""
        stressors = extract_stressors(time_s, soc, temperature_c, self._outputs["q"][-1])
        s = self._stressors
        s["delta_t_days"].append(stressors["delta_t_days"])
        s["t_days"].append(s["t_days"][-1] + stressors["delta_t_days"])
        s["delta_efc"].append(stressors["delta_efc"])
        s["efc"].append(s["efc"][-1] + stressors["delta_efc"])
        s["TdegK"].append(np.mean(stressors["TdegK"]))
        s["soc"].append(np.mean(stressors["soc"]))
        s["dod"].append(stressors["dod"])
        s["Crate"].append(stressors["Crate"])
        s["Cdis"].append(stressors["Cdis"])
        self._update_rates(stressors)
        self._update_states(stressors["delta_t_days"], stressors["delta_efc"])
        self._update_outputs()

    def repeat(self, conserve_energy_throughput: bool = True) -> None:
        """Age by the last chunk again, its rates unchanged (a periodic input)."""
        s = self._stressors
        s["t_days"].append(s["t_days"][-1] + s["delta_t_days"][-1])
        if conserve_energy_throughput:
            s["efc"].append(s["efc"][-1] + s["delta_efc"][-1])
            s["dod"].append(s["dod"][1] / self._outputs["q"][-1])
        else:
            s["efc"].append(s["efc"][-1] + s["delta_efc"][-1] * self._outputs["q"][-1])
        # BLAST advances the states by the stored (first chunk's) throughput either way.
        self._update_states(s["delta_t_days"][-1], s["delta_efc"][-1])
        self._update_outputs()

    def _update_rates(self, stressors: dict) -> None:
        t_secs = stressors["t_secs"]
        delta_t_secs = t_secs[-1] - t_secs[0]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            k_cal = calendar_rate(stressors["TdegK"], stressors["soc"], stressors["Ua"])
            k_cyc = cycling_rate(stressors["TdegK"], stressors["Cdis"])
            self._rates["k_cal"].append(_trapezoid(k_cal, t_secs) / delta_t_secs)
            self._rates["k_cyc"].append(_trapezoid(k_cyc, t_secs) / delta_t_secs)

    def _update_states(self, delta_t_days, delta_efc) -> None:
        p = PARAMETERS
        k_cal, k_cyc = self._rates["k_cal"][-1], self._rates["k_cyc"][-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            dq_t = self.degradation_scalar * _power_state_step(
                self._states["qLoss_t"][-1], delta_t_days / 1e4, k_cal, p["p_cal"]
            )
            dq_efc = self.degradation_scalar * _power_state_step(
                self._states["qLoss_EFC"][-1], delta_efc / 1e4, k_cyc, p["p_cyc"]
            )
        self._states["qLoss_t"].append(np.float64(self._states["qLoss_t"][-1] + dq_t))
        self._states["qLoss_EFC"].append(np.float64(self._states["qLoss_EFC"][-1] + dq_efc))

    def _update_outputs(self) -> None:
        loss_t, loss_efc = self._states["qLoss_t"][-1], self._states["qLoss_EFC"][-1]
        self._outputs["q"].append(1 - loss_t - loss_efc)
        self._outputs["q_t"].append(1 - loss_t)
        self._outputs["q_EFC"].append(1 - loss_efc)

    def _stop(self, threshold_years, threshold_capacity, threshold_efc) -> bool:
        if threshold_years is not None and self._stressors["t_days"][-1] / 365 > threshold_years:
            return True
        if threshold_capacity is not None and self._outputs["q"][-1] < threshold_capacity:
            return True
        return threshold_efc is not None and self._stressors["efc"][-1] > threshold_efc

    # -- whole profiles
    def simulate(
        self,
        time_s,
        soc,
        temperature_c,
        *,
        threshold_years: float | None = None,
        threshold_capacity: float | None = None,
        threshold_efc: float | None = None,
        constant_input: bool = False,
        conserve_energy_throughput: bool = True,
        max_time_diff_s: float = 86400,
        max_efc_diff: float = 1,
    ) -> LgM50Life:
        """Run a profile, repeating it until a threshold (years, relative capacity, EFC) is crossed;
        with none given, once. ``constant_input``: the whole profile is one chunk, repeated.
        Otherwise chunks end at rainflow turning points once a chunk holds more than ``max_efc_diff``
        EFC, or every ``max_time_diff_s`` (BLAST's ``simulate_battery_life``)."""
        t_secs = np.asarray(time_s, dtype=float)
        soc = np.asarray(soc, dtype=float)
        temperature = np.asarray(temperature_c, dtype=float)
        if not (len(t_secs) == len(soc) == len(temperature)):
            raise ValueError("time_s, soc and temperature_c must be the same length")
        if threshold_years is None and threshold_capacity is None and threshold_efc is None:
            threshold_years = (t_secs[-1] - 1) / (365 * 24 * 60 * 60)
        if constant_input:
            self.update(t_secs, soc, temperature)
            self._chunk_end.append(len(t_secs) - 1)
            self._chunk_repeat.append(0)
            repetition = 0
            while not self._stop(threshold_years, threshold_capacity, threshold_efc):
                repetition += 1
                self.repeat(conserve_energy_throughput)
                self._chunk_end.append(len(t_secs) - 1)
                self._chunk_repeat.append(repetition)
            return self
        breakpoints = chunk_breakpoints(t_secs, soc, max_time_diff_s, max_efc_diff)
        soc_original = soc.copy()
        repetition = 0
        while True:
            prior = 0
            soc = soc_original.copy()
            for breakpoint in breakpoints:
                if conserve_energy_throughput:
                    chunk = _rescale_soc(soc[prior : breakpoint + 1], 1 / self._outputs["q"][-1])
                    soc[prior : breakpoint + 1] = chunk
                    if breakpoint < len(soc) - 1:
                        soc[breakpoint + 1 :] += chunk[-1] - soc[breakpoint]
                self.update(
                    t_secs[prior : breakpoint + 1],
                    soc[prior : breakpoint + 1],
                    temperature[prior : breakpoint + 1],
                )
                self._chunk_end.append(breakpoint)
                self._chunk_repeat.append(repetition)
                prior = breakpoint + 1
                if self._stop(threshold_years, threshold_capacity, threshold_efc):
                    return self
            repetition += 1


def chunk_breakpoints(time_s, soc, max_time_diff_s: float = 86400, max_efc_diff: float = 1) -> list[int]:
    """The indices where BLAST ends a chunk of a time-varying profile: rainflow turning points once
    the chunk holds more than ``max_efc_diff`` EFC, every ``max_time_diff_s`` between turning points
    further apart, and the last point."""
    time_s = np.asarray(time_s, dtype=float)
    soc = np.asarray(soc, dtype=float)
    turning = np.unique(np.array([cycle[-1] for cycle in rainflow_cycles(soc)]))
    efcs = np.cumsum(np.abs(np.ediff1d(soc, to_begin=0))) / 2
    breakpoints: list[int] = []
    last = 0
    for i in turning:
        if time_s[i] - time_s[last] > max_time_diff_s:
            for i_time in range(last, i):
                if time_s[i_time] - time_s[last] > max_time_diff_s:
                    breakpoints.append(i_time)
                    last = i_time
            continue
        if efcs[i] - efcs[last] > max_efc_diff:
            breakpoints.append(int(i))
            last = int(i)
    if not breakpoints or breakpoints[-1] != len(time_s) - 1:
        breakpoints.append(len(time_s) - 1)
    return breakpoints


# ---------------------------------------------------------------- profiles and constant conditions


class Leg(NamedTuple):
    """A stretch of a profile: SOC moves linearly to ``soc`` over ``duration_s`` at ``temperature_c``."""

    soc: float
    duration_s: float
    temperature_c: float


def move(soc_from: float, soc_to: float, c_rate: float, temperature_c: float) -> Leg:
    """A constant-current leg from ``soc_from`` to ``soc_to`` at ``c_rate`` (SOC per hour)."""
    return Leg(soc_to, abs(soc_to - soc_from) / c_rate * 3600.0, temperature_c)


def rest(soc: float, duration_s: float, temperature_c: float) -> Leg:
    return Leg(soc, duration_s, temperature_c)


def profile(start_soc: float, legs, dt_s: float = 60.0):
    """(time_s, soc, temperature_c) arrays of ``legs`` from ``start_soc``, a point at least every ``dt_s``
    (each leg in equal steps, its end point exact). Zero-length legs are skipped."""
    legs = [leg for leg in legs if leg.duration_s > 0]
    if not legs:
        raise ValueError("profile: no leg with a positive duration")
    times, socs, temperatures = [0.0], [float(start_soc)], [float(legs[0].temperature_c)]
    t0, soc0 = 0.0, float(start_soc)
    for leg in legs:
        steps = max(1, math.ceil(leg.duration_s / dt_s - 1e-9))
        fraction = np.arange(1, steps + 1) / steps
        times.extend(t0 + leg.duration_s * fraction)
        socs.extend(soc0 + (leg.soc - soc0) * fraction)
        temperatures.extend([float(leg.temperature_c)] * steps)
        t0, soc0 = t0 + leg.duration_s, float(leg.soc)
    return np.array(times), np.array(socs), np.array(temperatures)


def cycle_legs(
    temperature_c: float,
    discharge_c_rate: float,
    charge_c_rate: float,
    soc_max: float = 1.0,
    dod: float = 1.0,
    rest_s: float = 0.0,
) -> list[Leg]:
    """One cycle from ``soc_max``: discharge by ``dod``, rest, charge back, rest."""
    soc_min = soc_max - dod
    return [
        move(soc_max, soc_min, discharge_c_rate, temperature_c),
        rest(soc_min, rest_s, temperature_c),
        move(soc_min, soc_max, charge_c_rate, temperature_c),
        rest(soc_max, rest_s, temperature_c),
    ]


def calendar_fade(days: int, soc: float, temperature_c: float, step_days: float = 1.0) -> dict:
    """Storage at constant ``soc`` and ``temperature_c``: BLAST with a constant input of ``step_days``
    repeated ``days / step_days`` times. Returns ``t_days`` and ``q`` (the initial state included)."""
    steps = round(days / step_days)
    if steps < 1:
        raise ValueError(f"calendar_fade: days ({days}) must be at least step_days ({step_days})")
    model = LgM50Life()
    model.update(
        np.array([0.0, step_days * _SECONDS_PER_DAY]), np.array([soc, soc]), np.full(2, temperature_c)
    )
    for _ in range(steps - 1):
        model.repeat()
    return {"t_days": model.t_days, "q": model.q, "q_t": model.q_t}


def cycling_fade(
    cycles: int,
    temperature_c: float,
    discharge_c_rate: float,
    charge_c_rate: float = 0.3,
    *,
    dod: float = 1.0,
    soc_max: float = 1.0,
    rest_s: float = 0.0,
    dt_s: float = 60.0,
    conserve_energy_throughput: bool = True,
) -> dict:
    """Continuous cycling: one cycle (``cycle_legs``) as BLAST's constant input, repeated ``cycles`` times.
    Returns per cycle (the initial state included) ``cycle``, ``t_days``, ``efc``, ``q``, ``q_t``, ``q_efc``."""
    if cycles < 1:
        raise ValueError(f"cycling_fade: cycles ({cycles}) must be >= 1")
    time_s, soc, temperature = profile(
        soc_max, cycle_legs(temperature_c, discharge_c_rate, charge_c_rate, soc_max, dod, rest_s), dt_s
    )
    model = LgM50Life()
    model.update(time_s, soc, temperature)
    for _ in range(cycles - 1):
        model.repeat(conserve_energy_throughput)
    return {
        "cycle": np.arange(cycles + 1),
        "t_days": model.t_days,
        "efc": model.efc,
        "q": model.q,
        "q_t": model.q_t,
        "q_efc": model.q_efc,
    }

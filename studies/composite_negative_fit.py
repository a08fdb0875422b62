"""Question: fitted to the LG M50 rate tests, does a graphite + Si negative SPM predict the held-out ones better than a single-phase one?
Answer: not enough to adopt. The hysteretic composite improved the held-out mean by 1.5 mV only (41.8 -> 40.3 mV; C/10 at
10 oC 50 -> 36 mV) and no variant fitted the cold C/2 (0 oC: 82 mV); the silicon's own diffusivity activation energy lowered
the fitted cost (23.6 -> 17.5) but left the held-out mean at 40.2 mV (commits bcd3495, 40e9e8a; docs/physics.md,
"composite-probe"). The model keeps the single-phase negative (the calibrate stage's low-lithiation region variants
were probed here too, 06a6a3a).
Date: 2026-11-28
Commit: 3ddea11

A probe outside the calibrate stage (docs/physics.md, "composite-probe"): the rate tests only, its own
electrode balance (no OCV correction), the project's held-out split and RMSE metric. From the project root:
  EDN_MAX=80000 python -m studies.composite_negative_fit KIND MAXNFEV [start.json SUFFIX]
  KIND: single | composite (Si on its average OCP) | composite_hyst (Si on its delithiation branch)
        | composite_sigmoid (PyBaMM's current-sigmoid hysteresis)
  env SI_ACTIVATION=own gives the silicon its own diffusivity activation energy; FIX="name=value,..." holds parameters fixed; without start.json: stage 1 (balance + contact) then the full fit;
  env NEG_REGION=1 adds the stage's low-lithiation diffusivity region, KIN_REGION=1 the same for the negative's
  exchange current (WK_MAX: its width's upper bound, 0.1), POSITIVE_WALL=1 a positive diffusivity drop near full
  lithiation (docs/physics.md "negative-reaction-region");
  a results JSON's "params" is a start for the next run (the documented numbers: restarts from earlier optima).
Writes $OUT_DIR/results_KIND[SUFFIX].json.

Initial state: per evaluation, for each curve, the electrodes are put in equilibrium at the
record's rest voltage (numpy root finding on the model's own OCPs at 25 degC reference), given
fitted active-material fractions and fitted cyclable lithium (n_Li, in A.h); for the composite
graphite and Si share one potential.  Concentrations are passed as [input]s.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np
import pandas as pd
import pybamm
from scipy.optimize import brentq, least_squares

from agingset.calibration.measurements import Measurement
from agingset.calibration.observations import resample_uniform, rest_voltages
from agingset.calibration.prediction import capacity_to_voltage_ah

F = 96485.33212
R = 8.314462618
TREF = 298.15
CUTOFF = 2.0
# SI_ACTIVATION=own: the silicon's diffusivity takes its own activation energy (EDsi), else the graphite's (EDn)
SI_ENERGY = "EDsi" if os.environ.get("SI_ACTIVATION") == "own" else "EDn"
POINTS = 120
POSITIVE_WALL = os.environ.get("POSITIVE_WALL") == "1"
NEG_REGION = os.environ.get("NEG_REGION") == "1"
KIN_REGION = os.environ.get("KIN_REGION") == "1"
EXTRA_NAMES = (["y_wall", "w_wall", "depth_p", "E_wall"] if POSITIVE_WALL else []) + (
    ["x_low", "w_low", "E_low"] if NEG_REGION else []) + (["x_k", "w_k", "depth_k", "E_k_low"] if KIN_REGION else [])


# ---------------------------------------------------------------- data
class Test:
    def __init__(self, name, amb, c_rate, record):
        self.name, self.ambient_temperature_c, self.c_rate, self.record = name, amb, c_rate, record


def load_tests():
    d = pd.read_csv("reference-data/lgm50_rate_tests.csv.gz")
    tests = []
    for (amb, c), g in d.groupby(["ambient_temperature_c", "c_rate"]):
        rec = Measurement(g.time_s.values - g.time_s.values[0], g.current_a.values, g.voltage_v.values, g.temperature_c.values)
        tests.append(Test(f"{amb:g}C_{c:g}C", float(amb), float(c), rec))
    rest = rest_voltages(tests)
    out = []
    for t in tests:
        held = math.isclose(t.ambient_temperature_c, 10) or math.isclose(t.c_rate, 0.5)
        rec = resample_uniform(t.record, POINTS)
        out.append(dict(name=t.name, amb=t.ambient_temperature_c, c_rate=t.c_rate, fit=not held,
                        record=rec, full=t.record, rest_v=rest[t.name],
                        current=-float(np.median(t.record.current_a[t.record.current_a < 0])),
                        t0=float(t.record.temperature_c[0])))
    return out


# ---------------------------------------------------------------- model
def arr(E, T):
    return pybamm.exp(E / R * (1 / TREF - 1 / T))


def slowed_region(center, width, depth, energy, above=False):
    """A factor (sto, T) -> 1 outside a stoichiometry region, 10^-depth times an extra Arrhenius factor
    (activation energy ``energy``) deep inside it: below ``center`` (or above, ``above``) over a tanh step of
    ``width``. Arguments name inputs; ``depth`` None: no depth (the same value at 25 degC)."""
    inp = pybamm.InputParameter

    def factor(sto, T):
        distance = (sto - inp(center)) if above else (inp(center) - sto)
        inside = 0.5 * (1 + pybamm.tanh(distance / inp(width)))
        slowed = arr(inp(energy), T) if depth is None else 10 ** (-inp(depth)) * arr(inp(energy), T)
        return 1 - inside * (1 - slowed)
    return factor


# POSITIVE_WALL=1: the positive's diffusivity drops near full lithiation (a layered oxide's slowdown)
positive_wall = slowed_region("y_wall", "w_wall", "depth_p", "E_wall", above=True)
# NEG_REGION=1: the calibrate stage's low-lithiation diffusivity region (docs/physics.md "negative-diffusivity")
negative_region = slowed_region("x_low", "w_low", None, "E_low")
# KIN_REGION=1: the same region of the negative's exchange current (docs/physics.md "negative-reaction-region")
negative_kinetic_region = slowed_region("x_k", "w_k", "depth_k", "E_k_low")


def fitted_phase(stock, prefix, electrode, fraction, diffusivity, energy, rate, initial, region=None,
                 kinetic_region=None):
    """One electrode (or phase, ``prefix`` "Primary: " / "Secondary: "): its fraction, Arrhenius
    diffusivity (times ``region(sto, T)`` if given), scaled exchange current (shared reaction activation
    energy Ek) and initial concentration as inputs named by the arguments."""
    inp = pybamm.InputParameter
    j0 = stock[f"{prefix}{electrode} electrode exchange-current density [A.m-2]"]
    factor = region or (lambda sto, T: 1)
    kfactor = kinetic_region or (lambda sto, T: 1)
    return {
        f"{prefix}{electrode} electrode active material volume fraction": inp(fraction),
        f"{prefix}{electrode} particle diffusivity [m2.s-1]":
            lambda sto, T: inp(diffusivity) * arr(inp(energy), T) * factor(sto, T),
        f"{prefix}{electrode} electrode exchange-current density [A.m-2]":
            lambda ce, cs, cm, T: inp(rate) * j0(ce, cs, cm, pybamm.Scalar(TREF)) * arr(inp("Ek"), T) * kfactor(cs / cm, T),
        f"{prefix}Initial concentration in {electrode.lower()} electrode [mol.m-3]": inp(initial),
    }


def vol_cap_ah(pv, thick_key, cmax):
    return pv[thick_key] * pv["Electrode width [m]"] * pv["Electrode height [m]"] * cmax * F / 3600


class Harness:
    def __init__(self, kind, relax=False):
        self.kind = kind
        comp = kind.startswith("composite")
        self.comp = comp
        opts = {"thermal": "lumped", "contact resistance": "true"}
        if comp:
            opts["particle phases"] = ("2", "1")
        if kind == "composite_sigmoid":  # PyBaMM's own Si hysteresis (branch by the sign of the phase current)
            opts["open-circuit potential"] = (("single", "current sigmoid"), "single")
        pv = pybamm.ParameterValues("Chen2020_composite" if comp else "Chen2020")
        self.stock = pv.copy()
        model = pybamm.lithium_ion.SPM(opts)
        inp = pybamm.InputParameter
        pv.update({"Contact resistance [Ohm]": inp("Rc"), "Total heat transfer coefficient [W.m-2.K-1]": inp("h"),
                   "Current function [A]": inp("I"), "Ambient temperature [K]": inp("Tamb"),
                   "Initial temperature [K]": inp("T0"), "Lower voltage cut-off [V]": CUTOFF,
                   "Upper voltage cut-off [V]": 4.4}, check_already_exists=False)
        if relax:  # current switched off (smoothly, 2 s) at t = tend: discharge then rest
            pv.update({"Current function [A]": inp("I") * 0.5 * (1 - pybamm.tanh((pybamm.t - inp("tend")) / 2.0))})
        # positive
        pv.update(fitted_phase(self.stock, "", "Positive", "eps_p", "Dp", "EDp", "kp", "cp0",
                               positive_wall if POSITIVE_WALL else None))
        self.cmax_p = self.stock["Maximum concentration in positive electrode [mol.m-3]"]
        self.Up = self.stock["Positive electrode OCP [V]"]
        self.cap_p = vol_cap_ah(self.stock, "Positive electrode thickness [m]", self.cmax_p)
        if not comp:
            pv.update(fitted_phase(self.stock, "", "Negative", "eps_n", "Dn", "EDn", "kn", "cn0",
                                   negative_region if NEG_REGION else None,
                                   negative_kinetic_region if KIN_REGION else None))
            self.cmax_n = [self.stock["Maximum concentration in negative electrode [mol.m-3]"]]
            self.Un = [self.stock["Negative electrode OCP [V]"]]
            var_pts = {"r_n": 15, "r_p": 15}
            self.names = ["eps_n", "eps_p", "nLi", "Rc", "kn", "kp", "Ek", "Dn", "EDn", "Dp", "EDp", "h"]
        else:
            if kind == "composite_hyst":  # discharge => Si delithiates: use its delithiation branch
                pv.update({"Secondary: Negative electrode OCP [V]": self.stock["Secondary: Negative electrode delithiation OCP [V]"]})
            self.si_ocp_for_start = (self.stock["Secondary: Negative electrode delithiation OCP [V]"]
                                     if kind in ("composite_hyst", "composite_sigmoid") else pv["Secondary: Negative electrode OCP [V]"])
            # one kinetic scale kn for both negative phases (keeps the parameter count comparable)
            pv.update({
                **fitted_phase(self.stock, "Primary: ", "Negative", "eps_g", "Dn", "EDn", "kn", "cn0"),
                **fitted_phase(self.stock, "Secondary: ", "Negative", "eps_si", "Dsi", SI_ENERGY, "kn", "csi0"),
                # lumped thermal needs one negative density (same as Chen2020 graphite)
                "Negative electrode density [kg.m-3]": self.stock["Primary: Negative electrode density [kg.m-3]"],
            }, check_already_exists=False)
            self.cmax_n = [self.stock["Primary: Maximum concentration in negative electrode [mol.m-3]"],
                           self.stock["Secondary: Maximum concentration in negative electrode [mol.m-3]"]]
            self.Un = [self.stock["Primary: Negative electrode OCP [V]"], self.si_ocp_for_start]
            var_pts = {"r_n_prim": 15, "r_n_sec": 10, "r_p": 15}
            self.names = ["eps_g", "eps_si", "eps_p", "nLi", "Rc", "kn", "kp", "Ek", "Dn", "Dsi", "EDn", "Dp", "EDp", "h"]
            if SI_ENERGY == "EDsi":
                self.names.append("EDsi")
        self.names += EXTRA_NAMES
        self.cap_n = [vol_cap_ah(self.stock, "Negative electrode thickness [m]", c) for c in self.cmax_n]
        solver = pybamm.IDAKLUSolver(rtol=1e-6, atol=1e-8)
        self.sim = pybamm.Simulation(model, parameter_values=pv, solver=solver, var_pts={**model.default_var_pts, **var_pts})
        self.sim.build()
        # OCP tables (numpy), 25 degC
        g = np.linspace(1e-4, 1 - 1e-4, 20001)
        self.grid = g
        self.up_tab = self._ev(self.Up, g)
        self.un_tab = [self._ev(f, g) for f in self.Un]

    @staticmethod
    def _ev(f, g):
        try:
            v = f(pybamm.Vector(g))
        except TypeError:
            v = f(pybamm.Vector(g), pybamm.Scalar(TREF))
        return np.asarray(v.evaluate(), dtype=float).ravel()

    def neg_sto_at(self, U):
        """negative stoichiometries (per phase) at potential U (OCPs decreasing in sto)."""
        out = []
        for tab in self.un_tab:
            order = np.argsort(tab)
            out.append(float(np.interp(U, tab[order], self.grid[order])))
        return out

    def fracs(self, p):
        return [p["eps_n"]] if not self.comp else [p["eps_g"], p["eps_si"]]

    def initial_state(self, p, rest_v):
        """Solve over the graphite (first phase) stoichiometry: the negative potential of the
        plateau is too flat to be the unknown."""
        Qp = self.cap_p * p["eps_p"]
        Qn = [c * e for c, e in zip(self.cap_n, self.fracs(p))]
        g = self.grid

        def state(xg):
            U = float(np.interp(xg, g, self.un_tab[0]))
            xs = [xg] + self.neg_sto_at(U)[1:]
            y = (p["nLi"] - sum(q * x for q, x in zip(Qn, xs))) / Qp
            return float(np.interp(y, g, self.up_tab)) - U - rest_v, xs, y

        lo, hi = g[0], g[-1]
        try:
            xg = brentq(lambda x: state(x)[0], lo, hi, xtol=1e-12)
        except ValueError:
            xg = lo if abs(state(lo)[0]) < abs(state(hi)[0]) else hi
        _, xs, y = state(xg)
        y = float(np.clip(y, 1e-4, 0.9999))
        st = {"cp0": y * self.cmax_p, "cn0": float(np.clip(xs[0], 1e-4, 0.9999)) * self.cmax_n[0]}
        if self.comp:
            st["csi0"] = float(np.clip(xs[1], 1e-4, 0.9999)) * self.cmax_n[1]
        return st

    def solve(self, p, curve):
        rec = curve["record"]
        inputs = {k: float(p[k]) for k in self.names if k != "nLi"}
        inputs.update(self.initial_state(p, curve["rest_v"]))
        inputs.update({"I": curve["current"], "Tamb": curve["amb"] + 273.15, "T0": curve["t0"] + 273.15})
        try:
            sol = self.sim.solve([0.0, float(rec.time_s[-1])], t_interp=rec.time_s, inputs=inputs)
            v = np.asarray(sol["Voltage [V]"].entries, float)
            T = np.asarray(sol["X-averaged cell temperature [C]"].entries, float)
        except Exception as e:  # noqa: BLE001
            print("solve failed", curve["name"], repr(e)[:200], flush=True)
            v, T = np.empty(0), np.empty(0)
        return v, T


def metrics(curve, v, T):
    rec = curve["record"]
    n = rec.time_s.size
    full = np.full(n, CUTOFF)
    full[: v.size] = v
    full = np.where(full < CUTOFF, CUTOFF, full)
    Tf = np.full(n, np.nan)
    Tf[: T.size] = T
    if T.size:
        Tf = np.where(np.isfinite(Tf), Tf, T[-1])
    else:
        Tf[:] = curve["amb"]
    comp = -rec.current_a > 0.5 * curve["current"]
    d = (full - rec.voltage_v)[comp]
    dT = (Tf - rec.temperature_c)[comp]
    k = int(math.floor(0.97 * d.size))
    meas_ah = capacity_to_voltage_ah(rec, rec.voltage_v, 3.0)
    sim_ah = capacity_to_voltage_ah(rec, full, 3.0)
    return dict(rmse_mv=1e3 * float(np.sqrt(np.mean(d ** 2))), body97_mv=1e3 * float(np.sqrt(np.mean(d[:k] ** 2))),
                cap3_err_pct=100 * (sim_ah - meas_ah) / meas_ah if np.isfinite(meas_ah) else None,
                temp_rmse_k=float(np.sqrt(np.mean(dT ** 2))), reached=v.size / n), d, dT


# ---------------------------------------------------------------- parameters
def param_specs(kind):
    # name: (start, low, high, log)
    common = {
        "eps_p": (0.665, 0.45, 0.85, False),
        "nLi": (7.6, 5.0, 10.0, False),
        "Rc": (0.02, 1e-3, 0.08, True),
        "kp": (1.0, 0.05, 20.0, True),
        "kn": (1.0, 0.05, 20.0, True),
        "Ek": (35000.0, 5000.0, 90000.0, False),
        "Dp": (4e-15, 1e-16, 1e-13, True),
        "EDp": (20000.0, 0.0, 80000.0, False),
        "EDn": (20000.0, 0.0, float(os.environ.get("EDN_MAX", "80000")), False),
        "h": (10.0, 2.0, 60.0, True),
    }
    common.update({"y_wall": (0.92, 0.80, 0.999, False), "w_wall": (0.015, 0.002, 0.08, True),
                   "depth_p": (1.5, 0.0, 5.0, False), "E_wall": (0.0, -60000.0, 150000.0, False),
                   "x_low": (0.196, 0.02, 0.4, False), "w_low": (0.032, 0.005, 0.1, True),
                   "E_low": (100000.0, 0.0, 200000.0, False),
                   "x_k": (0.15, 0.02, 0.4, False), "w_k": (0.03, 0.005, float(os.environ.get("WK_MAX", "0.1")), True),
                   "depth_k": (1.0, 0.0, 5.0, False), "E_k_low": (50000.0, 0.0, 200000.0, False)})
    if kind == "single":
        common.update({"eps_n": (0.75, 0.55, 0.9, False), "Dn": (3.3e-14, 1e-16, 1e-12, True)})
    else:
        common.update({"eps_g": (0.735, 0.5, 1.1, False), "eps_si": (0.015, 0.001, 0.06, True),
                       "Dn": (5.5e-14, 1e-16, 1e-12, True), "Dsi": (1.67e-14, 1e-18, 1e-12, True)})
        if SI_ENERGY == "EDsi":
            common["EDsi"] = (40000.0, 0.0, 150000.0, False)
    return common


class Fit:
    def __init__(self, h: Harness, curves, temp_weight=True):
        self.h, self.curves = h, curves
        self.specs = param_specs(h.kind)
        # FIX="name=value,..." holds parameters at fixed values (not fitted)
        fx = os.environ.get("FIX", "")
        self.fixed = {kv.split("=")[0]: float(kv.split("=")[1]) for kv in fx.split(",") if kv}
        self.names = [n for n in h.names if n not in self.fixed]
        self.temp_weight = temp_weight
        self.nev = 0

    def to_phys(self, u):
        p = dict(self.fixed)
        for name, x in zip(self.names, u):
            s, lo, hi, lg = self.specs[name]
            p[name] = math.exp(math.log(lo) + x * (math.log(hi) - math.log(lo))) if lg else lo + x * (hi - lo)
        return p

    def to_unit(self, p):
        u = []
        for name in self.names:
            s, lo, hi, lg = self.specs[name]
            v = p[name]
            u.append((math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo)) if lg else (v - lo) / (hi - lo))
        return np.array(u)

    def residuals(self, u, fitted_only=True):
        p = self.to_phys(u)
        self.nev += 1
        res = []
        for c in self.curves:
            if fitted_only and not c["fit"]:
                continue
            v, T = self.h.solve(p, c)
            m, d, dT = metrics(c, v, T)
            parts = [d / 0.010]
            if self.temp_weight:
                parts.append(dT / 2.0)
            r = np.concatenate(parts)
            res.append(r / math.sqrt(r.size))
        return np.concatenate(res)

    def report(self, p):
        out = {}
        for c in self.curves:
            v, T = self.h.solve(p, c)
            m, _, _ = metrics(c, v, T)
            m["fit"] = c["fit"]
            # capacity to 3.0 V on a fine grid past the record's end (constant current from t=0)
            full = c["full"]
            tf = np.linspace(0, 1.3 * full.time_s[-1], 3000)
            ext = Measurement(tf, np.full(tf.size, -c["current"]), np.zeros(tf.size), np.zeros(tf.size))
            ve, _ = self.h.solve(p, dict(c, record=ext))
            meas = capacity_to_voltage_ah(full, full.voltage_v, 3.0)
            below = np.flatnonzero(ve < 3.0)
            if below.size and below[0] > 0:
                i = below[0]
                t3 = np.interp(3.0, [ve[i], ve[i - 1]], [tf[i], tf[i - 1]])
                m["cap3_fine_err_pct"] = 100 * (c["current"] * t3 / 3600 - meas) / meas
            else:
                m["cap3_fine_err_pct"] = None
            out[c["name"]] = m
        return out


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return
    kind = sys.argv[1]
    max_nfev = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    curves = load_tests()
    t0 = time.time()
    h = Harness(kind)
    print("built", time.time() - t0, flush=True)
    fit = Fit(h, curves)
    p0 = {k: v[0] for k, v in fit.specs.items()}
    p0.update(fit.fixed)
    if len(sys.argv) > 3:
        p0.update(json.load(open(sys.argv[3]))["params"])
        p0.update(fit.fixed)
    if kind != "single" and len(sys.argv) <= 3:
        p0["nLi"] = 8.1
    u0 = np.clip(fit.to_unit(p0), 0, 1)
    r0 = fit.residuals(u0)
    print("stock start cost", 0.5 * float(r0 @ r0), flush=True)
    # stage 1: electrode balance (+ contact resistance) on the fitted curves, other params at start
    sub = [i for i, n in enumerate(fit.names) if n in ("eps_n", "eps_g", "eps_si", "eps_p", "nLi", "Rc")]

    def res_sub(us):
        u = u0.copy(); u[sub] = us
        return fit.residuals(u)
    t1 = time.time()
    if len(sys.argv) <= 3:
        o1 = least_squares(res_sub, u0[sub], bounds=(0, 1), diff_step=1e-3, max_nfev=25, verbose=1)
        u0[sub] = o1.x
        stage1 = dict(cost=float(o1.cost), nfev=int(o1.nfev), wall_s=time.time() - t1, params=fit.to_phys(u0))
    else:
        stage1 = dict(restart_from=sys.argv[3])
    print("stage1", stage1, flush=True)
    r0 = fit.residuals(u0)
    print("start cost", 0.5 * float(r0 @ r0), "eval time", time.time() - t0, flush=True)
    start_rep = fit.report(fit.to_phys(u0))
    for k, m in start_rep.items():
        print("start", k, {a: (round(b, 2) if isinstance(b, float) else b) for a, b in m.items()}, flush=True)

    def cb_res(u):
        r = fit.residuals(u)
        if fit.nev % 20 == 0:
            print(f"nev {fit.nev} cost {0.5 * float(r @ r):.4f} t {time.time() - t0:.0f}s", flush=True)
        return r

    tf = time.time()
    xs = os.environ.get("XSCALE", "1")
    out = least_squares(cb_res, u0, bounds=(0, 1), method=os.environ.get("METHOD", "trf"),
                        x_scale=("jac" if xs == "jac" else float(xs)), jac=os.environ.get("JAC", "2-point"),
                        diff_step=float(os.environ.get("DIFF", "1e-3")), max_nfev=max_nfev, verbose=2)
    wall = time.time() - tf
    p = fit.to_phys(out.x)
    rep = fit.report(p)
    result = dict(stage1=stage1, kind=kind, fixed=fit.fixed, fitted_names=fit.names, params=p, cost=float(out.cost), start_cost=0.5 * float(r0 @ r0), nfev=int(out.nfev),
                  total_evals=fit.nev, status=int(out.status), message=out.message, wall_s=wall,
                  unit=out.x.tolist(), metrics=rep, start_metrics=start_rep)
    json.dump(result, open(f"{os.environ.get('OUT_DIR', '.')}/results_{kind}{sys.argv[4] if len(sys.argv) > 4 else ''}.json", "w"), indent=1, default=float)
    print(json.dumps({k: v for k, v in result.items() if k not in ("metrics", "start_metrics")}, indent=1, default=float))
    for k, m in rep.items():
        print(k, {a: (round(b, 2) if isinstance(b, float) else b) for a, b in m.items()})


if __name__ == "__main__":
    main()

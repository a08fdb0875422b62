"""Question: does agingset.life_reference reproduce NREL BLAST-Lite's LG M50 life model (the package itself)?
Answer: bit for bit. 18 drives (calendar 0 / 25 / 45 degC x SOC 0.1 / 0.5 / 0.95 over 2 years, cycling at
0 / 10 / 25 degC and 0.5-2C discharge, a week-long time-varying profile over 2 years both ways of
throughput, a run to q < 0.85): largest |q difference| 0 (blast-lite 1.1.1, numpy 1.26.4). The numbers are
tests/data/blast_lgm50_reference.csv, which tests/test_life_reference.py checks the module against.
Date: 2026-12-08
Commit: (the commit adding this file)

Runs in its own environment, never the project's (blast-lite pins numpy<2 and pulls nrel-rex, h5pyd, geopy):

    python3 -m venv /tmp/blast-venv && /tmp/blast-venv/bin/pip install blast-lite
    /tmp/blast-venv/bin/python studies/blast_crosscheck.py [--output tests/data/blast_lgm50_reference.csv]

It imports blast-lite, numpy and agingset/life_reference.py loaded by path (agingset itself needs the project's
environment): the module only builds the input profiles, the package computes every recorded q. The CSV opens
with one ``# drive`` comment line per drive (JSON: how to rebuild its input and call), then
``drive,step,t_days,efc,q`` rows at a subset of the package's update steps.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "tests" / "data" / "blast_lgm50_reference.csv"


def load_life_reference():
    spec = importlib.util.spec_from_file_location("life_reference", ROOT / "agingset" / "life_reference.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["life_reference"] = module
    spec.loader.exec_module(module)
    return module


# A week of a commuter car: two drives a day (1C, then C/2), parked warm, charged at C/3 overnight, a
# cool weekend parked nearly full. Legs as [soc at the end, duration s, temperature degC].
def week_legs(lr) -> list[list[float]]:
    day = [
        lr.move(0.9, 0.5, 1.0, 30.0),
        lr.rest(0.5, 8 * 3600.0, 35.0),
        lr.move(0.5, 0.3, 0.5, 30.0),
        lr.rest(0.3, 4 * 3600.0, 25.0),
        lr.move(0.3, 0.9, 0.3, 20.0),
    ]
    day.append(lr.rest(0.9, 86400.0 - sum(leg.duration_s for leg in day), 20.0))
    weekend = [lr.rest(0.9, 2 * 86400.0, 10.0)]
    return [list(leg) for leg in day * 5 + weekend]


def drives(lr) -> dict[str, dict]:
    """Every drive: how to build its input and what to call (the test rebuilds them from this JSON)."""
    out: dict[str, dict] = {}
    for temperature in (0.0, 25.0, 45.0):
        for soc in (0.1, 0.5, 0.95):
            out[f"calendar_T{temperature:g}_soc{soc:g}"] = {
                "call": "calendar_fade",
                "kwargs": {"days": 730, "soc": soc, "temperature_c": temperature},
                "record_every": 73,
            }
    cycling = [
        (0.0, 1.0, {}),
        (10.0, 0.5, {}),
        (10.0, 2.0, {}),
        (25.0, 1.0, {}),
        (25.0, 2.0, {}),
        (25.0, 0.5, {"dod": 0.8, "soc_max": 0.9, "rest_s": 600.0, "conserve_energy_throughput": False}),
    ]
    for temperature, discharge, extra in cycling:
        name = f"cycling_T{temperature:g}_{discharge:g}C" + ("_dod0.8" if extra else "")
        out[name] = {
            "call": "cycling_fade",
            "kwargs": {
                "cycles": 1500,
                "temperature_c": temperature,
                "discharge_c_rate": discharge,
                "charge_c_rate": 0.3,
                **extra,
            },
            "record_every": 100,
        }
    cycle = [list(leg) for leg in lr.cycle_legs(25.0, 1.0, 0.3, 1.0, 1.0, 300.0)]
    out["to_q0.85_T25_1C"] = {
        "call": "simulate",
        "start_soc": 1.0,
        "legs": cycle,
        "kwargs": {"constant_input": True, "threshold_capacity": 0.85},
        "record_every": 100,
    }
    for conserve in (True, False):
        out[f"week_profile_conserve_{str(conserve).lower()}"] = {
            "call": "simulate",
            "start_soc": 0.9,
            "legs": week_legs(lr),
            "kwargs": {"threshold_years": 2.0, "conserve_energy_throughput": conserve},
            "record_every": 40,
        }
    return out


def blast_history(lr, drive: dict):
    """The package's update history for ``drive``: t_days, efc, q."""
    from blast.models import Nmc811_GrSi_LGM50_5Ah_Battery

    battery = Nmc811_GrSi_LGM50_5Ah_Battery()
    kwargs = drive["kwargs"]
    if drive["call"] == "calendar_fade":
        # A constant input of one day repeated (simulate_battery_life's is_constant_input path).
        soc, temperature = kwargs["soc"], kwargs["temperature_c"]
        battery.update_battery_state(np.array([0.0, 86400.0]), np.array([soc, soc]), np.full(2, temperature))
        for _ in range(kwargs["days"] - 1):
            battery.update_battery_state_repeating()
    elif drive["call"] == "cycling_fade":
        legs = lr.cycle_legs(
            kwargs["temperature_c"],
            kwargs["discharge_c_rate"],
            kwargs["charge_c_rate"],
            kwargs.get("soc_max", 1.0),
            kwargs.get("dod", 1.0),
            kwargs.get("rest_s", 0.0),
        )
        time_s, soc, temperature = lr.profile(kwargs.get("soc_max", 1.0), legs)
        battery.update_battery_state(time_s, soc, temperature)
        for _ in range(kwargs["cycles"] - 1):
            battery.update_battery_state_repeating(kwargs.get("conserve_energy_throughput", True))
    else:
        time_s, soc, temperature = lr.profile(drive["start_soc"], [lr.Leg(*leg) for leg in drive["legs"]])
        battery.simulate_battery_life(
            {"Time_s": time_s, "SOC": soc, "Temperature_C": temperature},
            threshold_time=kwargs.get("threshold_years"),
            threshold_capacity=kwargs.get("threshold_capacity"),
            is_constant_input=kwargs.get("constant_input", False),
            is_conserve_energy_throughput=kwargs.get("conserve_energy_throughput", True),
        )
    return battery.stressors["t_days"], battery.stressors["efc"], battery.outputs["q"]


def replica_history(lr, drive: dict):
    kwargs = drive["kwargs"]
    if drive["call"] == "calendar_fade":
        result = lr.calendar_fade(**kwargs)
        return result["t_days"], None, result["q"]
    if drive["call"] == "cycling_fade":
        result = lr.cycling_fade(**kwargs)
        return result["t_days"], result["efc"], result["q"]
    time_s, soc, temperature = lr.profile(drive["start_soc"], [lr.Leg(*leg) for leg in drive["legs"]])
    model = lr.LgM50Life().simulate(time_s, soc, temperature, **kwargs)
    return model.t_days, model.efc, model.q


def recorded_steps(length: int, every: int) -> list[int]:
    steps = list(range(0, length, every))
    return steps if steps[-1] == length - 1 else [*steps, length - 1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    arguments = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # the package's np.trapz and its 0/0 on storage chunks
    from importlib.metadata import version

    lr = load_life_reference()
    lines = [
        (
            f"# NREL BLAST-Lite {version('blast-lite')} Nmc811_GrSi_LGM50_5Ah_Battery (BSD-3-Clause,"
            f" LICENSES/BLAST-Lite.txt), numpy {np.__version__}; made by studies/blast_crosscheck.py"
        ),
    ]
    rows = ["drive,step,t_days,efc,q"]
    worst = 0.0
    for name, drive in drives(lr).items():
        t_days, efc, q = blast_history(lr, drive)
        r_t, _, r_q = replica_history(lr, drive)
        if len(r_q) != len(q):
            raise SystemExit(f"{name}: the package made {len(q)} updates, life_reference {len(r_q)}")
        if not np.array_equal(np.asarray(r_t), t_days):
            print(f"{name}: days differ by up to {np.max(np.abs(np.asarray(r_t) - t_days)):.3g}")
        deviation = float(np.max(np.abs(np.asarray(r_q) - q)))
        worst = max(worst, deviation)
        print(f"{name:40s} updates {len(q):5d}  q end {q[-1]:.6f}  max |dq| {deviation:.3g}")
        lines.append(f"# drive {name} {json.dumps(drive, separators=(',', ':'))}")
        for step in recorded_steps(len(q), drive["record_every"]):
            rows.append(f"{name},{step},{float(t_days[step])!r},{float(efc[step])!r},{float(q[step])!r}")
    args_output = arguments.output
    args_output.parent.mkdir(parents=True, exist_ok=True)
    args_output.write_text("\n".join(lines + rows) + "\n")
    print(
        f"largest |q difference| package vs life_reference: {worst:.3g}; wrote {args_output} "
        f"({args_output.stat().st_size} bytes, {len(rows) - 1} rows)"
    )


if __name__ == "__main__":
    main()

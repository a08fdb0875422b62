"""How far is the dataset's simulated fade from BLAST-Lite's LG M50 model, condition by condition?

Reads a built dataset (default ``data/``: design/samples.parquet, aging/snapshots.parquet, aging/cycles.parquet,
aging/curves.parquet, aging/metadata.json) and drives NREL's LG M50 life model (``agingset.life_reference``,
BLAST-Lite's own stepping) with each sample's protocol, block by block as the dataset runs it: the storage
rest if the design has one (``storage_days`` at ``storage_soc``: aging.storage's move, rest and recharge; a
C/5 move and no recharge if the metadata has none), ``rpt_every`` cycles,
then the RPT (its steps read from aging/metadata.json), at the sample's ambient temperature, 60-s points.

How a protocol becomes a BLAST input (SOC is a fraction of the cell's current capacity, as BLAST's):
  - cycling window: top from the sample's own first-RPT C/5 discharge curve (1 - A.h discharged when it
    passes ``upper_voltage_v``, over the RPT capacity; 1 for 4.2 V); depth from the sample's second aging
    cycle's discharge capacity over the RPT capacity (the first starts from the RPT's full charge);
  - RPT: "until 4.2 V" is SOC 1, "until 2.5 V" SOC 0 (other voltages from the same C/5 curve);
  - constant-current legs at their C-rate; rests timed; constant-voltage holds not timed (the cycle's time
    - the calendar share - is slightly short);
  - throughput not conserved (BLAST's ``is_conserve_energy_throughput=False``): voltage-limited cycles
    deliver less as the cell fades.
Cycles are the dataset's aging cycles (RPTs not counted); BLAST's q after cycle c is its q once cycle c's
block (its RPT, its storage) is done, linear between those points.

Reports per sample the simulated and BLAST cycles to SOH / q 0.8 and the capacity difference (simulated
SOH - BLAST q, in % of the initial capacity) at the dataset's RPTs, and medians per ambient temperature,
separately for conditions inside BLAST's measured range (``life_reference.in_measured_range``: its fitted
cycling data are 0-25 degC, full depth, discharge <= 2C, charge <= C/3) and outside it. Strictly no sample of
the default design is inside (its slowest charge is C/2), so the split is also given on the model's own
stressors (temperature and discharge rate inside; BLAST's cycling fade ignores charge rate and depth).

    python -m benchmarks run blast_fade [--data DIR] [--dt-s 60] [--csv FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from agingset import life_reference as lr
from agingset.catalog import CYCLING_FIELDS, STORAGE_FIELDS
from benchmarks._common import EOL_SOH, ROOT, eol_cycle, write_result

STORAGE_MOVE_C_RATE = 0.2
STOP_Q = 0.75  # BLAST runs past q 0.8 ...
STOP_EFC = 20_000  # ... or this far, whichever first
_UNIT_S = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
_CURRENT_STEP = re.compile(
    r"^(?P<kind>Discharge|Charge) at (?P<rate>C/[\d.]+|[\d.]+C)"
    r"(?: for (?P<duration>[\d.]+) (?P<unit>second|minute|hour)s?(?: or until (?P<limit>[\d.]+) ?V)?"
    r"| until (?P<until>[\d.]+) ?V)$"
)
_REST_STEP = re.compile(r"^Rest for (?P<duration>[\d.]+) (?P<unit>second|minute|hour)s?$")
_HOLD_STEP = re.compile(r"^Hold at [\d.]+ ?V until .+$")


def c_rate(text: str) -> float:
    return 1 / float(text[2:]) if text.startswith("C/") else float(text[:-1])


def legs_of_steps(steps, soc: float, temperature_c: float, soc_at_voltage) -> tuple[list, float]:
    """The BLAST legs of PyBaMM experiment ``steps`` from ``soc`` (and the SOC they end at)."""
    legs = []
    for step in steps:
        if match := _CURRENT_STEP.match(step):
            sign = 1 if match["kind"] == "Charge" else -1
            rate = c_rate(match["rate"])
            limit = match["until"] or match["limit"]
            target = soc_at_voltage(float(limit), sign) if limit else (1.0 if sign > 0 else 0.0)
            if match["duration"]:
                by_time = soc + sign * rate * float(match["duration"]) * _UNIT_S[match["unit"]] / 3600
                target = min(target, by_time) if sign > 0 else max(target, by_time)
            if (target - soc) * sign > 0:
                legs.append(lr.move(soc, target, rate, temperature_c))
                soc = target
        elif match := _REST_STEP.match(step):
            legs.append(lr.rest(soc, float(match["duration"]) * _UNIT_S[match["unit"]], temperature_c))
        elif not _HOLD_STEP.match(step):
            raise ValueError(
                f"aging step {step!r}: not understood (Discharge/Charge at .. until/for .., Rest, Hold)"
            )
    return legs, soc


class SampleDrive:
    """One sample's block (storage, cycles, RPT) as a BLAST input, and where each cycle ends in it."""

    def __init__(self, sample: pd.Series, aging: dict, curve: pd.DataFrame, capacity_ah: float, depth: float):
        voltage = curve["voltage_v"].to_numpy()[::-1]
        soc_curve = (1 - curve["discharged_ah"].to_numpy() / capacity_ah)[::-1]

        def soc_on_curve(v: float) -> float:
            return float(np.clip(np.interp(v, voltage, soc_curve, left=0.0, right=1.0), 0.0, 1.0))

        self.soc_top = soc_on_curve(sample["upper_voltage_v"])
        self.depth = min(depth, self.soc_top)
        self.soc_bottom = self.soc_top - self.depth
        window = {sample["upper_voltage_v"]: self.soc_top, sample["lower_voltage_v"]: self.soc_bottom}

        def cycle_soc(v: float, sign: int) -> float:
            return window[v] if v in window else soc_on_curve(v)

        def rpt_soc(v: float, sign: int) -> float:
            if v >= 4.2:
                return 1.0
            return 0.0 if v <= 2.5 else soc_on_curve(v)

        self.temperature_c = float(sample["ambient_temperature_c"])
        self.cycles_per_block = int(aging["rpt_every"])
        protocol = {key: sample[key] for key in sample.index}
        cycle_steps = [step.format(**protocol) for step in aging["cycle"]]
        rpt_steps = [entry["step"] for entry in aging["rpt"]]
        soc, self.legs, self.cycle_last_leg = 1.0, [], []  # after the first RPT: charged to 4.2 V
        self.storage_last_leg = None
        self.storage_days = float(sample.get("storage_days", 0.0) or 0.0)
        self.storage_soc = float(sample.get("storage_soc", 1.0)) if self.storage_days > 0 else None
        if self.storage_days > 0:
            # The dataset's storage block (aging.storage): a move at move_c_rate, the rest, the recharge.
            storage = aging.get("storage") or {}
            move_rate = float(storage.get("move_c_rate", STORAGE_MOVE_C_RATE))
            self._add([lr.move(soc, self.storage_soc, move_rate, self.temperature_c)])
            self._add([lr.rest(self.storage_soc, self.storage_days * 86400.0, self.temperature_c)])
            soc = self.storage_soc
            recharge = [step.format(**protocol) for step in storage.get("recharge", [])]
            legs, soc = legs_of_steps(recharge, soc, self.temperature_c, cycle_soc)
            self._add(legs)
            self.storage_last_leg = len(self.legs) - 1
        for _ in range(self.cycles_per_block):
            legs, soc = legs_of_steps(cycle_steps, soc, self.temperature_c, cycle_soc)
            self._add(legs)
            self.cycle_last_leg.append(len(self.legs) - 1)
        # RPTs at aging.rpt_temperature_c when set (a laboratory's), else at the cycling ambient.
        rpt_temperature = aging.get("rpt_temperature_c")
        rpt_temperature = self.temperature_c if rpt_temperature is None else float(rpt_temperature)
        legs, soc = legs_of_steps(rpt_steps, soc, rpt_temperature, rpt_soc)
        self._add(legs)
        if abs(soc - 1.0) > 1e-9:
            raise ValueError(f"the RPT ends at SOC {soc:.3f}, not full: the block would not repeat")

    def _add(self, legs) -> None:
        self.legs.extend(leg for leg in legs if leg.duration_s > 0)

    def run(self, dt_s: float) -> pd.DataFrame:
        """BLAST's state after each cycle (its block's RPT and storage done): cycle, q, t_days, efc."""
        time_s, soc, temperature = lr.profile(1.0, self.legs, dt_s)
        # lr.profile puts ceil(duration / dt) points on each leg after the start point
        leg_end = np.cumsum([max(1, int(np.ceil(leg.duration_s / dt_s - 1e-9))) for leg in self.legs])
        assert leg_end[-1] == len(time_s) - 1
        cycle_end = leg_end[self.cycle_last_leg]
        model = lr.LgM50Life().simulate(
            time_s,
            soc,
            temperature,
            threshold_capacity=STOP_Q,
            threshold_efc=STOP_EFC,
            conserve_energy_throughput=False,
        )
        end, repeat = model.chunk_end[1:], model.chunk_repeat[1:]
        cycles = repeat * self.cycles_per_block + np.searchsorted(cycle_end, end, side="right")
        frame = pd.DataFrame(
            {"cycle": np.r_[0, cycles], "q": model.q, "t_days": model.t_days, "efc": model.efc}
        )
        if self.storage_last_leg is not None:
            # A block's storage comes before its cycles: the dataset's RPT after cycle c sees the state
            # before the next block's storage, so updates ending inside a storage are not cycle c's.
            in_storage = np.r_[False, end <= leg_end[self.storage_last_leg]]
            frame = frame[~in_storage]
        return frame.groupby("cycle", as_index=False).last()


def crossing(cycles: np.ndarray, values: np.ndarray, level: float = EOL_SOH) -> float:
    """First cycle where ``values`` falls to ``level``, linear between points (NaN if never)."""
    below = np.flatnonzero(values <= level)
    if not len(below) or below[0] == 0:
        return float("nan")
    k = below[0]
    return float(
        cycles[k - 1] + (values[k - 1] - level) / (values[k - 1] - values[k]) * (cycles[k] - cycles[k - 1])
    )


def read_dataset(data: Path) -> dict:
    needed = {
        "samples": data / "design" / "samples.parquet",
        "snapshots": data / "aging" / "snapshots.parquet",
        "cycles": data / "aging" / "cycles.parquet",
        "curves": data / "aging" / "curves.parquet",
        "metadata": data / "aging" / "metadata.json",
    }
    missing = [str(path) for path in needed.values() if not path.is_file()]
    if missing:
        sys.exit(f"blast_fade: missing {', '.join(missing)} (a built dataset: agingset run or dvc repro)")
    out = {key: pd.read_parquet(path) for key, path in needed.items() if path.suffix == ".parquet"}
    out["aging"] = json.loads(needed["metadata"].read_text())["aging"]
    return out


def compare_sample(sample: pd.Series, tables: dict, dt_s: float) -> dict:
    sample_id = sample["sample_id"]
    snapshots = tables["snapshots"][tables["snapshots"]["sample_id"] == sample_id].sort_values("snapshot")
    cycles = tables["cycles"][tables["cycles"]["sample_id"] == sample_id].set_index("cycle")
    curves = tables["curves"]
    curve = curves[(curves["sample_id"] == sample_id) & (curves["snapshot"] == 0)].sort_values("time_s")
    capacity = float(snapshots["rpt_capacity_ah"].iloc[0])
    depth = float(cycles.loc[2, "discharge_capacity_ah"]) / capacity
    drive = SampleDrive(sample, tables["aging"], curve, capacity, depth)
    blast = drive.run(dt_s)

    soh = (snapshots["rpt_capacity_ah"] / capacity).to_numpy()
    snapshot_cycles = snapshots["cycle"].to_numpy(dtype=float)
    matched = snapshot_cycles <= blast["cycle"].iloc[-1]
    q_blast = np.interp(snapshot_cycles[matched], blast["cycle"], blast["q"])
    difference_pct = 100 * (soh[matched] - q_blast)
    simulated_eol, blast_eol = (
        eol_cycle(snapshots),
        crossing(blast["cycle"].to_numpy(float), blast["q"].to_numpy()),
    )
    record = {
        "sample_id": sample_id,
        **{field: sample[field] for field in lr_protocol_fields(sample)},
        "soc_top": drive.soc_top,
        "depth": drive.depth,
        "inside_measured_range": lr.in_measured_range(
            "cycling",
            drive.temperature_c,
            dod=drive.depth,
            charge_c_rate=sample["charge_c_rate"],
            discharge_c_rate=sample["discharge_c_rate"],
        )
        and (
            drive.storage_days == 0
            or lr.in_measured_range("calendar", drive.temperature_c, soc=drive.storage_soc)
        ),
        "inside_model_stressors": lr.in_measured_range(
            "cycling", drive.temperature_c, discharge_c_rate=sample["discharge_c_rate"]
        ),
        "simulated_eol_cycles": simulated_eol,
        "blast_eol_cycles": blast_eol,
        "eol_ratio": simulated_eol / blast_eol,
        # never at 0.8 in the dataset's budget: its last RPT's cycle over BLAST's, a lower bound
        "eol_ratio_lower_bound": (
            float(snapshot_cycles[-1]) / blast_eol if np.isnan(simulated_eol) else simulated_eol / blast_eol
        ),
        "last_matched_cycle": float(snapshot_cycles[matched][-1]),
        "difference_pct_mean": float(np.mean(difference_pct[1:])) if matched.sum() > 1 else float("nan"),
        "difference_pct_last": float(difference_pct[-1]),
        "difference_pct_max_abs": float(np.max(np.abs(difference_pct))),
        "blast_q_at_last": float(q_blast[-1]),
        "simulated_soh_at_last": float(soh[matched][-1]),
        "blast_days_per_100_cycles": float(np.interp(100, blast["cycle"], blast["t_days"])),
        "blast_efc_per_100_cycles": float(np.interp(100, blast["cycle"], blast["efc"])),
    }
    return record


def lr_protocol_fields(sample: pd.Series) -> list[str]:
    return [*CYCLING_FIELDS, *(field for field in STORAGE_FIELDS if field in sample.index)]


def summary(table: pd.DataFrame) -> dict:
    """Medians per ambient temperature, inside / outside the measured range and the model's stressors."""

    def medians(rows: pd.DataFrame) -> dict:
        both = rows["eol_ratio"].notna()
        return {
            "samples": len(rows),
            "samples_both_reach_0.8": int(both.sum()),
            "median_eol_ratio_simulated_over_blast": float(rows.loc[both, "eol_ratio"].median())
            if both.any()
            else None,
            "median_simulated_eol_cycles": float(rows["simulated_eol_cycles"].median()),
            "median_blast_eol_cycles": float(rows["blast_eol_cycles"].median()),
            "median_difference_pct_mean": float(rows["difference_pct_mean"].median()),
            "median_difference_pct_last": float(rows["difference_pct_last"].median()),
        }

    out = {"all": medians(table)}
    for temperature, rows in table.groupby("ambient_temperature_c"):
        out[f"T{temperature:g}C"] = medians(rows)
    for (temperature, charge), rows in table.groupby(["ambient_temperature_c", "charge_c_rate"]):
        out[f"T{temperature:g}C_charge{charge:g}C"] = {
            "samples": len(rows),
            "median_eol_ratio_simulated_over_blast": float(rows["eol_ratio"].median()),
            "eol_ratio_lower_bounds": [round(x, 3) for x in rows["eol_ratio_lower_bound"]],
        }
    for column in ("inside_measured_range", "inside_model_stressors"):
        for flag, label in ((True, "inside"), (False, "outside")):
            rows = table[table[column] == flag]
            out[f"{column}:{label}"] = medians(rows) if len(rows) else {"samples": 0}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data", help="a built dataset's data directory")
    parser.add_argument("--dt-s", type=float, default=60.0, help="seconds between BLAST input points")
    parser.add_argument("--csv", type=Path, help="write the per-sample table here too")
    arguments = parser.parse_args(argv)
    tables = read_dataset(arguments.data)
    samples = tables["samples"]
    if "switch_after_cycles" in samples:
        # A life whose ambient switches is two drives; the block repeated here is one (not compared yet).
        switched = samples["switch_after_cycles"] > 0
        print(f"{int(switched.sum())} of {len(samples)} samples switch their ambient mid-life: left out")
        samples = samples[~switched]
    # A failed life has no RPT to compare (its reason is in data/aging/status.parquet).
    solved = samples["sample_id"].isin(tables["snapshots"]["sample_id"])
    if not solved.all():
        print(f"{int((~solved).sum())} of {len(samples)} samples have no RPT (failed): left out")
        samples = samples[solved]
    records = [compare_sample(sample, tables, arguments.dt_s) for _, sample in samples.iterrows()]
    table = pd.DataFrame(records)
    pd.set_option("display.width", 250)
    shown = [
        "sample_id",
        "ambient_temperature_c",
        "charge_c_rate",
        "discharge_c_rate",
        "upper_voltage_v",
        "lower_voltage_v",
        "depth",
        "inside_model_stressors",
        "simulated_eol_cycles",
        "blast_eol_cycles",
        "eol_ratio",
        "difference_pct_mean",
        "difference_pct_last",
        "last_matched_cycle",
    ]
    print(table[shown].round(3).to_string(index=False))
    figures = summary(table)
    for key, value in figures.items():
        print(key, json.dumps(value))
    if arguments.csv:
        table.to_csv(arguments.csv, index=False)
    write_result("blast_fade", {"summary": figures, "samples": table.to_dict(orient="records")})


if __name__ == "__main__":
    main()

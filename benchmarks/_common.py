"""What the benchmarks share: their result files, and the aging helpers of the side-by-side benchmarks.

A benchmark ends with :func:`write_result` (its headline figures, the machine, the commit and the date, as
JSON in ``benchmarks/results/NAME.json``, or where ``python -m benchmarks run --output FILE`` says). Private to
this folder: no benchmark imports another benchmark, only this module and ``agingset``.
"""

from __future__ import annotations

import datetime
import gc
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"

_output: Path | None = None  # set by the runner's --output


def set_output(path: str | Path | None) -> None:
    """Write the next result to ``path`` instead of ``benchmarks/results/NAME.json``."""
    global _output
    _output = Path(path) if path else None


def result_path(name: str) -> Path:
    return _output if _output is not None else RESULTS / f"{name}.json"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict:
    """Cores, memory, platform and the versions that set a benchmark's seconds."""
    try:
        memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        memory_gib = None
    return {
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "pybamm": _version("pybamm"),
    }


def git_commit() -> dict:
    """The project's commit and whether the work tree differs from it (None outside a git checkout)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(status) if status is not None else None}


def _plain(value):
    """``value`` as strict JSON: numpy scalars and arrays as numbers and lists, NaN and infinities as
    null, tuples as lists, keys and any other object as strings."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def write_result(name: str, figures: dict) -> Path:
    """Record a benchmark's headline ``figures`` with the machine, the commit, the date and the command line."""
    record = {
        "benchmark": name,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **git_commit(),
        "argv": sys.argv[1:],
        "machine": machine(),
        "figures": _plain(figures),
    }
    path = result_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=1, allow_nan=False)
    path.write_text(text + "\n")
    print(f"result: {path}", file=sys.stderr)
    return path


# ---------------------------------------------------------------- aging lives side by side
# (cycle_jumping, aging_tolerance)

EOL_SOH = 0.8
RELATIVE_FLOOR_PCT = 0.5


def eol_cycle(snapshots) -> float:
    """Cycles to SOH 0.8, linear between the RPTs that bracket it (NaN if never reached)."""
    soh = (snapshots["rpt_capacity_ah"] / snapshots["rpt_capacity_ah"].iloc[0]).to_numpy()
    cycles = snapshots["cycle"].to_numpy(dtype=float)
    below = np.flatnonzero(soh <= EOL_SOH)
    if not len(below) or below[0] == 0:
        return float("nan")
    k = below[0]
    return float(cycles[k - 1] + (soh[k - 1] - EOL_SOH) / (soh[k - 1] - soh[k]) * (cycles[k] - cycles[k - 1]))


def compare(jumped, full) -> dict:
    """Two results of one life: the largest SOH difference over the RPTs, the largest relative LLI / LAM
    differences (RPTs where ``full``'s value is at least 0.5 %) and both end-of-life cycles."""
    a, b = jumped["snapshots"], full["snapshots"]
    rows = min(len(a), len(b))
    a, b = a.iloc[:rows], b.iloc[:rows]
    soh_a = a["rpt_capacity_ah"] / a["rpt_capacity_ah"].iloc[0]
    soh_b = b["rpt_capacity_ah"] / b["rpt_capacity_ah"].iloc[0]
    record = {"soh_err_abs": float(np.abs(soh_a - soh_b).max()), "rpts": rows}
    for column in ("lli_pct", "lam_ne_pct", "lam_pe_pct"):
        mask = b[column].abs() >= RELATIVE_FLOOR_PCT
        record[f"{column}_rel"] = (
            float((np.abs(a[column] - b[column])[mask] / b[column].abs()[mask]).max()) if mask.any() else 0.0
        )
    record["eol_jumped"], record["eol_full"] = eol_cycle(a), eol_cycle(b)
    record["eol_rel"] = abs(record["eol_jumped"] - record["eol_full"]) / record["eol_full"]
    return record


def dataset_samples(params, samples: int):
    """The dataset's model and its first ``samples`` design rows with their cell-parameter columns
    (calibrated values and ranges: run `dvc repro calibrate` first)."""
    from agingset.calibration.dataset import dataset_design, dataset_model
    from agingset.design import build_design, cell_parameter_columns
    from agingset.inputs import read_calibrated

    calibrated = read_calibrated(params)
    design = build_design(dataset_design(params.design, calibrated), samples, params.seed)
    return dataset_model(params.model, calibrated), design, cell_parameter_columns(design)


def timed_run(simulator, sample_id: str, protocol, inputs: dict) -> tuple[dict, float]:
    """``simulator.run`` and the CPU seconds it took. Garbage of earlier runs is collected outside the
    timing, and what lives on (earlier samples' simulators, their models) is frozen out of the
    collector: otherwise a full collection inside a 1-s jumped life scans every object of the
    session (it had put 8.7x and 9.9x on lives that give 12-14x run alone)."""
    gc.collect()
    gc.freeze()
    try:
        tick = time.process_time()
        result = simulator.run(sample_id, protocol, inputs)
        return result, time.process_time() - tick
    finally:
        gc.unfreeze()

"""Where does solve_aging's time go, and how does it scale with workers and a grown design (ratios, not seconds)?

    python -m benchmarks run scale [--samples 24] [--cycles N] [--grow 8 20] [--parts solver,workers,growth,noop]

solver  share of the wall time of solve_aging's tasks (as the stage makes them, in-process, one worker) inside
        IDAKLU's solver calls
workers wall time with AGINGSET_WORKERS=1 vs 2 (real stage, no cache), and peak memory of any process
growth  solving samples a..b after 0..a are cached vs solving b-a samples from an empty cache
noop    `dvc repro` of this project when it is up to date

Every run uses a temporary copy of the project (with its data/calibrate/calibrated.json, which the stages read
when params.yaml takes calibrated values) and params.yaml with the overrides given, so the project's own data
and cache are never touched. The stages run as `python -m stages.NAME` in that copy; this module imports none.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks._common import ROOT, write_result

CALIBRATED = Path("data") / "calibrate" / "calibrated.json"


def _project(base: Path, name: str, params: dict) -> Path:
    repo = base / name
    repo.mkdir()
    for item in ("dvc.yaml", "stages", "agingset"):
        source = ROOT / item
        if source.is_dir():
            shutil.copytree(source, repo / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, repo / item)
    if (ROOT / CALIBRATED).exists():
        (repo / CALIBRATED).parent.mkdir(parents=True)
        shutil.copy2(ROOT / CALIBRATED, repo / CALIBRATED)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return repo


def _stage(repo: Path, stage: str, **env: str) -> float:
    environment = {**os.environ, "PYBAMM_DISABLE_TELEMETRY": "true", "AGINGSET_QUIET": "1", **env}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", f"stages.{stage}"], cwd=repo, env=environment, check=True)
    return time.perf_counter() - start


def solver_share(base: Path, params: dict) -> dict:
    """Time solve_aging's tasks in this process (one worker, no cache) with IDAKLU's calls wrapped.

    The tasks are the stage's (its design file, the dataset's model, ``aging_tasks``), solved by its function
    (``solve_sample``) through ``run_tasks``; the stage's table writing is left out. Two shares: inside IDAS
    integration proper (``_integrate``), and inside the solver call as a whole (``step``: inputs, consistent
    initialisation, integration, post-processing).
    """
    import pandas as pd
    import pybamm

    from agingset.calibration.dataset import dataset_model
    from agingset.catalog import DESIGN
    from agingset.config import load_params
    from agingset.executor import Settings, run_tasks
    from agingset.inputs import read_calibrated
    from agingset.physics.model import handoff_state_names
    from agingset.tasks.aging import aging_tasks, solve_sample

    repo = _project(base, "solver", params)
    _stage(repo, "design")
    inside = {"_integrate": 0.0, "step": 0.0}
    originals = {name: getattr(pybamm.IDAKLUSolver, name) for name in inside}

    def timed(name):
        def wrapper(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return originals[name](self, *args, **kwargs)
            finally:
                inside[name] += time.perf_counter() - start

        return wrapper

    for name in inside:
        setattr(pybamm.IDAKLUSolver, name, timed(name))
    os.chdir(repo)
    try:
        loaded = load_params("params.yaml")
        model = dataset_model(loaded.model, read_calibrated(loaded))
        handoff = handoff_state_names(model, loaded.eis.surface_form)
        tasks = aging_tasks(model, loaded.solver, loaded.aging, handoff, pd.read_parquet(DESIGN))
        start = time.perf_counter()
        run_tasks(solve_sample, tasks, "solve_aging", settings=Settings(workers=1, quiet=True))
        wall = time.perf_counter() - start
    finally:
        for name, original in originals.items():
            setattr(pybamm.IDAKLUSolver, name, original)
        os.chdir(ROOT)
    print(
        f"solver  | tasks wall {wall:7.1f} s | IDAKLU step {inside['step']:7.1f} s ({inside['step'] / wall:6.1%}) | "
        f"of which integrate {inside['_integrate']:7.1f} s ({inside['_integrate'] / wall:6.1%})"
    )
    return {"wall_s": wall, "step_s": inside["step"], "integrate_s": inside["_integrate"], "step_share": inside["step"] / wall}


def workers(base: Path, params: dict) -> dict:
    repo = _project(base, "workers", params)
    _stage(repo, "design")
    times = {n: _stage(repo, "solve_aging", AGINGSET_WORKERS=str(n), AGINGSET_CACHE_DIR="") for n in (1, 2)}
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print(
        f"workers | 1 worker {times[1]:7.1f} s | 2 workers {times[2]:7.1f} s | "
        f"speed-up {times[1] / times[2]:5.2f}x on {os.cpu_count()} cores"
    )
    print(f"memory  | peak resident memory of any stage or worker process {peak_gib:5.2f} GiB")
    return {"one_worker_s": times[1], "two_workers_s": times[2], "speedup": times[1] / times[2], "peak_rss_gib": peak_gib}


def growth(base: Path, params: dict, first: int, total: int) -> dict:
    grown = _project(base, "grown", {**params, "samples": first})
    _stage(grown, "design")
    _stage(grown, "solve_aging")
    (grown / "params.yaml").write_text(yaml.safe_dump({**params, "samples": total}, sort_keys=False))
    _stage(grown, "design")
    grow_s = _stage(grown, "solve_aging")
    fresh = _project(base, "fresh", {**params, "samples": total - first, "seed": params["seed"] + 1})
    _stage(fresh, "design")
    fresh_s = _stage(fresh, "solve_aging")
    print(
        f"growth  | {first}->{total} with cache {grow_s:7.1f} s | {total - first} fresh {fresh_s:7.1f} s | "
        f"ratio {grow_s / fresh_s:5.2f}"
    )
    return {"first": first, "total": total, "growth_s": grow_s, "fresh_s": fresh_s, "growth_over_fresh": grow_s / fresh_s}


def noop() -> dict | None:
    environment = {**os.environ, "PYBAMM_DISABLE_TELEMETRY": "true"}
    if subprocess.run(["dvc", "status", "-q"], cwd=ROOT, env=environment).returncode != 0:
        print("noop    | skipped: this project is not up to date (run `dvc repro` first)")
        return None
    start = time.perf_counter()
    result = subprocess.run(["dvc", "repro"], cwd=ROOT, env=environment, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    ran = "Running stage" in result.stdout
    print(f"noop    | dvc repro of this project {wall:5.2f} s" + (" (NOT up to date: stages ran)" if ran else ""))
    return {"wall_s": wall, "stages_ran": ran}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int)
    parser.add_argument("--cycles", type=int)
    parser.add_argument("--grow", type=int, nargs=2, default=(8, 20), metavar=("FROM", "TO"))
    parser.add_argument("--parts", default="solver,workers,growth,noop")
    arguments = parser.parse_args(argv)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    if arguments.samples:
        params["samples"] = arguments.samples
    if arguments.cycles:
        params["aging"]["cycles"] = arguments.cycles
    parts = arguments.parts.split(",")
    print(f"samples {params['samples']}, cycles {params['aging']['cycles']}, model {params['model']['family']}")
    figures = {"samples": params["samples"], "cycles": params["aging"]["cycles"], "family": params["model"]["family"]}
    with tempfile.TemporaryDirectory() as base:
        if "workers" in parts:
            figures["workers"] = workers(Path(base), params)
        if "solver" in parts:
            figures["solver"] = solver_share(Path(base), params)
        if "growth" in parts:
            figures["growth"] = growth(Path(base), params, *arguments.grow)
    if "noop" in parts:
        figures["noop"] = noop()
    write_result("scale", figures)


if __name__ == "__main__":
    main()

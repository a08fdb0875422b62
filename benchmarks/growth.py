"""Does growing a dataset cost no more than making its new samples from scratch (whole pipeline, goal <= 1.1x)?

    python -m benchmarks run growth [--first 200] [--total 500]

1. a clone of this project's HEAD runs `dvc repro` with ``samples: first`` and commits it (the dataset a
   user has; timed, but not part of the ratio);
2. in that clone, `dvc exp run -S samples=total` (timed: the growth; stages whose inputs did not change
   are skipped by DVC, solved samples come from the per-sample cache);
3. another clone, with empty DVC, per-sample and compiled-model caches, runs `dvc repro` with
   ``samples: total - first`` (timed: the same number of new samples made fresh).

Prints the three wall times and growth / fresh. Every clone has its own caches under a temporary
directory, so nothing is shared with this project or between the two clones.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks._common import ROOT, write_result

GIT_IDENTITY = ["-c", "user.name=agingset-benchmark", "-c", "user.email=benchmark@agingset.invalid"]


def _clone(base: Path, name: str) -> Path:
    repo = base / name
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    return repo


def _run(repo: Path, *command: str) -> float:
    environment = {
        **os.environ,
        "PYBAMM_DISABLE_TELEMETRY": "true",
        "AGINGSET_QUIET": "1",
        "AGINGSET_CACHE_DIR": str(repo / ".agingset-cache"),
        "PYBAMM_CASADI_AOT_CACHE": str(repo / ".compiled"),
    }
    start = time.perf_counter()
    subprocess.run(list(command), cwd=repo, env=environment, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _set_samples(repo: Path, samples: int) -> None:
    params = repo / "params.yaml"
    lines = params.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith("samples:"))
    lines[index] = f"samples: {samples}\n"
    params.write_text("".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=200)
    parser.add_argument("--total", type=int, default=500)
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="agingset-growth-") as scratch:
        base = Path(scratch)
        grown = _clone(base, "grown")
        _set_samples(grown, arguments.first)
        first_s = _run(grown, "dvc", "repro")
        subprocess.run(["git", *GIT_IDENTITY, "commit", "-qam", f"{arguments.first} samples"], cwd=grown, check=True)
        print(f"first   | dvc repro, {arguments.first} samples from empty caches: {first_s / 60:6.1f} min", flush=True)
        grow_s = _run(grown, "dvc", "exp", "run", "-S", f"samples={arguments.total}")
        print(f"growth  | dvc exp run -S samples={arguments.total}: {grow_s / 60:6.1f} min", flush=True)
        fresh = _clone(base, "fresh")
        _set_samples(fresh, arguments.total - arguments.first)
        fresh_s = _run(fresh, "dvc", "repro")
        print(f"fresh   | dvc repro, {arguments.total - arguments.first} samples from empty caches: {fresh_s / 60:6.1f} min")
        print(f"ratio   | growth / fresh {grow_s / fresh_s:5.2f} (goal <= 1.1)")
    write_result(
        "growth",
        {
            "first": arguments.first,
            "total": arguments.total,
            "first_min": first_s / 60,
            "growth_min": grow_s / 60,
            "fresh_min": fresh_s / 60,
            "growth_over_fresh": grow_s / fresh_s,
        },
    )


if __name__ == "__main__":
    main()

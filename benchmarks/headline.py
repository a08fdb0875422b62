"""How long does the headline run, `agingset run --samples N` from empty caches, take, and is its dataset usable?

    python -m benchmarks run headline [--samples 200] [--workers 2] [--seed 7] [--output DIR]

Prints the wall time, peak memory of any process, whether every stage finished, and the
dataset's usable shares (snapshots, spectra) and failure rate from its metrics/quality.json.
The per-sample cache and the compiled-model cache are fresh temporary directories, so nothing is
reused from earlier runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import write_result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", type=Path, help="dataset directory (default: a temporary one)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="agingset-headline-") as scratch:
        output = args.output or Path(scratch) / "dataset"
        environment = {
            **os.environ,
            "PYBAMM_DISABLE_TELEMETRY": "true",
            "AGINGSET_CACHE_DIR": str(Path(scratch) / "cache"),
            # Compiled models are cached on disk too: a fresh machine compiles them in the run.
            "PYBAMM_CASADI_AOT_CACHE": str(Path(scratch) / "compiled"),
        }
        command = [
            sys.executable, "-m", "agingset.cli", "run", "--samples", str(args.samples), "--workers",
            str(args.workers), "--seed", str(args.seed), "--backend", "pybamm", "--output", str(output),
        ]  # fmt: skip
        start = time.perf_counter()
        finished = subprocess.run(command, env=environment)
        wall_s = time.perf_counter() - start
        peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        print(f"command: {' '.join(command[1:])}")
        print(f"exit code {finished.returncode}; wall {wall_s / 60:.1f} min; peak RSS of a process {peak_gib:.2f} GiB")
        figures = {
            "samples": args.samples,
            "workers": args.workers,
            "seed": args.seed,
            "exit_code": finished.returncode,
            "wall_min": wall_s / 60,
            "peak_rss_gib": peak_gib,
        }
        quality_file = output / "metrics" / "quality.json"
        if not quality_file.exists():
            print("no metrics/quality.json: the run did not reach validate")
            write_result("headline", {**figures, "quality": None})
            return 1
        quality = json.loads(quality_file.read_text())
        keys = (
            "samples", "samples_by_status", "failure_rate", "snapshots_usable", "snapshots", "usable_rate",
            "spectra_usable", "spectra", "spectra_usable_rate",
        )  # fmt: skip
        write_result("headline", {**figures, "quality": {key: quality.get(key) for key in keys}})
        print(
            f"samples {quality['samples']} {quality['samples_by_status']}; failure rate {quality['failure_rate']}\n"
            f"snapshots usable {quality['snapshots_usable']}/{quality['snapshots']} ({quality['usable_rate']:.1%}); "
            f"spectra usable {quality['spectra_usable']}/{quality['spectra']} ({quality['spectra_usable_rate']:.1%})\n"
            f"snapshot flags {quality['flag_counts']}\nspectrum flags {quality['spectrum_flag_counts']}"
        )
        return finished.returncode


if __name__ == "__main__":
    sys.exit(main())

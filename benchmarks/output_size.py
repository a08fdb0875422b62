"""What does a dataset's output weigh per table (rows, bytes on disk and in memory), and at N samples?

    python -m benchmarks run output_size DIR [--samples 10000] [--memory-gib 24]

DIR is a finished dataset (`agingset run --output DIR`, or a DVC workspace); it is only read. Every table
under DIR/data (parquet, csv, jsonl) is read with pandas: its rows, its bytes on disk and in memory
(``memory_usage(deep=True)``). Tables that grow with the design are extrapolated linearly in samples to
``--samples``; those that do not (the calibration, the sensitivity study, the baselines' importances and
learning curves) are kept as they are. A table "fits comfortably" when it takes at most a tenth of
``--memory-gib``: a stage holds a few such tables, and copies of them, at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import yaml

from benchmarks._common import write_result

# Outputs whose size does not depend on the number of samples.
FIXED = ("data/calibrate/", "data/sensitivity/", "data/check_params/", "data/train/feature_importance.csv",
         "data/train/plots/importance/", "data/train/plots/learning_curve/")  # fmt: skip
COMFORTABLE_SHARE = 0.1


def read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    return pd.read_json(path, lines=True)


def measure(root: Path) -> list[dict]:
    """One row per table of ``root``/data: path, rows, columns, disk and memory bytes, whether it scales."""
    rows = []
    for path in sorted((root / "data").rglob("*")):
        if path.suffix not in (".parquet", ".csv", ".jsonl") or not path.is_file():
            continue
        name = path.relative_to(root).as_posix()
        frame = read_table(path)
        rows.append({
            "table": name, "rows": len(frame), "columns": frame.shape[1], "disk_bytes": path.stat().st_size,
            "memory_bytes": int(frame.memory_usage(deep=True).sum()), "scales": not name.startswith(FIXED),
        })  # fmt: skip
        del frame
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--samples", type=int, default=10_000, help="extrapolate to this many samples")
    parser.add_argument("--memory-gib", type=float, default=24.0, help="the machine's memory")
    args = parser.parse_args(argv)

    measured = int(yaml.safe_load((args.directory / "params.yaml").read_text())["samples"])
    factor = args.samples / measured
    tables = measure(args.directory)
    for table in tables:
        scale = factor if table["scales"] else 1.0
        for key in ("rows", "disk_bytes", "memory_bytes"):
            table[f"{key}_at_target"] = round(table[key] * scale)
    largest = max(tables, key=lambda table: table["memory_bytes_at_target"])
    limit = COMFORTABLE_SHARE * args.memory_gib * 2**30
    totals = {
        "disk_bytes": sum(table["disk_bytes"] for table in tables),
        "disk_bytes_at_target": sum(table["disk_bytes_at_target"] for table in tables),
        "memory_bytes_at_target": sum(table["memory_bytes_at_target"] for table in tables),
    }

    print(f"{args.directory}: {measured} samples, extrapolated x{factor:g} to {args.samples}")
    print(f"{'table':52s} {'rows':>9s} {'disk MB':>8s} {'mem MB':>8s} | {'rows':>11s} {'disk MB':>9s} {'mem MB':>9s}")
    for table in sorted(tables, key=lambda table: -table["memory_bytes_at_target"]):
        print(f"{table['table']:52s} {table['rows']:9,d} {table['disk_bytes'] / 1e6:8.2f} {table['memory_bytes'] / 1e6:8.1f}"
              f" | {table['rows_at_target']:11,d} {table['disk_bytes_at_target'] / 1e6:9.1f}"
              f" {table['memory_bytes_at_target'] / 1e6:9.1f}{'' if table['scales'] else '  (fixed)'}")
    print(f"total on disk: {totals['disk_bytes'] / 1e6:.1f} MB -> {totals['disk_bytes_at_target'] / 1e9:.2f} GB; "
          f"every table in memory at once: {totals['memory_bytes_at_target'] / 2**30:.2f} GiB")
    fits = largest["memory_bytes_at_target"] <= limit
    print(f"largest in memory: {largest['table']} {largest['memory_bytes_at_target'] / 2**30:.2f} GiB: "
          f"{'fits' if fits else 'does not fit'} comfortably in {args.memory_gib:g} GiB (<= {COMFORTABLE_SHARE:.0%})")
    write_result("output_size", {
        "directory": str(args.directory), "samples": measured, "target_samples": args.samples,
        "memory_gib": args.memory_gib, "largest": largest["table"], "largest_fits_comfortably": fits,
        **totals, "tables": tables,
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

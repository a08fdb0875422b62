"""`agingset`: build, describe and verify a dataset without DVC.

    agingset run --samples 200 --workers 4 --seed 7 --backend pybamm --output DIR
    agingset card [DIR]
    agingset check DIR
    agingset transfer --dataset DIR --cells FILE [--output FILE] [--models ...]

`run` executes the same stage commands as `dvc repro` (dvc.yaml's ``cmd``s, each in its own
process), in the same order, inside DIR (which receives the params.yaml it used), so DIR holds
byte-identical artifacts to a DVC build of those params. It ends by writing DIR/manifest.json,
the md5 of every artifact; `check` recomputes them, or, in a DVC project, compares the outputs
against dvc.lock. `transfer` trains baselines on a built dataset and scores them on the user's real
aged cells (docs/transfer.md).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from .catalog import (
    ARTIFACT_ROOTS,
    BPX_PREFIX,
    TRANSFER_MAX_SOC_DISTANCE,
    TRANSFER_MAX_TEMPERATURE_DISTANCE_C,
    TRANSFER_MODELS,
)
from .code_deps import DVC_YAML, stage_modules
from .config import parse_params
from .params import ParamsError

log = logging.getLogger("agingset")

# The pipeline's stages, read from dvc.yaml in its order: `agingset run` runs what `dvc repro` runs.
STAGE_MODULES = stage_modules() if DVC_YAML.is_file() else {}
STAGES = tuple(STAGE_MODULES)
MANIFEST = "manifest.json"
PARAMS_FILE = "params.yaml"
BACKENDS = ("pybamm",)
PROJECT_PARAMS = Path(__file__).resolve().parents[1] / PARAMS_FILE


class CliError(RuntimeError):
    """A problem the user can fix; printed as one line, exit code 2."""


class StageFailed(RuntimeError):
    """A stage exited non-zero after printing its own one-line error; the CLI exits with its code."""

    def __init__(self, stage: str, returncode: int):
        super().__init__(f"stage {stage} exited with {returncode}")
        self.stage, self.returncode = stage, returncode


@contextlib.contextmanager
def _environment(**variables: str | None) -> Iterator[None]:
    """Set (non-None) environment variables for the block only."""
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update({name: value for name, value in variables.items() if value is not None})
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dvc_out_md5(path: Path) -> str:
    """The hash dvc.lock records for an output: a file's md5, or DVC 3's ``.dir`` hash of a directory."""
    if not path.is_dir():
        return file_md5(path)
    entries = sorted(
        (
            {"md5": file_md5(file), "relpath": file.relative_to(path).as_posix()}
            for file in path.rglob("*")
            if file.is_file()
        ),
        key=lambda entry: entry["relpath"],
    )
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def artifact_hashes(directory: Path) -> dict[str, str]:
    """md5 of every artifact file under DIR, by path relative to DIR."""
    return {
        file.relative_to(directory).as_posix(): file_md5(file)
        for root in ARTIFACT_ROOTS
        if (directory / root).is_dir()
        for file in sorted((directory / root).rglob("*"))
        if file.is_file() and not file.name.startswith(".")
    }


def _read_params(path: Path, samples: int | None, seed: int | None) -> dict:
    if not path.exists():
        raise CliError(f"{path}: params file not found (pass --params FILE)")
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise CliError(f"{path}: top level must be a mapping of sections")
    if samples is not None:
        raw["samples"] = samples
    if seed is not None:
        raw["seed"] = seed
    parameter_set = str(raw.get("model", {}).get("parameter_set", ""))
    if parameter_set.startswith(BPX_PREFIX):  # relative to the params file, like the DVC project root
        raw["model"]["parameter_set"] = BPX_PREFIX + str(
            (path.parent / parameter_set.removeprefix(BPX_PREFIX)).resolve()
        )
    parse_params(raw)  # fail before anything is written
    return raw


def _bundle_bpx(raw: dict, output: Path) -> dict:
    """Copy a BPX parameter file into the output, so the directory alone reproduces the dataset."""
    parameter_set = raw["model"]["parameter_set"]
    if not parameter_set.startswith(BPX_PREFIX):
        return raw
    source = Path(parameter_set.removeprefix(BPX_PREFIX))
    shutil.copyfile(source, output / source.name)
    return {**raw, "model": {**raw["model"], "parameter_set": BPX_PREFIX + source.name}}


CALIBRATION_FILES = ("spectra", "rate_tests", "drive_cycle", "pulse_resistance", "rate_test_ocv")


def _bundle_measurement(raw: dict, params_file: Path, output: Path) -> None:
    """Copy the calibration measurements to the same relative paths inside the output.

    The path strings stay as written, so the calibration outputs (which record them) are the
    same bytes as the DVC project's.
    """
    section = raw.get("calibrate", {})
    for key in CALIBRATION_FILES:
        measurement = section.get(key)
        if not measurement or Path(measurement).is_absolute():
            continue
        for base in (params_file.parent, PROJECT_PARAMS.parent):
            if (base / measurement).is_file():
                (output / measurement).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(base / measurement, output / measurement)
                break
        else:
            raise CliError(f"calibrate.{key}: {measurement} not found next to {params_file} or in the project")


def run_pipeline(directory: Path, stages=STAGES) -> None:
    """Run the stages' commands of dvc.yaml in order inside ``directory`` (which holds params.yaml),
    each in its own process as `dvc repro` runs it; a failing stage has printed its one-line error."""
    parse_params(yaml.safe_load((directory / PARAMS_FILE).read_text()))  # fail before any stage starts
    level = logging.getLevelName(log.getEffectiveLevel())
    for number, name in enumerate(stages, 1):
        started = time.perf_counter()
        log.info("[%d/%d] %s", number, len(stages), name)
        command = [sys.executable, "-m", STAGE_MODULES[name]]
        with _environment(AGINGSET_LOG_LEVEL=os.environ.get("AGINGSET_LOG_LEVEL", level)):
            returncode = subprocess.run(command, cwd=directory, check=False).returncode
        if returncode:
            raise StageFailed(name, returncode)
        log.info("[%d/%d] %s done in %.1f s", number, len(stages), name, time.perf_counter() - started)


def command_run(args) -> int:
    params_file = (
        Path(args.params)
        if args.params
        else (Path(PARAMS_FILE) if Path(PARAMS_FILE).exists() else PROJECT_PARAMS)
    )
    raw = _read_params(params_file, args.samples, args.seed)
    output = Path(args.output)
    if output.exists() and any(output.iterdir()) and not (output / PARAMS_FILE).exists():
        raise CliError(
            f"{output}: exists and is not an agingset output directory; choose an empty or new one"
        )
    output.mkdir(parents=True, exist_ok=True)
    (output / PARAMS_FILE).write_text(yaml.safe_dump(_bundle_bpx(raw, output), sort_keys=False))
    _bundle_measurement(raw, params_file, output)
    (output / MANIFEST).unlink(missing_ok=True)
    started = time.perf_counter()
    with _environment(AGINGSET_WORKERS=str(args.workers) if args.workers else None):
        run_pipeline(output)
    hashes = artifact_hashes(output)
    (output / MANIFEST).write_text(json.dumps({"files": hashes}, indent=2, sort_keys=True) + "\n")
    log.info(
        "dataset in %s: %d files in %.0f s; card: %s",
        output,
        len(hashes),
        time.perf_counter() - started,
        output / "docs/dataset_card/README.md",
    )
    return 0


def command_card(args) -> int:
    directory = Path(args.directory)
    if not (directory / PARAMS_FILE).exists():
        raise CliError(f"{directory}: no {PARAMS_FILE}; point at a project or an `agingset run` output")
    run_pipeline(directory, stages=("card",))
    log.info("card: %s", directory / "docs/dataset_card/README.md")
    return 0


def _expected_hashes(directory: Path) -> dict[str, str]:
    if (directory / MANIFEST).exists():
        return json.loads((directory / MANIFEST).read_text())["files"]
    if (directory / "dvc.lock").exists():
        lock = yaml.safe_load((directory / "dvc.lock").read_text())
        return {
            out["path"]: out["md5"]
            for stage in lock.get("stages", {}).values()
            for out in stage.get("outs", [])
        }
    raise CliError(
        f"{directory}: neither {MANIFEST} (agingset run) nor dvc.lock (dvc repro) to check against"
    )


def command_check(args) -> int:
    directory = Path(args.directory)
    expected = _expected_hashes(directory)
    problems = []
    for path, md5 in sorted(expected.items()):
        target = directory / path
        if not target.exists():
            problems.append(f"missing  {path}")
        elif dvc_out_md5(target) != md5:
            problems.append(f"changed  {path}")
    if (directory / MANIFEST).exists():
        problems += [f"extra    {path}" for path in sorted(set(artifact_hashes(directory)) - set(expected))]
    for line in problems:
        print(line)
    print(f"{directory}: {len(expected)} artifacts checked, {len(problems)} problems")
    return 1 if problems else 0


def command_transfer(args) -> int:
    from . import transfer
    from .errors import InputError
    from .transfer_files import read_dataset, read_user_cells

    limits = transfer.Limits(args.max_temperature_distance, args.max_soc_distance)
    try:
        cells = read_user_cells(args.cells)  # first: a malformed file is refused without loading the dataset
        dataset = read_dataset(args.dataset)
        result = transfer.transfer(dataset, cells, args.models, limits)
    except InputError as err:
        raise CliError(str(err)) from None
    except transfer.UserCellsError as err:
        raise CliError(f"{args.cells}: {err}") from None
    except transfer.DatasetError as err:
        raise CliError(f"{args.dataset}: {err}") from None
    print(transfer.format_conditions(result))
    print(transfer.format_table(result))
    if args.output:
        report = {
            "dataset": str(args.dataset),
            "cells": str(args.cells),
            "units": "percentage points of relative capacity (capacity / the cell's first check-up's)",
            "headline": "mae_pct: check-ups after each cell's reference",
            "limits": {"max_temperature_distance_c": limits.max_temperature_distance_c, "max_soc_distance": limits.max_soc_distance},
            "band_hz": list(result.band_hz),
            "frequencies_hz": result.frequencies_hz.tolist(),
            "features": result.features,
            "conditions": result.conditions.to_dict(orient="records"),
            "scores": result.scores.to_dict(orient="records"),
            "predictions": json.loads(result.predictions.to_json(orient="records", double_precision=15)),
            "notes": result.notes,
        }
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(f".{output.name}.partial")  # written whole, then renamed: never half a file
        partial.write_text(json.dumps(report, indent=2, default=float) + "\n")
        partial.replace(output)
    return 0


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agingset", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars (same as AGINGSET_QUIET=1)"
    )
    parser.add_argument(
        "--log-level", default=None, help="DEBUG, INFO, WARNING... (default: AGINGSET_LOG_LEVEL or INFO)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="build a dataset into DIR with the pipeline's stage code")
    run.add_argument("--output", "-o", required=True, help="output directory (created)")
    run.add_argument("--samples", type=int, help="number of aging trajectories (overrides params)")
    run.add_argument("--seed", type=int, help="design and split seed (overrides params)")
    run.add_argument(
        "--workers", type=_positive_int, help="worker processes (default: AGINGSET_WORKERS or all cores)"
    )
    run.add_argument("--backend", choices=BACKENDS, default="pybamm", help="simulation backend")
    run.add_argument(
        "--params", help="params.yaml to start from (default: ./params.yaml, else the project's)"
    )
    run.set_defaults(handler=command_run)

    card = commands.add_parser("card", help="(re)write DIR/docs/dataset_card from a built dataset")
    card.add_argument("directory", nargs="?", default=".")
    card.set_defaults(handler=command_card)

    check = commands.add_parser("check", help="verify a built dataset against its manifest or dvc.lock")
    check.add_argument("directory")
    check.set_defaults(handler=command_check)

    transfer = commands.add_parser(
        "transfer", help="train baselines on a built dataset, score them on your aged cells (docs/transfer.md)"
    )
    transfer.add_argument("--dataset", required=True, help="built dataset: a DVC project or an `agingset run --output` DIR")
    transfer.add_argument("--cells", required=True, help="your cells: CSV or Parquet in the format of docs/transfer.md")
    transfer.add_argument("--output", "-o", help="write scores and per-check-up predictions to this JSON file")
    transfer.add_argument("--models", nargs="+", choices=TRANSFER_MODELS, default=list(TRANSFER_MODELS), help="models to score (default: all)")
    transfer.add_argument(
        "--max-temperature-distance", type=float, default=TRANSFER_MAX_TEMPERATURE_DISTANCE_C,
        help="refuse check-ups farther than this (deg C) from the dataset's nearest spectrum temperature",
    )
    transfer.add_argument(
        "--max-soc-distance", type=float, default=TRANSFER_MAX_SOC_DISTANCE,
        help="refuse check-ups farther than this (0..1) from the dataset's nearest spectrum SOC",
    )
    transfer.set_defaults(handler=command_transfer)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quiet:
        os.environ["AGINGSET_QUIET"] = "1"  # read by the executor's progress bars in this process
    level = (args.log_level or os.environ.get("AGINGSET_LOG_LEVEL", "INFO")).upper()
    if not isinstance(logging.getLevelName(level), int):
        print(f"error: unknown log level {level!r}; allowed: DEBUG, INFO, WARNING, ERROR", file=sys.stderr)
        return 2
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", force=True)
    try:
        return args.handler(args)
    except (CliError, ParamsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except StageFailed as failed:
        log.debug("%s", failed)
        return failed.returncode


if __name__ == "__main__":
    sys.exit(main())

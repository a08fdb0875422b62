"""Atomic outputs and the shared stage entry point.

Every output is written to a temporary sibling and renamed into place, so a reader (or
an interrupted run) never sees a half-written file, and a failing stage leaves the
previous outputs untouched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from agingset.config import load_params
from agingset.errors import InputError
from agingset.params import Params, ParamsError

PARAMS_FILE = "params.yaml"


@contextlib.contextmanager
def atomic_path(target: str | Path, directory: bool = False) -> Iterator[Path]:
    """A temporary path that replaces ``target`` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    else:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(handle)
        temporary = Path(name)
    # mkstemp/mkdtemp create owner-only entries; a dataset is meant to be shared.
    umask = os.umask(0)
    os.umask(umask)
    temporary.chmod((0o777 if directory else 0o666) & ~umask)
    try:
        yield temporary
        if directory:
            backup = target.with_name(f".{target.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            if target.exists():
                target.rename(backup)
            temporary.rename(target)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(temporary, target)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary) if temporary.is_dir() else temporary.unlink()


def write_parquet(frame: pd.DataFrame, target: str | Path) -> None:
    with atomic_path(target) as temporary:
        frame.to_parquet(temporary, index=False)


def write_json(payload: dict, target: str | Path) -> None:
    with atomic_path(target) as temporary:
        temporary.write_text(json.dumps(payload, indent=2, sort_keys=True, default=float) + "\n")


def write_text(text: str, target: str | Path) -> None:
    with atomic_path(target) as temporary:
        temporary.write_text(text)


def run_stage(main: Callable[[Params], None]) -> None:
    """Validate params, run the stage, turn expected errors into one line and exit 2."""
    logging.basicConfig(level=os.environ.get("AGINGSET_LOG_LEVEL", "WARNING"), format="%(levelname)s %(message)s")
    try:
        params = load_params(PARAMS_FILE)
        main(params)
    except (ParamsError, StageError, InputError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:  # disk full, unwritable or missing path: outputs stay as they were
        where = f" ({err.filename})" if err.filename else ""
        print(f"error: {err.strerror or err}{where}; previous outputs are unchanged", file=sys.stderr)
        sys.exit(3)


class StageError(RuntimeError):
    """A stage cannot produce a valid output (the message says why)."""

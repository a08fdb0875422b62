"""Run one function over many samples, in-process or on a local process pool.

Execution settings change how fast results arrive, never what they are: results come
back in task order whatever the worker count, and each worker keeps its built models
(see ``cached``) for the tasks it receives.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from tqdm import tqdm

WORKERS_ENV = "AGINGSET_WORKERS"

_CACHE: dict[Hashable, object] = {}


def default_workers() -> int:
    value = os.environ.get(WORKERS_ENV, "")
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{WORKERS_ENV} must be a positive integer, got {value!r}")
        return int(value)
    return os.cpu_count() or 1


def cached(key: Hashable, build: Callable[[], object]) -> object:
    """The object built for ``key`` in this process (a built model, say), built on first use."""
    if key not in _CACHE:
        _CACHE[key] = build()
    return _CACHE[key]


def _init_worker() -> None:
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")


def map_ordered(function: Callable, tasks: Sequence, workers: int, description: str) -> list:
    """``[function(task) for task in tasks]``, on ``workers`` processes, with progress."""
    quiet = os.environ.get("AGINGSET_QUIET") == "1"
    progress = tqdm(total=len(tasks), desc=description, unit="sample", disable=quiet)
    if workers <= 1 or len(tasks) <= 1:
        results = []
        for task in tasks:
            results.append(function(task))
            progress.update()
        progress.close()
        return results
    context = multiprocessing.get_context("spawn")
    results: list = [None] * len(tasks)
    with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context, initializer=_init_worker) as pool:
        futures = {pool.submit(function, task): index for index, task in enumerate(tasks)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            progress.update()
    progress.close()
    return results

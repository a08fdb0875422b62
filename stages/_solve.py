"""Solve every task of a stage through the per-sample cache and the configured executor."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from agingset.cache import ResultCache, code_fingerprint
from agingset.code_deps import ROOT, closure_files
from agingset.executor import run_tasks


def solve_all(
    function: Callable, tasks: Sequence, name: str, hard_timeout_s: float | None, encoded: bool = False
) -> list:
    """Results in task order, cached per task under the code closure of ``function``'s module
    (that module and every project module it imports, transitively: see agingset.code_deps); with
    ``encoded``, as their Parquet bytes (:func:`agingset.executor.run_tasks`)."""
    results, report = run_tasks(
        function,
        tasks,
        name,
        cache=ResultCache.from_env(name),
        fingerprint=code_fingerprint(ROOT / path for path in closure_files(function.__module__)),
        hard_timeout_s=hard_timeout_s,
        encoded=encoded,
    )
    print(f"{name}: {report}", file=sys.stderr)
    return results

"""Solve every task of a stage through the per-sample cache and the configured executor."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from agingset.cache import ResultCache, code_fingerprint
from agingset.executor import run_tasks


def solve_all(
    function: Callable, tasks: Sequence, name: str, code: Iterable[str | Path], hard_timeout_s: float
) -> list:
    """Results in task order. ``code`` are the source files the results depend on (cache key)."""
    results, report = run_tasks(
        function,
        tasks,
        name,
        cache=ResultCache.from_env(name),
        fingerprint=code_fingerprint(code),
        hard_timeout_s=hard_timeout_s,
    )
    print(f"{name}: {report}", file=sys.stderr)
    return results

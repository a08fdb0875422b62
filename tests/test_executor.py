"""The executor and the per-sample cache, on toy tasks: order, hangs, crashes, corruption, growth."""

import os
import time
from dataclasses import dataclass

import pandas as pd
import pytest

from agingset.cache import ResultCache
from agingset.executor import Settings, run_tasks


@dataclass(frozen=True)
class ToyTask:
    value: int
    behaviour: str = "ok"  # ok | hang | crash | raise

    def cache_token(self) -> str:
        return f"{self.value}:{self.behaviour}"

    def failure(self, status: str, message: str) -> pd.DataFrame:
        return pd.DataFrame({"value": [self.value], "square": [float("nan")], "status": [f"{status}: {message}"]})


def toy_solve(task: ToyTask) -> pd.DataFrame:
    if task.behaviour == "hang":
        time.sleep(600)
    elif task.behaviour == "crash":
        os._exit(3)
    elif task.behaviour == "raise":
        raise RuntimeError("solver said no")
    return pd.DataFrame({"value": [task.value], "square": [float(task.value) ** 2], "status": ["ok"]})


def _frame(results) -> pd.DataFrame:
    return pd.concat(results, ignore_index=True)


LOCAL_1 = Settings(executor="local", workers=1, quiet=True)
LOCAL_2 = Settings(executor="local", workers=2, quiet=True)


def test_results_in_task_order_identical_for_any_worker_count():
    tasks = [ToyTask(v) for v in (5, 3, 8, 1, 9)]
    serial, _ = run_tasks(toy_solve, tasks, "toy", settings=LOCAL_1)
    parallel, _ = run_tasks(toy_solve, tasks, "toy", settings=LOCAL_2, hard_timeout_s=60)
    assert list(_frame(serial)["value"]) == [5, 3, 8, 1, 9]
    pd.testing.assert_frame_equal(_frame(serial), _frame(parallel))


def test_dask_executor_gives_the_same_results():
    pytest.importorskip("distributed")
    tasks = [ToyTask(v) for v in (4, 2, 7)]
    serial, _ = run_tasks(toy_solve, tasks, "toy", settings=LOCAL_1)
    on_dask, report = run_tasks(toy_solve, tasks, "toy", settings=Settings(executor="dask", workers=2, quiet=True))
    pd.testing.assert_frame_equal(_frame(serial), _frame(on_dask))
    assert report.computed == 3


@pytest.mark.slow  # fault injection: a 3 s hard timeout is also missed by workers starting on a loaded machine
def test_hang_is_killed_at_the_hard_timeout_and_the_rest_finish():
    tasks = [ToyTask(1), ToyTask(2, "hang"), ToyTask(3)]
    results, report = run_tasks(toy_solve, tasks, "toy", settings=LOCAL_2, hard_timeout_s=3)
    frame = _frame(results)
    assert list(frame["value"]) == [1, 2, 3]
    assert frame["status"][1].startswith("timeout: no result after 3 s")
    assert list(frame["square"][[0, 2]]) == [1.0, 9.0]
    assert report.timed_out == 1


@pytest.mark.slow  # fault injection
def test_worker_crash_costs_one_sample_after_one_retry():
    tasks = [ToyTask(1), ToyTask(2, "crash"), ToyTask(3)]
    results, report = run_tasks(toy_solve, tasks, "toy", settings=LOCAL_2, hard_timeout_s=60)
    frame = _frame(results)
    assert frame["status"][1].startswith("failed: worker process died (exit code")
    assert list(frame["square"][[0, 2]]) == [1.0, 9.0]
    assert report.crashed == 2


def test_an_exception_is_recorded_as_that_samples_failure():
    results, _ = run_tasks(toy_solve, [ToyTask(1, "raise"), ToyTask(2)], "toy", settings=LOCAL_1)
    assert _frame(results)["status"].tolist() == ["failed: RuntimeError: solver said no", "ok"]


def test_growth_computes_only_new_samples_and_matches_a_fresh_run(tmp_path):
    cache = ResultCache(tmp_path, "toy")
    first, report = run_tasks(toy_solve, [ToyTask(v) for v in range(4)], "toy", cache=cache, settings=LOCAL_1)
    assert (report.computed, report.from_cache) == (4, 0)
    grown, report = run_tasks(toy_solve, [ToyTask(v) for v in range(6)], "toy", cache=cache, settings=LOCAL_2)
    assert (report.computed, report.from_cache) == (2, 4)
    fresh, _ = run_tasks(toy_solve, [ToyTask(v) for v in range(6)], "toy", settings=LOCAL_1)
    pd.testing.assert_frame_equal(_frame(grown), _frame(fresh))


def test_code_change_invalidates_the_cache(tmp_path):
    cache = ResultCache(tmp_path, "toy")
    run_tasks(toy_solve, [ToyTask(1)], "toy", cache=cache, fingerprint="v1", settings=LOCAL_1)
    _, report = run_tasks(toy_solve, [ToyTask(1)], "toy", cache=cache, fingerprint="v2", settings=LOCAL_1)
    assert report.computed == 1


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest"])
def test_corrupt_cache_entry_is_detected_and_recomputed(tmp_path, caplog, damage):
    cache = ResultCache(tmp_path, "toy")
    tasks = [ToyTask(v) for v in range(3)]
    clean, _ = run_tasks(toy_solve, tasks, "toy", cache=cache, settings=LOCAL_1)
    entry = sorted(p for p in (tmp_path / "toy").glob("*/*") if p.is_dir())[0]
    target = entry / ("manifest.json" if damage == "manifest" else "_frame.parquet")
    data = bytearray(target.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with caplog.at_level("WARNING"):
        again, report = run_tasks(toy_solve, tasks, "toy", cache=cache, settings=LOCAL_1)
    assert "corrupt" in caplog.text
    assert (report.computed, report.from_cache) == (1, 2)
    pd.testing.assert_frame_equal(_frame(clean), _frame(again))


def test_workers_keep_to_one_affinity_and_spread_over_different_ones():
    from collections import deque

    from agingset.executor import _take

    @dataclass(frozen=True)
    class Grouped:
        value: int
        group: str

        def affinity(self):
            return self.group

    pending = deque(enumerate(Grouped(i, g) for i, g in enumerate("AAABBC")))
    assert _take(pending, None, busy={"A"})[1].group == "B"  # a second worker starts elsewhere
    assert _take(pending, "A", busy={"B"})[1].group == "A"  # a worker stays with its built model
    assert [task.value for _, task in pending] == [1, 2, 4, 5]  # the rest keep their order


def test_model_cache_keeps_only_the_most_recently_used_builds():
    from agingset import executor

    executor._CACHE.clear()
    builds = []
    for key in ["a", "b", "a", "c", "d", "e", "a", "b"]:
        executor.cached(key, lambda key=key: builds.append(key) or key)
    # "a" stays warm while in use; "b" was evicted by c, d, e and is rebuilt.
    assert builds == ["a", "b", "c", "d", "e", "b"]
    assert len(executor._CACHE) == executor.MODEL_CACHE_SIZE
    executor._CACHE.clear()


def test_both_loops_share_the_timeout_and_crash_bookkeeping():
    """One helper: a crashed task is retried until the attempts run out (or at once recorded, as on
    Dask), a timed-out one recorded with what became of its worker; the report counts both."""
    from agingset.executor import _CRASH_ATTEMPTS, RunReport, _Outcomes

    finished, retried, report = {}, [], RunReport()
    outcomes = _Outcomes(lambda index, outcome: finished.setdefault(index, outcome), report, 3.0)
    for _ in range(_CRASH_ATTEMPTS):
        outcomes.crashed(0, "worker died", retry=lambda: retried.append(0))
    outcomes.crashed(1, "dask worker lost")
    outcomes.timed_out(2, "restarted")
    assert retried == [0] * (_CRASH_ATTEMPTS - 1)
    assert finished == {0: ("crash", "worker died"), 1: ("crash", "dask worker lost"),
                        2: ("timeout", "no result after 3 s; worker restarted")}
    assert (report.crashed, report.timed_out) == (_CRASH_ATTEMPTS + 1, 1)
    assert outcomes.overdue(0.0, 3.5) and not outcomes.overdue(0.0, 2.5)
    assert not _Outcomes(None, report, None).overdue(0.0, 1e9)

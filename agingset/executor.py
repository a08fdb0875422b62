"""Run one function over many samples: cached, in-process, on a local process pool or on Dask.

Execution settings change how fast results arrive, never what they are. Results come
back in task order whatever the executor or worker count; every result, fresh or cached,
takes the same parquet round trip, so outputs are byte-identical either way. Each worker
is a long-lived process that keeps its built models (see ``cached``) for the tasks it
receives.

A task is any picklable object with
  ``cache_token() -> str``           everything its result depends on, as text;
  ``failure(status, message)``       the result to record when it cannot be computed;
  ``cacheable(result) -> bool``      optional: False for results that depend on the machine
                                     (a sample that hit its wall-clock limit is retried next run);
  ``affinity() -> Hashable``         optional: tasks with equal affinity share a built model, so a
                                     worker keeps taking them and workers spread over different ones.
A worker that hangs past the hard deadline is killed and its sample recorded as ``timeout``;
a worker that dies is replaced and its sample retried once, then recorded as ``failed``. On Dask
the scheduler reruns the tasks a lost worker held (up to ``distributed.scheduler.allowed-failures``
times each, then ``failed``); the report counts the tasks that started again.

Every task runs inside :func:`agingset.compiled.models_in`: PyBaMM's compiled models go to the
project's cache (``$AGINGSET_CACHE_DIR/compiled``, resolved here and shipped to the workers), and a
worker waits for another's build of the same model instead of repeating it.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait

from tqdm import tqdm

from . import compiled
from .cache import ResultCache, decode, decode_lazily, encode, entry_key
from .catalog import STATUS_FAILED, STATUS_TIMEOUT

log = logging.getLogger(__name__)

WORKERS_ENV = "AGINGSET_WORKERS"
EXECUTOR_ENV = "AGINGSET_EXECUTOR"
SCHEDULER_ENV = "AGINGSET_SCHEDULER"
QUIET_ENV = "AGINGSET_QUIET"
EXECUTORS = ("local", "dask")
_CRASH_ATTEMPTS = 2
_POLL_S = 0.5
# Dask event topic: each task attempt's start on a worker, {"run", "index", "worker"}.
STARTED_TOPIC = "agingset-task-started"

# Built models kept per worker. A built simulation also holds its last solution (hundreds of
# MB for a long experiment), so only the most recently used few are kept: tasks arrive grouped
# by affinity, so a small cache loses no reuse.
MODEL_CACHE_SIZE = 4
_CACHE: OrderedDict[Hashable, object] = OrderedDict()


def cached(key: Hashable, build: Callable[[], object]) -> object:
    """The object built for ``key`` in this process (a built model, say), built on first use."""
    if key in _CACHE:
        _CACHE.move_to_end(key)
    else:
        _CACHE[key] = build()
        while len(_CACHE) > MODEL_CACHE_SIZE:
            _CACHE.popitem(last=False)
    return _CACHE[key]


@dataclass(frozen=True)
class Settings:
    """How to execute, from the environment: never part of params, never changes results."""

    executor: str = "local"
    workers: int = 1
    scheduler: str | None = None
    quiet: bool = False

    @classmethod
    def from_env(cls) -> Settings:
        executor = os.environ.get(EXECUTOR_ENV, "local")
        if executor not in EXECUTORS:
            raise ValueError(f"{EXECUTOR_ENV} must be one of {', '.join(EXECUTORS)}, got {executor!r}")
        workers = os.environ.get(WORKERS_ENV, "")
        if workers and (not workers.isdigit() or int(workers) < 1):
            raise ValueError(f"{WORKERS_ENV} must be a positive integer, got {workers!r}")
        return cls(
            executor=executor,
            workers=int(workers) if workers else (os.cpu_count() or 1),
            scheduler=os.environ.get(SCHEDULER_ENV) or None,
            quiet=os.environ.get(QUIET_ENV) == "1",
        )


@dataclass
class RunReport:
    computed: int = 0
    from_cache: int = 0
    timed_out: int = 0
    crashed: int = 0
    rerun: int = 0  # Dask: tasks started again after their worker was lost

    def __str__(self) -> str:
        text = (
            f"{self.computed} computed, {self.from_cache} from cache, "
            f"{self.timed_out} killed at the hard timeout, {self.crashed} worker crashes"
        )
        return text + (f", {self.rerun} rerun after a lost worker" if self.rerun else "")


def _call(function: Callable, task, compiled_root: str | None = None) -> tuple[str, object]:
    """Run in a worker: the encoded result, or the error as one line. PyBaMM compiles into, and loads
    from, ``compiled_root`` (:func:`agingset.compiled.models_in`)."""
    try:
        with compiled.models_in(compiled_root):
            return "ok", encode(function(task))
    except Exception as err:  # the task's own failure, recorded for this sample only
        return "error", f"{type(err).__name__}: {' '.join(str(err).split())}"


def _dask_call(function: Callable, task, compiled_root: str | None, run: str, index: int) -> tuple[str, object]:
    """:func:`_call` on a Dask worker, first telling the scheduler that this attempt started
    (``STARTED_TOPIC``): a task that starts twice was rerun after its worker was lost."""
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(STARTED_TOPIC, {"run": run, "index": index, "worker": worker.address})
    return _call(function, task, compiled_root)


def _worker_main(connection, compiled_root: str | None = None) -> None:
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if message is None:
            return
        index, function, task = message
        connection.send((index, _call(function, task, compiled_root)))


class _Slot:
    """One worker process and the task it is running."""

    def __init__(self, context, compiled_root: str | None = None):
        self.compiled_root = compiled_root
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, compiled_root), daemon=True)
        self.process.start()
        child.close()
        self.index: int | None = None
        self.task = None
        self.started = 0.0

    def submit(self, index: int, function: Callable, task) -> None:
        self.index, self.task, self.started = index, task, time.monotonic()
        self.connection.send((index, function, task))

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.connection.send(None)
            except OSError:
                pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()


def _affinity(task) -> Hashable:
    return getattr(task, "affinity", lambda: None)()


def _take(pending: deque, last: Hashable, busy: set) -> tuple[int, object]:
    """The next task for a worker whose previous task had affinity ``last``.

    Prefer the same affinity (its model is built), then the first task of an affinity no
    other worker holds, then simply the first task. Only speed depends on this choice.
    """
    for wanted in (lambda a: a == last, lambda a: a not in busy):
        for position, (_, task) in enumerate(pending):
            if wanted(_affinity(task)):
                pending.rotate(-position)
                chosen = pending.popleft()
                pending.rotate(position)
                return chosen
    return pending.popleft()


class _Outcomes:
    """The timeout and crash bookkeeping of both executor loops: the report's counts, the recorded
    outcome, and the retry of a task whose worker died (``_CRASH_ATTEMPTS`` in all)."""

    def __init__(self, finish: Callable, report: RunReport, hard_timeout_s: float | None):
        self.finish, self.report, self.hard_timeout_s = finish, report, hard_timeout_s
        self.attempts: dict[int, int] = {}

    def overdue(self, started: float, now: float) -> bool:
        """True when a task started at ``started`` (monotonic seconds) is past the hard timeout."""
        return bool(self.hard_timeout_s) and now - started > self.hard_timeout_s

    def timed_out(self, index: int, worker: str) -> None:
        """Record task ``index`` as timed out; ``worker`` says what became of its worker."""
        self.report.timed_out += 1
        self.finish(index, ("timeout", f"no result after {self.hard_timeout_s:g} s; worker {worker}"))

    def crashed(self, index: int, message: str, retry: Callable[[], None] | None = None) -> None:
        """Count the death of task ``index``'s worker: ``retry()`` it while attempts remain, else record
        ``message``. Without ``retry`` (Dask retries lost tasks itself) it is recorded at once."""
        self.report.crashed += 1
        self.attempts[index] = self.attempts.get(index, 0) + 1
        if retry is not None and self.attempts[index] < _CRASH_ATTEMPTS:
            retry()
        else:
            self.finish(index, ("crash", message))


# Idle local workers kept for the next run_tasks of this process (the labels stage runs one per block
# of samples): a worker's start, imports and built models are paid once. Stopped at exit.
_IDLE: list[_Slot] = []


def _stop_idle() -> None:
    while _IDLE:
        _IDLE.pop().stop()


atexit.register(_stop_idle)


def _workers(context, count: int, compiled_root: str | None) -> list[_Slot]:
    """``count`` workers: idle ones of this process first (same compiled-model folder), then new ones."""
    kept = [slot for slot in _IDLE if slot.compiled_root == compiled_root and slot.process.is_alive()][:count]
    for slot in _IDLE:
        if slot not in kept:
            slot.stop()
    _IDLE.clear()
    return kept + [_Slot(context, compiled_root) for _ in range(count - len(kept))]


def _run_local(function, pending: deque, workers: int, outcomes: _Outcomes, compiled_root: str | None) -> None:
    """Hand tasks to long-lived spawned workers one at a time, grouped by affinity."""
    context = multiprocessing.get_context("spawn")
    slots = _workers(context, min(workers, len(pending)), compiled_root)
    try:
        while pending or any(slot.index is not None for slot in slots):
            for slot in slots:
                if slot.index is None and pending:
                    busy = {_affinity(other.task) for other in slots if other.index is not None}
                    index, task = _take(pending, _affinity(slot.task) if slot.task is not None else None, busy)
                    slot.submit(index, function, task)
            busy = [slot for slot in slots if slot.index is not None]
            ready = wait([slot.connection for slot in busy], timeout=_POLL_S)
            for position, slot in enumerate(slots):
                if slot.index is None:
                    continue
                index, task = slot.index, slot.task
                if slot.connection in ready:
                    try:
                        _, outcome = slot.connection.recv()
                    except (EOFError, OSError):
                        outcome = None
                    if outcome is not None:
                        slot.index = None
                        outcomes.finish(index, outcome)
                        continue
                    exit_code = slot.process.exitcode
                    slot.stop(kill=True)
                    slots[position] = _Slot(context, compiled_root)
                    outcomes.crashed(
                        index,
                        f"worker process died (exit code {exit_code}), twice",
                        retry=lambda: pending.appendleft((index, task)),
                    )
                elif outcomes.overdue(slot.started, time.monotonic()):
                    slot.stop(kill=True)
                    slots[position] = _Slot(context, compiled_root)
                    outcomes.timed_out(index, "stopped")
    finally:
        for slot in slots:
            if slot.index is None and slot.process.is_alive():
                _IDLE.append(slot)
            else:
                slot.stop(kill=True)


def _dask_workers(client) -> int:
    """The scheduler's workers now: they join late (a batch queue) and leave (lost)."""
    return len(client.nthreads())


def _reruns(client, run: str) -> dict[int, list[str]]:
    """Tasks of ``run`` that started more than once: index -> the workers of each attempt, in order."""
    attempts: dict[int, list[str]] = {}
    for _, message in client.get_events(STARTED_TOPIC):
        if isinstance(message, dict) and message.get("run") == run:
            attempts.setdefault(message["index"], []).append(message["worker"])
    return {index: workers for index, workers in attempts.items() if len(workers) > 1}


def _run_dask(function, pending: deque, settings: Settings, outcomes: _Outcomes, compiled_root: str | None) -> None:
    """The same loop on Dask: at most one task per worker in flight, so built models are reused.

    A lost worker's tasks are rescheduled by Dask itself: their futures stay pending and complete once,
    on another worker, so each is recorded once; a task lost more than ``allowed-failures`` times raises
    ``KilledWorker`` and is recorded as failed. The tasks that started again are counted in the report
    and logged with the workers they were lost on: a lost worker costs only the tasks it was running."""
    from distributed import Client, LocalCluster
    from distributed import wait as dask_wait

    if settings.scheduler:
        client, cluster = Client(settings.scheduler), None
    else:
        # Loopback only: a scheduler reachable from the network would run anyone's code.
        cluster = LocalCluster(
            n_workers=settings.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        )
        client = Client(cluster)
    run = uuid.uuid4().hex  # names this call's start events on a shared scheduler
    warned = False
    try:
        in_flight: dict = {}
        while pending or in_flight:
            workers = _dask_workers(client)
            if not workers and not warned:
                log.warning("no Dask worker on %s yet; waiting for one", settings.scheduler or "the LocalCluster")
                warned = True
            while pending and len(in_flight) < max(1, workers):
                index, task = pending.popleft()
                future = client.submit(_dask_call, function, task, compiled_root, run, index, pure=False)
                in_flight[future] = (index, time.monotonic())
            try:
                done, _ = dask_wait(list(in_flight), timeout=_POLL_S, return_when="FIRST_COMPLETED")
            except TimeoutError:  # dask's wait raises where concurrent.futures' returns
                done = set()
            for future in done:
                index, _ = in_flight.pop(future)
                try:
                    result = future.result()
                except Exception as err:  # lost more than allowed-failures times (KilledWorker)
                    outcomes.crashed(index, f"dask worker lost: {type(err).__name__}: {err}")
                else:
                    outcomes.finish(index, result)
            now = time.monotonic()
            for future, (index, started) in list(in_flight.items()):
                if outcomes.overdue(started, now):
                    in_flight.pop(future)
                    holders = [w for w, keys in client.processing().items() if future.key in keys]
                    future.cancel()
                    if holders:
                        client.restart_workers(holders)
                    outcomes.timed_out(index, "restarted")
        reruns = _reruns(client, run)
        outcomes.report.rerun = len(reruns)
        if reruns:
            lost = sorted({worker for workers in reruns.values() for worker in workers[:-1]})
            log.warning("%d task(s) started again after their worker was lost (%s)", len(reruns), ", ".join(lost))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_tasks(
    function: Callable,
    tasks: Sequence,
    description: str,
    cache: ResultCache | None = None,
    fingerprint: str = "",
    hard_timeout_s: float | None = None,
    settings: Settings | None = None,
    encoded: bool = False,
) -> tuple[list, RunReport]:
    """``[function(task) for task in tasks]``: cached results reused, the rest computed in parallel.

    With ``encoded`` each result stays as its Parquet bytes (:func:`agingset.cache.decode` gives the
    frames): a stage that writes the results a block at a time then holds the compressed dataset, not
    its frames."""
    settings = settings or Settings.from_env()
    report = RunReport()
    results: list = [None] * len(tasks)
    keys = [entry_key(description, task.cache_token(), fingerprint) for task in tasks] if cache else None
    progress = tqdm(total=len(tasks), desc=description, unit="sample", disable=settings.quiet, smoothing=0.1)

    def finish(index: int, outcome: tuple[str, object]) -> None:
        kind, payload = outcome
        task = tasks[index]
        if kind == "ok":
            check = getattr(task, "cacheable", None)
            result = None if encoded else decode(payload)
            if cache is not None and (check is None or check(decode_lazily(payload) if encoded else result)):
                cache.store(keys[index], payload)
            report.computed += 1
        else:
            status = STATUS_TIMEOUT if kind == "timeout" else STATUS_FAILED
            payload = encode(task.failure(status, payload))
            result = None if encoded else decode(payload)
        results[index] = payload if encoded else result
        progress.update()

    pending: deque = deque()
    for index, task in enumerate(tasks):
        stored = cache.load(keys[index]) if cache is not None else None
        if stored is None:
            pending.append((index, task))
        else:
            results[index] = stored if encoded else decode(stored)
            report.from_cache += 1
            progress.update()

    outcomes = _Outcomes(finish, report, hard_timeout_s)
    compiled_root = compiled.root()
    if settings.executor == "dask" and pending:
        _run_dask(function, pending, settings, outcomes, compiled_root)
    elif settings.workers <= 1 and not hard_timeout_s:
        while pending:
            index, task = pending.popleft()
            finish(index, _call(function, task, compiled_root))
    elif pending:
        _run_local(function, pending, settings.workers, outcomes, compiled_root)
    progress.close()
    log.info("%s: %s", description, report)
    return results, report

"""Scale-out as users run it: `dask scheduler` and two `dask worker` processes from the command line, the solving
stages sent to them with AGINGSET_EXECUTOR=dask and AGINGSET_SCHEDULER, one worker killed mid-solve."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agingset.executor import STARTED_TOPIC
from tests.test_dvc_pipeline import _env
from tests.test_reliability import _same_dir, _solve_project, _wait_for

pytestmark = pytest.mark.slow  # fault injection on real solves, on a real cluster

distributed = pytest.importorskip("distributed")


def _start(command: list[str], cwd: Path, env: dict, log: Path) -> subprocess.Popen:
    """A process in its own session (its group id is its pid): killing the group takes its children too."""
    with open(log, "wb") as output:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _group_alive(group: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def _stop(process: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _group_alive(process.pid):
            break
    process.wait(timeout=30)


def _counts(stderr: str, stage: str) -> dict[str, int]:
    line = re.search(rf"^{stage}: (.*)$", stderr, re.MULTILINE).group(1)
    return {name: int(count) for count, name in re.findall(r"(\d+) ([a-z][a-z ]*[a-z])", line)}


def test_cli_cluster_with_a_worker_killed_mid_solve_gives_the_local_bytes(tmp_path, tiny_dataset):
    repo = _solve_project(tmp_path / "project", tiny_dataset)
    scheduler_file = tmp_path / "s.json"
    # What every worker needs: this venv (same packages), the project importable, telemetry off, a temp folder.
    env = {**_env("2", "dask"), "PYBAMM_DISABLE_TELEMETRY": "true", "TMPDIR": os.environ["TMPDIR"],
           "PYTHONPATH": str(repo)}
    dask = str(Path(sys.executable).parent / "dask")
    processes = []
    client = None
    try:
        processes.append(_start([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                 "--scheduler-file", str(scheduler_file)], tmp_path, env, tmp_path / "scheduler.log"))
        _wait_for(lambda: scheduler_file.is_file() and scheduler_file.stat().st_size > 0, 60)
        for name in ("w1", "w2"):
            processes.append(_start(
                [dask, "worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1", "--nworkers", "1",
                 "--host", "127.0.0.1", "--no-dashboard", "--name", name, "--local-directory", str(tmp_path / name)],
                repo, env, tmp_path / f"{name}.log"))  # fmt: skip
        client = distributed.Client(scheduler_file=str(scheduler_file), timeout=60)
        client.wait_for_workers(2, timeout=120)
        address = json.loads(scheduler_file.read_text())["address"]
        groups = {worker: os.getpgid(pid) for worker, pid in client.run(os.getpid).items()}
        stage_env = {**env, "AGINGSET_SCHEDULER": address, "AGINGSET_CACHE_DIR": str(repo / ".agingset-cache")}

        stage = subprocess.Popen([sys.executable, "-m", "stages.solve_aging"], cwd=repo, env=stage_env,
                                 stderr=subprocess.PIPE, text=True, start_new_session=True)
        processes.append(stage)
        # Kill a worker once the scheduler has heard that one of its tasks started and still lists it there.
        victim, in_flight = None, 0

        def solving() -> bool:
            nonlocal victim, in_flight
            started = {message["worker"] for _, message in client.get_events(STARTED_TOPIC)}
            processing = client.processing()
            victim = next((worker for worker in sorted(started) if processing.get(worker)), None)
            in_flight = len(processing.get(victim, ()))
            return victim is not None

        _wait_for(solving, 300)
        os.killpg(groups[victim], signal.SIGKILL)
        _, stderr = stage.communicate(timeout=900)
        assert stage.returncode == 0, stderr
        counts = _counts(stderr, "solve_aging")
        print(f"killed {victim} with {in_flight} task(s) in flight; solve_aging: {counts}")
        assert counts["computed"] == 4 and counts["worker crashes"] == 0
        # The killed worker cost its started tasks, no more: each rerun once on the worker left.
        assert 1 <= counts.get("rerun after a lost worker", 0) <= in_flight, stderr
        assert "started again after their worker was lost" in stderr and victim in stderr
        assert victim not in client.scheduler_info(n_workers=-1)["workers"]

        eis = subprocess.run([sys.executable, "-m", "stages.solve_eis"], cwd=repo, env=stage_env,
                             capture_output=True, text=True, timeout=900, check=False)
        assert eis.returncode == 0, eis.stderr
        assert _counts(eis.stderr, "solve_eis")["computed"] == 4
        for table in ("data/aging", "data/eis"):
            assert _same_dir(tiny_dataset / table, repo / table), f"{table} differs from the local run's"
    finally:
        if client is not None:
            client.close()
        for process in reversed(processes):
            _stop(process)
    assert not [pid for process in processes for pid in _group_alive(process.pid)], "a process outlived the test"

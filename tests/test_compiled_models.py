"""PyBaMM's compiled models in the project's cache: where they land, and one build of each per machine."""

import os
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from agingset import compiled
from agingset.executor import Settings, run_tasks


@dataclass(frozen=True)
class CompiledSolve:
    """A one-state model solved with the project's compiled IDAKLU set-up, once every task has arrived
    (``barrier``): the workers reach the compiler together."""

    barrier: str
    tasks: int
    index: int

    def cache_token(self) -> str:
        return str(self.index)

    def failure(self, status: str, message: str) -> pd.DataFrame:
        return pd.DataFrame({"y_end": [float("nan")], "status": [f"{status}: {message}"]})


def compiled_solve(task: CompiledSolve) -> pd.DataFrame:
    import pybamm

    from agingset.params import SolverConfig
    from agingset.physics.model import solver

    barrier = Path(task.barrier)
    (barrier / str(task.index)).touch()
    deadline = time.monotonic() + 60
    while len(list(barrier.iterdir())) < task.tasks and time.monotonic() < deadline:
        time.sleep(0.01)
    model = pybamm.BaseModel()
    y = pybamm.Variable("y")
    model.rhs = {y: -pybamm.InputParameter("a") * y}
    model.initial_conditions = {y: pybamm.Scalar(1)}
    model.variables = {"y": y}
    pybamm.Discretisation().process_model(model)
    solution = solver(SolverConfig(compile=True)).solve(model, [0, 1], inputs={"a": 2.0})
    return pd.DataFrame({"y_end": [float(solution["y"].entries[-1])], "status": ["ok"]})


def _fake_gcc(folder: Path, log: Path) -> None:
    """A ``gcc`` first on the PATH that logs each call, takes 1.5 s more, then runs the real one: two
    workers' builds of one library overlap unless one waits for the other."""
    real = shutil.which("gcc")
    folder.mkdir()
    script = folder / "gcc"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nsleep 1.5\nexec "{real}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_workers_build_each_compiled_model_once_into_the_project_cache(tmp_path, monkeypatch):
    if shutil.which("gcc") is None:
        pytest.skip("no C compiler: PyBaMM falls back to casadi's virtual machine")
    calls = tmp_path / "gcc_calls.log"
    _fake_gcc(tmp_path / "bin", calls)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AGINGSET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PYBAMM_CASADI_AOT_CACHE", raising=False)
    system = Path(tempfile.gettempdir()) / "pybamm_casadi_aot"  # PyBaMM's default, this session's TMPDIR
    before = sorted(system.iterdir()) if system.is_dir() else []
    barrier = tmp_path / "barrier"
    barrier.mkdir()

    tasks = [CompiledSolve(str(barrier), 2, index) for index in range(2)]
    results, report = run_tasks(compiled_solve, tasks, "compiled", settings=Settings(workers=2, quiet=True),
                                hard_timeout_s=300)

    assert report.computed == 2 and list(results[0]["status"]) == ["ok"]
    pd.testing.assert_frame_equal(results[0], results[1])
    folder = tmp_path / "cache" / "compiled" / compiled.cpu_tag()
    libraries = sorted(folder.glob("pybamm_*.so"))
    assert libraries, f"no compiled model in {folder}"
    # Each library built by one worker; the other waited on its lock, then loaded it.
    assert len(calls.read_text().splitlines()) == len(libraries)
    locks = {path.stem for path in (folder / compiled.LOCKS).glob("*.lock")}
    assert {path.stem.rsplit("_", 1)[1] for path in libraries} == locks  # named by PyBaMM's hash
    assert (sorted(system.iterdir()) if system.is_dir() else []) == before, "nothing compiled into the system temp"
    assert "PYBAMM_CASADI_AOT_CACHE" not in os.environ


@dataclass(frozen=True)
class Probe:
    def cache_token(self) -> str:
        return "probe"

    def failure(self, status: str, message: str) -> pd.DataFrame:
        return pd.DataFrame({"folder": [f"{status}: {message}"]})


def pybamm_folder(task: Probe) -> pd.DataFrame:
    return pd.DataFrame({"folder": [os.environ.get("PYBAMM_CASADI_AOT_CACHE", "")]})


def test_compiled_model_folder_follows_the_cache_setting_and_is_created_only_to_compile(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYBAMM_CASADI_AOT_CACHE", raising=False)
    monkeypatch.delenv("AGINGSET_CACHE_DIR", raising=False)
    serial = Settings(workers=1, quiet=True)
    expected = tmp_path / ".agingset-cache" / "compiled" / compiled.cpu_tag()
    assert compiled.root() == str(tmp_path / ".agingset-cache" / "compiled")

    (result,), _ = run_tasks(pybamm_folder, [Probe()], "probe", settings=serial)
    assert result["folder"][0] == str(expected)
    assert "PYBAMM_CASADI_AOT_CACHE" not in os.environ  # restored after the in-process task
    assert not (tmp_path / ".agingset-cache").exists()  # nothing compiled, nothing created

    monkeypatch.setenv("PYBAMM_CASADI_AOT_CACHE", str(tmp_path / "mine"))  # a worker's own setting wins
    (result,), _ = run_tasks(pybamm_folder, [Probe()], "probe", settings=serial)
    assert result["folder"][0] == str(tmp_path / "mine")

    monkeypatch.delenv("PYBAMM_CASADI_AOT_CACHE")
    monkeypatch.setenv("AGINGSET_CACHE_DIR", "")  # caching off: PyBaMM's own default
    assert compiled.root() is None
    (result,), _ = run_tasks(pybamm_folder, [Probe()], "probe", settings=serial)
    assert result["folder"][0] == ""


def test_dask_workers_get_the_compiled_model_folder_of_the_submitting_project(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.delenv("PYBAMM_CASADI_AOT_CACHE", raising=False)
    monkeypatch.setenv("AGINGSET_CACHE_DIR", str(tmp_path / "cache"))
    (result,), _ = run_tasks(pybamm_folder, [Probe()], "probe", settings=Settings(executor="dask", workers=1, quiet=True))
    assert result["folder"][0] == str(tmp_path / "cache" / "compiled" / compiled.cpu_tag())

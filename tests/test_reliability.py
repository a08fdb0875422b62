"""Faults a long dataset run meets: kills, dead workers, corrupt caches, full disks, extreme corners."""

import filecmp
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT, tiny_params_dict
from tests.test_dvc_pipeline import _copy_project, _env, _run

pytestmark = pytest.mark.slow  # fault injection on real solves


def _uncalibrated() -> dict:
    """Tiny params solved on the parameter set's own values: for solve stages run without a calibration."""
    params = tiny_params_dict()
    params["model"]["base_values"] = "parameter_set"
    params["design"]["ranges"] = "prior"
    return params


def _project(path: Path, params: dict | None = None) -> Path:
    path.mkdir()
    _copy_project(path, params or _uncalibrated())
    _run(path, sys.executable, "-m", "stages.design")
    return path


def _cache_entries(repo: Path) -> list[Path]:
    return sorted((repo / ".agingset-cache/solve_aging").glob("*/*/manifest.json"))


def _same_dir(left: Path, right: Path) -> bool:
    names = sorted(p.name for p in left.iterdir())
    if names != sorted(p.name for p in right.iterdir()):
        return False
    _, mismatch, errors = filecmp.cmpfiles(left, right, names, shallow=False)
    return not mismatch and not errors


def _worker_pids(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in children if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]


@pytest.fixture(scope="module")
def reference(tiny_dataset) -> Path:
    """An uninterrupted solve_aging of the tiny design: the tiny dataset's (`agingset run`, one worker)."""
    return tiny_dataset / "data/aging"


def _solve_project(path: Path, tiny_dataset: Path) -> Path:
    """A copy of the project holding the tiny dataset's solve_aging inputs (its calibration and design)."""
    path.mkdir()
    _copy_project(path, tiny_params_dict())
    for inputs in ("data/calibrate", "data/design"):
        shutil.copytree(tiny_dataset / inputs, path / inputs)
    return path


def _wait_for(condition, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_kill_9_of_the_stage_then_rerun_reuses_finished_samples_and_matches(tmp_path, reference, tiny_dataset):
    repo = _solve_project(tmp_path / "killed", tiny_dataset)
    stage = subprocess.Popen(
        [sys.executable, "-m", "stages.solve_aging"],
        cwd=repo, env=_env("2"), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    _wait_for(lambda: _cache_entries(repo))
    os.killpg(stage.pid, signal.SIGKILL)
    stage.wait()
    assert not (repo / "data/aging").exists(), "a killed stage must not leave a visible output"
    finished = len(_cache_entries(repo))

    output = _run(repo, sys.executable, "-m", "stages.solve_aging")
    computed, reused = map(int, re.search(r"(\d+) computed, (\d+) from cache", output).groups())
    assert reused == finished >= 1 and computed + reused == 4
    assert _same_dir(reference, repo / "data/aging")


def test_kill_9_of_one_worker_costs_a_retry_not_the_sample(tmp_path, reference, tiny_dataset):
    repo = _solve_project(tmp_path / "worker", tiny_dataset)
    env = {**_env("2"), "AGINGSET_CACHE_DIR": ""}
    stage = subprocess.Popen(
        [sys.executable, "-m", "stages.solve_aging"], cwd=repo, env=env, stderr=subprocess.PIPE, text=True
    )
    _wait_for(lambda: len(_worker_pids(stage.pid)) == 2)
    time.sleep(3)  # let the workers start solving
    os.kill(_worker_pids(stage.pid)[0], signal.SIGKILL)
    _, stderr = stage.communicate(timeout=600)
    assert stage.returncode == 0, stderr
    assert "1 worker crashes" in stderr
    assert _same_dir(reference, repo / "data/aging")


def test_corrupt_cache_entry_is_recomputed_with_a_warning(tmp_path, reference, tiny_dataset):
    repo = _solve_project(tmp_path / "corrupt", tiny_dataset)
    # The per-sample cache a finished solve of these samples left (the tiny dataset's run), one entry damaged.
    shutil.copytree(tiny_dataset / ".agingset-cache/solve_aging", repo / ".agingset-cache/solve_aging")
    assert len(_cache_entries(repo)) == 4
    entry = _cache_entries(repo)[0].parent
    table = entry / "snapshots.parquet"
    data = bytearray(table.read_bytes())
    data[len(data) // 3] ^= 0xFF
    table.write_bytes(bytes(data))
    output = _run(repo, sys.executable, "-m", "stages.solve_aging")
    assert "is corrupt" in output and "1 computed, 3 from cache" in output
    assert _same_dir(reference, repo / "data/aging")


@pytest.mark.parametrize("fault", ["disk full", "output path blocked"])
def test_unwritable_output_gives_a_clear_error_and_keeps_previous_outputs(tmp_path, monkeypatch, capsys, fault):
    import stages.design
    from stages._io import run_stage

    repo = _project(tmp_path / "disk")
    previous = (repo / "data/design/samples.parquet").read_bytes()
    params = (repo / "params.yaml").read_text().replace("samples: 4", "samples: 6")
    (repo / "params.yaml").write_text(params)
    monkeypatch.chdir(repo)
    if fault == "disk full":
        def no_space(*args, **kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(pd.DataFrame, "to_parquet", no_space)
        expected = "No space left on device"
    else:
        monkeypatch.setattr(stages.design, "OUTPUT", "data/design/samples.parquet/blocked.parquet")
        expected = "data/design/samples.parquet"
    with pytest.raises(SystemExit) as exited:
        run_stage(stages.design.main)
    assert exited.value.code != 0
    stderr = capsys.readouterr().err
    assert expected in stderr and "previous outputs are unchanged" in stderr
    assert (repo / "data/design/samples.parquet").read_bytes() == previous
    assert not [p.name for p in (repo / "data/design").iterdir() if p.name.startswith(".")], "temporary files left"


def test_extreme_parameter_corners_complete_with_reasons(tmp_path):
    params = _uncalibrated()
    params["samples"] = 6
    cells = params["design"]["cell_parameters"]
    # Edges of, and past, physical ranges: nearly no active material, huge contact resistance,
    # SEI growth orders of magnitude above any published fit.
    cells["Negative electrode active material volume fraction"] = {"low": 0.05, "high": 0.95}
    cells["Contact resistance [Ohm]"] = {"low": 1.0e-4, "high": 0.5}
    cells["EC diffusivity [m2.s-1]"] = {"low": 1.0e-21, "high": 1.0e-12, "scale": "log"}
    params["solver"]["timeout_s"] = 30
    params["validate"].update(max_failure_rate=1.0, max_flagged_rate=1.0)
    repo = _project(tmp_path / "extreme", params)
    for stage in ("solve_aging", "solve_eis", "labels", "validate"):
        _run(repo, sys.executable, "-m", f"stages.{stage}")
    status = pd.read_parquet(repo / "data/aging/status.parquet")
    assert len(status) == 6
    bad = status[status["status"] != "ok"]
    assert len(bad) >= 1, status
    assert bad["message"].str.len().gt(0).all()
    quality = pd.read_json(repo / "metrics/quality.json", typ="series")
    assert quality["failure_rate"] == pytest.approx(len(bad) / 6)


def test_no_unsafe_deserialisation_or_shell_strings():
    sources = [*ROOT.glob("agingset/**/*.py"), *ROOT.glob("stages/*.py")]
    for path in sources:
        text = path.read_text()
        assert "yaml.load(" not in text and "yaml.unsafe_load" not in text, path
        assert not re.search(r"\bimport pickle\b|\bpickle\.load", text), path
        assert "shell=True" not in text and "os.system(" not in text, path
        assert not re.search(r"\beval\(|\bexec\(", text), path

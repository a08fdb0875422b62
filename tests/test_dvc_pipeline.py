"""End to end with the real dvc CLI in a temporary git repository holding a copy of the project."""

import filecmp
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, tiny_params_dict

PROJECT_FILES = ["dvc.yaml", "stages", "agingset", ".dvcignore", "reference-data"]


def _env(workers: str = "2") -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(PYBAMM_DISABLE_TELEMETRY="true", AGINGSET_QUIET="1", AGINGSET_WORKERS=workers)
    env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = "agingset tests"
    env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "tests@agingset.invalid"
    return env


def _run(repo: Path, *command: str, workers: str = "2") -> str:
    result = subprocess.run(command, cwd=repo, env=_env(workers), capture_output=True, text=True)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def _dvc(repo: Path, *args: str) -> str:
    return _run(repo, sys.executable, "-m", "dvc", *args)


def _stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def _copy_project(target: Path, params: dict) -> None:
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    (target / ".gitignore").write_text("/data/\n__pycache__/\n")
    (target / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _set_param(repo: Path, section: str, key: str, value) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params[section][key] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("project")
    _copy_project(repo, tiny_params_dict())
    _run(repo, "git", "init", "-q")
    _dvc(repo, "init", "-q")
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "commit", "-qm", "tiny project")
    return repo


def test_repro_builds_the_dataset(repo):
    output = _dvc(repo, "repro")
    assert _stages_run(output) == {
        "calibrate", "design", "sensitivity", "solve_aging", "solve_eis", "labels", "validate", "split", "train_baseline"
    }
    labels = pd.read_parquet(repo / "data/labels/labels.parquet")
    spectra = pd.read_parquet(repo / "data/eis/spectra.parquet")
    assert labels["sample_id"].nunique() == 4
    assert set(spectra.columns) >= {
        "sample_id", "snapshot", "soc", "temperature", "frequency_hz", "z_re_ohm", "z_im_ohm",
        "z_abs_ohm", "phase_deg", "backend", "solver_status",
    } - {"temperature"}
    split = pd.read_parquet(repo / "data/split/split.parquet")
    sides = split.groupby("cell_design_id")["split"].nunique()
    assert (sides == 1).all()
    for metrics in ("quality", "split", "train", "calibration", "sensitivity"):
        assert (repo / f"metrics/{metrics}.json").exists()
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "commit", "-qm", "dataset v1")


def test_second_repro_runs_nothing(repo):
    assert _stages_run(_dvc(repo, "repro")) == set()


def test_eis_change_reruns_only_impedance_and_downstream(repo):
    _set_param(repo, "eis", "points_per_decade", 3)
    ran = _stages_run(_dvc(repo, "repro"))
    assert {"solve_eis", "labels"} <= ran
    assert not ran & {"design", "solve_aging"}


def test_train_change_reruns_only_training(repo):
    _set_param(repo, "train", "n_estimators", 12)
    assert _stages_run(_dvc(repo, "repro")) == {"train_baseline"}
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "commit", "-qm", "dataset v2")


def test_exp_run_grows_the_dataset_and_metrics_diff_shows_it(repo):
    _dvc(repo, "exp", "run", "-S", "samples=6")
    design = pd.read_parquet(repo / "data/design/samples.parquet")
    assert len(design) == 6
    diff = _dvc(repo, "metrics", "diff")
    assert re.search(r"metrics/quality\.json\s+samples\s+4\s+6", diff), diff


def test_outputs_do_not_depend_on_worker_count(tmp_path):
    outputs = {}
    for workers in ("1", "2"):
        repo = tmp_path / f"workers{workers}"
        repo.mkdir()
        _copy_project(repo, tiny_params_dict())
        for stage in ("calibrate", "design", "solve_aging", "solve_eis", "sensitivity"):
            _run(repo, sys.executable, "-m", f"stages.{stage}", workers=workers)
        outputs[workers] = repo / "data"
    comparison = filecmp.dircmp(outputs["1"] / "aging", outputs["2"] / "aging")
    assert comparison.left_list == comparison.right_list
    match, mismatch, errors = filecmp.cmpfiles(
        outputs["1"] / "aging", outputs["2"] / "aging", comparison.left_list, shallow=False
    )
    assert not mismatch and not errors
    assert filecmp.cmp(outputs["1"] / "eis/spectra.parquet", outputs["2"] / "eis/spectra.parquet", shallow=False)
    for table in ("runs", "indices"):
        first, second = (outputs[w] / f"sensitivity/{table}.parquet" for w in ("1", "2"))
        assert filecmp.cmp(first, second, shallow=False)

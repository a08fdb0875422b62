"""End to end with the real dvc CLI in a temporary git repository holding a copy of the project.

The project is built once per session; every test reads it or works on its own copy, so each passes
alone, with -k or in any order.
"""

import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, built_once, tiny_params_dict

pytestmark = pytest.mark.slow  # the whole pipeline with the real dvc CLI

PROJECT_FILES = ["dvc.yaml", "stages", "agingset", ".dvcignore", "reference-data"]


def _env(workers: str = "2", executor: str = "local") -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        PYBAMM_DISABLE_TELEMETRY="true", AGINGSET_QUIET="1", AGINGSET_WORKERS=workers, AGINGSET_EXECUTOR=executor
    )
    env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = "agingset tests"
    env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "tests@agingset.invalid"
    return env


def _run(repo: Path, *command: str, workers: str = "2", executor: str = "local") -> str:
    result = subprocess.run(command, cwd=repo, env=_env(workers, executor), capture_output=True, text=True)
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
    (target / ".gitignore").write_text("/data/\n__pycache__/\n/.agingset-cache/\n")
    (target / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _set_param(repo: Path, section: str, key: str, value) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params[section][key] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="session")
def built_project(tmp_path_factory):
    """The tiny project after `dvc repro`, committed as "dataset v1": (repo, repro output).

    Tests never change it: one that runs DVC again works on its own copy (``project``)."""
    repo, output = built_once(tmp_path_factory, "project", _build_project)
    return Path(repo), output


def _build_project(repo: Path) -> list[str]:
    _copy_project(repo, tiny_params_dict())
    _run(repo, "git", "init", "-q")
    _dvc(repo, "init", "-q")
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "commit", "-qm", "tiny project")
    output = _dvc(repo, "repro")
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "commit", "-qm", "dataset v1")
    return [str(repo), output]


@pytest.fixture
def project(built_project, tmp_path):
    """A private copy of the built project (git, DVC cache, outputs and per-sample cache)."""
    copy = tmp_path / "project"
    shutil.copytree(built_project[0], copy, symlinks=True)
    return copy


def test_repro_builds_the_dataset(built_project):
    repo, output = built_project
    assert _stages_run(output) == {
        "check_params", "calibrate", "design", "sensitivity", "solve_aging", "solve_eis", "labels", "validate",
        "split", "train_baseline", "export_hf", "summary", "card",
    }
    labels = pd.read_parquet(repo / "data/labels/labels.parquet")
    spectra = pd.read_parquet(repo / "data/eis/spectra.parquet")
    assert labels["sample_id"].nunique() == 4
    assert set(spectra.columns) >= {
        "sample_id", "snapshot", "soc", "temperature_c", "frequency_hz", "z_re_ohm", "z_im_ohm",
        "z_abs_ohm", "phase_deg", "backend", "solver_status",
    }
    assert set(spectra["temperature_c"]) == set(tiny_params_dict()["eis"]["temperatures_c"])
    split = pd.read_parquet(repo / "data/split/split.parquet")
    sides = split.groupby("cell_design_id")["split"].nunique()
    assert (sides == 1).all()
    quality, split_metrics, train = (
        json.loads((repo / f"metrics/{name}.json").read_text()) for name in ("quality", "split", "train")
    )
    assert quality["samples"] == 4 and quality["snapshots"] == len(labels)
    assert split_metrics["leakage_groups"] == split_metrics["leakage_spectra"] == 0
    params = tiny_params_dict()
    for target in params["train"]["targets"]:
        if train[target]["rows_train"] >= 2 and train[target]["rows_test"] >= 1:
            for model in params["train"]["models"]:
                assert {"test", "random_test"} <= set(train[target][model])
    assert "random_forest" in train["soh"]
    rendered = json.loads(_dvc(repo, "plots", "show", "--json"))
    plotted = set(rendered["data"])
    assert "data/train/plots/predicted_vs_true/soh.random_forest.csv" in plotted
    assert "data/train/plots/importance/soh.random_forest.csv" in plotted
    assert "data/train/plots/learning_curve/soh.random_forest.csv" in plotted
    summary = json.loads((repo / "metrics/summary.json").read_text())
    assert summary["samples"] == 4 and "usable_share" in summary
    assert (repo / "data/hf/train.parquet").exists() and (repo / "data/hf/test.parquet").exists()
    assert (repo / "docs/dataset_card/README.md").exists()
    for name in ("calibration", "sensitivity"):
        assert (repo / f"metrics/{name}.json").exists()


def test_cli_run_gives_the_same_bytes_as_dvc_repro(built_project, tiny_dataset):
    from agingset.cli import artifact_hashes, main

    repo, _ = built_project
    cli_files = artifact_hashes(tiny_dataset)
    assert cli_files == artifact_hashes(repo)
    assert any(path.startswith("data/aging/") for path in cli_files) and "docs/dataset_card/README.md" in cli_files
    assert main(["check", str(repo)]) == 0  # the outputs match dvc.lock's hashes


def test_second_repro_runs_nothing(project):
    assert _stages_run(_dvc(project, "repro")) == set()


# The two tests below repro up to labels (the first stage behind every simulation), which is where the
# reruns they check end: the stages behind labels rerun after any of its outputs changes, which
# test_train_change_reruns_only_training and the exp run test run through to the card.


def test_eis_change_reruns_only_impedance_and_downstream(project):
    _set_param(project, "eis", "points_per_decade", 3)
    ran = _stages_run(_dvc(project, "repro", "labels"))
    assert {"solve_eis", "labels"} <= ran
    assert not ran & {"calibrate", "design", "solve_aging"}


def test_noise_change_reruns_labels_onward_and_no_simulation(project):
    _set_param(project, "noise", "voltage_noise_v", 1.0e-3)
    ran = _stages_run(_dvc(project, "repro", "labels", "sensitivity"))  # sensitivity: no stage's dependency
    assert "labels" in ran
    assert not ran & {"calibrate", "design", "sensitivity", "solve_aging", "solve_eis"}


def test_train_change_reruns_only_training(project):
    _set_param(project, "train", "n_estimators", 12)
    # check_params reads every key; its output is constant, so nothing behind it reruns.
    assert _stages_run(_dvc(project, "repro")) == {"check_params", "train_baseline", "summary", "card"}


def test_exp_run_grows_the_dataset_metrics_diff_shows_it_and_the_loader_reads_both(project):
    from agingset.loader import load_dataset

    output = _dvc(project, "exp", "run", "-S", "samples=5")
    # The design is nested and samples are cached: only the new trajectory is solved.
    assert "solve_aging: 1 computed, 4 from cache" in output, output
    design = pd.read_parquet(project / "data/design/samples.parquet")
    assert len(design) == 5
    diff = _dvc(project, "metrics", "diff")
    assert re.search(r"metrics/quality\.json\s+samples\s+4\s+5", diff), diff
    # The loader reads a committed version through DVC, and the workspace.
    committed = load_dataset("HEAD", split=None, repo=str(project))  # dataset v1: 4 samples
    workspace = load_dataset(project, split=None)  # after `exp run -S samples=5`
    assert committed.meta["sample_id"].nunique() == 4
    assert workspace.meta["sample_id"].nunique() == 5
    # The design is nested: the committed samples are the first of the grown dataset.
    assert set(committed.meta["sample_id"]) <= set(workspace.meta["sample_id"])
    headline = _dvc(project, "metrics", "diff", "--targets", "metrics/summary.json")
    assert re.search(r"metrics/summary\.json\s+samples\s+4\s+5", headline), headline
    assert len(headline.splitlines()) < 60


SOLVED = ("aging", "eis/spectra.parquet", "sensitivity/runs.parquet", "sensitivity/indices.parquet")


def _same_bytes(reference: Path, other: Path, relative: str) -> None:
    left, right = reference / relative, other / relative
    if left.is_dir():
        comparison = filecmp.dircmp(left, right)
        assert comparison.left_list == comparison.right_list, relative
        _, mismatch, errors = filecmp.cmpfiles(left, right, comparison.left_list, shallow=False)
        assert not mismatch and not errors, (relative, mismatch, errors)
    else:
        assert filecmp.cmp(left, right, shallow=False), relative


def test_outputs_do_not_depend_on_executor_or_worker_count(built_project, tiny_dataset, tmp_path):
    """The solved outputs of the same params, byte for byte, on the local executor with 1 worker
    (`agingset run --workers 1`: the tiny_dataset), on the local executor with 2 workers (`dvc repro` with
    AGINGSET_WORKERS=2: the built project) and on Dask with 2 workers (aging and spectra solved here from
    the built project's calibration and design). Every solve stage runs its tasks through the same
    executor (tests/test_executor.py checks its ordering on toy tasks); the Sobol runs and indices are
    compared between the two local runs."""
    assert _env()["AGINGSET_WORKERS"] == "2" and _env()["AGINGSET_EXECUTOR"] == "local"  # the built project's
    built = built_project[0] / "data"
    repo = tmp_path / "dask2"
    repo.mkdir()
    _copy_project(repo, tiny_params_dict())
    for inputs in ("calibrate", "design"):
        shutil.copytree(built / inputs, repo / "data" / inputs)
    for stage in ("solve_aging", "solve_eis"):
        _run(repo, sys.executable, "-m", f"stages.{stage}", workers="2", executor="dask")
    local1, local2, dask2 = tiny_dataset / "data", built, repo / "data"
    for relative in SOLVED:
        _same_bytes(local1, local2, relative)
    for relative in ("aging", "eis/spectra.parquet"):
        _same_bytes(local1, dask2, relative)

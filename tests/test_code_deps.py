"""Code dependencies have one source, the import closure of each stage module.

The static tests compare dvc.yaml with the closures (a new module only needs
`python -m agingset.code_deps --write`); the DVC tests show, with the real dvc CLI, that
changing a module a stage imports makes `dvc status` report that stage, and that a typo in
params.yaml fails `dvc repro` without rerunning anything else.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agingset import code_deps
from agingset.cache import code_fingerprint
from tests.conftest import ROOT

PROJECT_FILES = ["dvc.yaml", "params.yaml", "stages", "agingset", ".dvcignore", "reference-data"]


def test_dvc_yaml_code_deps_are_the_stage_closures():
    found = code_deps.differences(ROOT / "dvc.yaml")
    assert not found, f"dvc.yaml code deps differ from the imports: {found}; run `python -m agingset.code_deps --write`"


def test_every_stage_runs_a_module_and_cli_runs_them_in_dvc_yaml_order():
    from agingset.cli import STAGES

    modules = code_deps.stage_modules(ROOT / "dvc.yaml")
    assert list(STAGES) == list(modules)
    assert all(module == f"stages.{stage}" for stage, module in modules.items())


def test_closure_follows_lazy_relative_and_submodule_imports():
    aging = code_deps.closure("agingset.tasks.aging")
    assert "agingset.executor" in aging  # `from ..executor import cached` inside a function
    assert "agingset.cache" in aging  # through executor
    assert {"agingset", "agingset.tasks", "agingset.physics", "agingset.physics.aging"} <= set(aging)
    assert "agingset.executor" not in code_deps.closure("agingset.physics.aging")  # physics knows no executor
    eis = code_deps.closure_files("agingset.tasks.eis")
    assert eis[0] == "agingset/tasks/eis.py" and "agingset/physics/eis.py" in eis
    # The frequency grid and range mapping live in params.py; spectrum features are computed in
    # labels, so editing them never invalidates a solved spectrum.
    assert "agingset/params.py" in eis and "agingset/impedance_features.py" not in eis
    assert "agingset/impedance_features.py" in code_deps.closure_files("stages.labels")
    # A package file a module reads is in the closure of whatever imports that module.
    assert "agingset/templates/dataset_card.md" in code_deps.closure_files("stages.card")
    assert "pandas" not in code_deps.closure("agingset.cache")


def test_cache_fingerprint_covers_the_solved_functions_closure(monkeypatch, tmp_path):
    import stages._solve as solve
    from agingset.tasks.eis import solve_spectra

    monkeypatch.chdir(tmp_path)  # `agingset run` solves inside its output directory
    seen = {}
    monkeypatch.setattr(solve, "run_tasks", lambda *a, **k: (seen.setdefault("fingerprint", k["fingerprint"]), ""))
    solve.solve_all(solve_spectra, [], "solve_eis", 1.0)
    files = code_deps.closure_files("agingset.tasks.eis")
    assert seen["fingerprint"] == code_fingerprint(ROOT / path for path in files)
    assert seen["fingerprint"] != code_fingerprint(
        ROOT / path for path in files if path != "agingset/params.py"
    )


def _project_copy(target: Path, dvc_text: str) -> Path:
    for name in ("stages", "agingset"):
        (target / name).symlink_to(ROOT / name)
    (target / "dvc.yaml").write_text(dvc_text)
    return target / "dvc.yaml"


def test_check_fails_when_a_dep_is_removed_and_write_restores_it(tmp_path):
    text = (ROOT / "dvc.yaml").read_text()
    stage_block = text.index("  solve_eis:")
    line = "      - agingset/params.py\n"
    where = text.index(line, stage_block)
    broken = _project_copy(tmp_path, text[:where] + text[where + len(line):])
    assert code_deps.differences(broken) == {"solve_eis": {"missing": ["agingset/params.py"], "extra": []}}
    assert code_deps.main(["--check", "--dvc-yaml", str(broken)]) == 1
    assert code_deps.main(["--write", "--dvc-yaml", str(broken)]) == 0
    assert broken.read_text() == text  # comments, order and every other key as written


def test_write_puts_a_new_module_in_place_and_drops_a_removed_one(tmp_path):
    text = (ROOT / "dvc.yaml").read_text()
    stale = text.replace("      - stages/split.py\n", "      - stages/split.py\n      - agingset/gone.py\n", 1)
    broken = _project_copy(tmp_path, stale)
    assert code_deps.differences(broken)["split"] == {"missing": [], "extra": ["agingset/gone.py"]}
    expected = code_deps.expected_code_deps(broken)
    expected["split"] = [*expected["split"], "agingset/new_module.py"]
    rewritten = yaml.safe_load(code_deps.rewrite(stale, expected))["stages"]["split"]["deps"]
    assert "agingset/gone.py" not in rewritten and "agingset/new_module.py" in rewritten
    assert rewritten[-3:] == ["data/design/samples.parquet", "data/labels", "data/validate"]


def test_project_imports_have_no_cycle():
    assert code_deps.import_cycles() == []


def test_imports_for_type_checkers_only_are_not_code_deps(tmp_path):
    package = tmp_path / "agingset"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "typed.py").write_text("")
    (package / "used.py").write_text("")
    (package / "module.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import typing\n"
        "if TYPE_CHECKING:\n    from .typed import Config\n"
        "if typing.TYPE_CHECKING:\n    from . import typed\nelse:\n    from . import used\n"
    )
    assert code_deps.closure("agingset.module", tmp_path) == ["agingset", "agingset.module", "agingset.used"]
    # physics.model names the params types for type checkers only: params runs its checks, not the reverse.
    assert "agingset.params" not in code_deps.closure("agingset.physics.model")


# ---- the real dvc CLI ---------------------------------------------------------------------------


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(PYBAMM_DISABLE_TELEMETRY="true", AGINGSET_QUIET="1", DVC_NO_ANALYTICS="1")
    return env


def _run(repo: Path, *command: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=repo, env=_env(), capture_output=True, text=True)
    if check:
        assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _dvc(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _run(repo, sys.executable, "-m", "dvc", *args, check=check)


@pytest.fixture(scope="module")
def committed_repo(tmp_path_factory):
    """A git + DVC copy of the project whose dvc.lock records every stage as done.

    Outputs are stand-ins (nothing is simulated) except check_params', which its stage writes;
    `dvc commit` records them, so `dvc status` is clean until a dep changes.
    """
    repo = tmp_path_factory.mktemp("code_deps_project")
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, repo / name)
    (repo / ".gitignore").write_text("/data/\n__pycache__/\n/.agingset-cache/\n")
    _run(repo, "git", "init", "-q")
    _run(repo, "git", "config", "user.name", "agingset tests")
    _run(repo, "git", "config", "user.email", "tests@agingset.invalid")
    _dvc(repo, "init", "-q")
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    for stage in stages.values():
        for out in [*stage.get("outs", []), *stage.get("metrics", [])]:
            path = repo / (out if isinstance(out, str) else next(iter(out)))
            if path.suffix:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("{}\n")
            else:
                path.mkdir(parents=True, exist_ok=True)
                (path / "stand-in").write_text("stand-in\n")
    for stage in stages.values():
        for dep in stage.get("deps", []):
            if not (repo / dep).exists():
                (repo / dep).write_text("stand-in\n")
    _run(repo, sys.executable, "-m", "stages.check_params")
    _dvc(repo, "commit", "-f", "-q")
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "commit", "-qm", "project with a recorded pipeline")
    assert "up to date" in _dvc(repo, "status").stdout
    return repo


def _stages_with_changed_code(repo: Path) -> dict[str, set[str]]:
    status = json.loads(_dvc(repo, "status", "--json").stdout or "{}")
    changed = {}
    for stage, entries in status.items():
        for entry in entries:
            if isinstance(entry, dict) and "changed deps" in entry:
                changed.setdefault(stage, set()).update(entry["changed deps"])
    return changed


def _assert_touching_reports_its_importers(repo: Path, module_path: str) -> None:
    expected = {stage for stage, files in code_deps.expected_code_deps(repo / "dvc.yaml").items() if module_path in files}
    source = repo / module_path
    original = source.read_text()
    source.write_text(original + "\n# touched\n")
    try:
        changed = _stages_with_changed_code(repo)
    finally:
        source.write_text(original)
    assert set(changed) == expected, module_path
    assert all(deps == {module_path} for deps in changed.values())


def test_changing_params_py_makes_dvc_status_report_exactly_the_stages_importing_it(committed_repo):
    _assert_touching_reports_its_importers(committed_repo, "agingset/params.py")


def test_changing_spectrum_feature_code_reruns_labels_onwards_and_no_impedance_solve(committed_repo):
    source = committed_repo / "agingset/impedance_features.py"
    original = source.read_text()
    source.write_text(original + "\n# a feature function edited\n")
    try:
        changed = _stages_with_changed_code(committed_repo)
    finally:
        source.write_text(original)
    assert "labels" in changed and "solve_eis" not in changed and "solve_aging" not in changed
    assert changed["labels"] == {"agingset/impedance_features.py"}


def test_changing_any_module_makes_dvc_status_report_every_stage_importing_it(committed_repo):
    """Every project module at once: each stage must report exactly its closure as changed deps, which
    is "a stage is reported for a module iff it imports it", for all modules, in one `dvc status`."""
    expected = code_deps.expected_code_deps(committed_repo / "dvc.yaml")
    touched = {path: (committed_repo / path).read_text() for files in expected.values() for path in files}
    for path, text in touched.items():
        (committed_repo / path).write_text(text + "\n# touched\n")
    try:
        changed = _stages_with_changed_code(committed_repo)
    finally:
        for path, text in touched.items():
            (committed_repo / path).write_text(text)
    assert changed == {stage: set(files) for stage, files in expected.items()}


@pytest.mark.slow
def test_a_params_typo_fails_dvc_repro_and_a_valid_edit_reruns_nothing_else(committed_repo):
    repo = committed_repo
    assert "Running stage" not in _dvc(repo, "repro").stdout  # a no-op repro stays a no-op
    params_file = repo / "params.yaml"
    original = params_file.read_text()
    try:
        params_file.write_text(original + "sampels: 500\n")
        failed = _dvc(repo, "repro", check=False)
        assert failed.returncode != 0
        errors = [line for line in failed.stderr.splitlines() if line.startswith("error: params.yaml")]
        assert errors == [
            "error: params.yaml: sampels: unknown key; allowed: samples, seed, design, model, solver, aging, eis, "
            "labels, validate, split, train, noise, calibrate, sensitivity"
        ], failed.stderr
        assert "Running stage 'calibrate'" not in failed.stdout
        # A valid edit of a key only the training declares, and of the aging solve's tolerance (the
        # fit has its own, calibrate.solver): the check reruns, its constant output leaves calibrate
        # (and so every stage behind it) up to date.
        params = yaml.safe_load(original)
        params["train"]["n_estimators"] = params["train"]["n_estimators"] + 1
        params["solver"]["atol"] = 2 * params["solver"]["atol"]
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        ran = _dvc(repo, "repro", "calibrate").stdout
        assert "Running stage 'check_params'" in ran and "Running stage 'calibrate'" not in ran, ran
    finally:
        params_file.write_text(original)
        _dvc(repo, "repro", "check_params")

"""`agingset run/card/check`: the pipeline's stages without DVC, verified by hashes."""

import shutil

import pytest
import yaml

from agingset.cli import MANIFEST, STAGES, main
from tests.conftest import ROOT, tiny_params_dict


def test_cli_runs_the_stages_of_dvc_yaml_in_order():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert list(STAGES) == list(stages)


def test_run_writes_params_and_a_manifest_that_checks(tiny_dataset, capsys):
    assert yaml.safe_load((tiny_dataset / "params.yaml").read_text()) == tiny_params_dict()
    assert (tiny_dataset / MANIFEST).exists()
    assert main(["check", str(tiny_dataset)]) == 0
    assert "0 problems" in capsys.readouterr().out


def test_check_finds_changed_missing_and_extra_files(tiny_dataset, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_dataset, copy)
    labels = copy / "data/labels/labels.csv"
    labels.write_text(labels.read_text().replace("censored", "simulated", 1))
    (copy / "data/split/split.parquet").unlink()
    (copy / "data/extra.csv").write_text("x\n")
    assert main(["check", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "changed  data/labels/labels.csv" in out
    assert "missing  data/split/split.parquet" in out
    assert "extra    data/extra.csv" in out


def test_card_command_rewrites_the_same_card(tiny_dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_dataset, copy)
    shutil.rmtree(copy / "docs")
    assert main(["--quiet", "card", str(copy)]) == 0
    assert main(["check", str(copy)]) == 0


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    params = tiny_params_dict()
    params["design"]["method"] = "grid"
    params_file = tmp_path / "bad.yaml"
    params_file.write_text(yaml.safe_dump(params))
    assert main(["run", "--params", str(params_file), "--output", str(tmp_path / "out")]) == 2
    assert "params.yaml: design.method" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(["check", str(tmp_path)]) == 2
    assert "neither manifest.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--workers", "0", "--output", str(tmp_path / "out")])


def test_a_bpx_parameter_file_travels_with_the_output(tmp_path):
    from agingset.cli import _bundle_bpx, _read_params
    from tests.test_bpx import BPX_LACKS

    project = tmp_path / "project"
    (project / "cells").mkdir(parents=True)
    shutil.copyfile(ROOT / "tests/data/toy_cell_bpx.json", project / "cells/toy.json")
    params = tiny_params_dict()
    params["model"].update(parameter_set="bpx:cells/toy.json", options={}, parameter_overrides=BPX_LACKS)
    params["design"]["cell_parameters"] = {
        "Negative electrode active material volume fraction": {"low": 0.6, "high": 0.7}
    }
    params["aging"]["activation_energies"] = {}  # a BPX cell has no degradation rates
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    output = tmp_path / "out"
    output.mkdir()
    bundled = _bundle_bpx(_read_params(project / "params.yaml", samples=2, seed=None), output)
    assert bundled["model"]["parameter_set"] == "bpx:toy.json"
    assert bundled["samples"] == 2
    assert (output / "toy.json").read_bytes() == (project / "cells/toy.json").read_bytes()

"""Layers point one way (read from the source with ast, lazy imports included, as code_deps reads deps):
stages -> agingset, benchmarks -> agingset, studies -> agingset; tests import agingset and the stages'
entry points, never benchmarks or studies; no import cycle, type-checking imports included."""

import pytest

from agingset.code_deps import ROOT, import_cycles, imported_modules, package_modules

PACKAGES = ("agingset", "stages", "benchmarks", "studies", "tests")
# What each top-level package may import of the others (its own modules always).
ALLOWED = {
    "agingset": set(),
    "stages": {"agingset"},
    "benchmarks": {"agingset"},
    "studies": {"agingset"},
    "tests": {"agingset", "stages"},
}


def layer_violations() -> list[str]:
    violations = []
    for module in package_modules(ROOT, tuple(p for p in PACKAGES if (ROOT / p).is_dir())):
        layer = module.split(".")[0]
        for target in sorted(imported_modules(module, ROOT, PACKAGES, type_checking=True)):
            other = target.split(".")[0]
            if other != layer and other not in ALLOWED[layer]:
                violations.append(f"{module} imports {target}")
    return violations


def test_layers_point_one_way():
    assert layer_violations() == []


def test_no_import_cycle_lazy_and_type_checking_imports_included():
    assert import_cycles(ROOT, tuple(p for p in PACKAGES if (ROOT / p).is_dir()), type_checking=True) == []


@pytest.mark.parametrize(
    "source, message",
    [
        ("def main():\n    from stages._io import write_json\n", "agingset.layer_probe imports stages._io"),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import benchmarks\n", "agingset.layer_probe imports benchmarks"),
    ],
)
def test_a_lazy_or_type_checking_import_against_the_direction_is_found(tmp_path, source, message):
    for package in ("agingset", "stages", "benchmarks"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "stages" / "_io.py").write_text("")
    (tmp_path / "agingset" / "layer_probe.py").write_text(source)
    found = sorted(imported_modules("agingset.layer_probe", tmp_path, PACKAGES, type_checking=True))
    assert message.split(" imports ")[1] in found

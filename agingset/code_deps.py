"""The project code a stage runs: the one source of its `dvc.yaml` code deps and its cache fingerprint.

A module's *closure* is its own source file and every project module it imports, transitively: each
``import``/``from ... import`` anywhere in the file (lazy imports inside functions included; those under
``if TYPE_CHECKING:``, which never run, left out), and the packages (``__init__.py``) Python executes
to reach them. It is read from the source with :mod:`ast`,
so nothing is imported (no PyBaMM start-up) and a module behind a lazy import is never missed.

    python -m agingset.code_deps --check   # exit 1 and list the stages whose dvc.yaml code deps differ
    python -m agingset.code_deps --write   # rewrite those deps in dvc.yaml (comments and other keys kept)
    python -m agingset.code_deps MODULE    # print a module's closure

A stage's code deps are the closure of the module its ``cmd`` runs (``python -m stages.<name>``); the
per-sample cache of a solving stage is keyed by the closure of the module holding the solved function.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agingset", "stages")
DVC_YAML = ROOT / "dvc.yaml"
_STAGE_MODULE = re.compile(r"python\S*\s+-m\s+([\w.]+)")
# Package files a module reads (not imports): part of the closure of every module that imports it.
DATA_FILES = {"agingset.card": ("agingset/templates/dataset_card.md",)}


def module_file(name: str, root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> Path | None:
    """The source file of module ``name`` of one of ``packages`` (a package's ``__init__.py``), or None."""
    parts = name.split(".")
    if parts[0] not in packages:
        return None
    base = root.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:index]) for index in range(1, len(parts))]


def _type_checking_only(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): its body is read by type checkers, never run."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_nodes(tree: ast.AST, type_checking: bool = False):
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` blocks (their ``else`` runs),
    unless ``type_checking``: then every node."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        if _type_checking_only(node) and not type_checking:
            pending.extend([node.test, *node.orelse])
        else:
            pending.extend(ast.iter_child_nodes(node))


def imported_modules(
    name: str, root: Path = ROOT, packages: tuple[str, ...] = PACKAGES, type_checking: bool = False
) -> set[str]:
    """Modules of ``packages`` that module ``name`` imports anywhere in its source (not transitively;
    with ``type_checking``, the imports only type checkers read as well)."""
    path = module_file(name, root, packages)
    if path is None:
        return set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _run_nodes(ast.parse(path.read_text(), filename=str(path)), type_checking):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            # `from package import name` imports the submodule `name` when there is one.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    modules = {module for module in found if module_file(module, root, packages) is not None}
    return modules | {parent for module in modules for parent in _parents(module)}


@functools.lru_cache(maxsize=None)
def _closure(name: str, root: Path) -> frozenset[str]:
    seen = {name, *_parents(name)}
    pending = list(seen)
    while pending:
        for module in imported_modules(pending.pop(), root):
            if module not in seen:
                seen.add(module)
                pending.append(module)
    return frozenset(module for module in seen if module_file(module, root) is not None)


def closure(name: str, root: Path = ROOT) -> list[str]:
    """Module ``name`` and every project module it imports, transitively (sorted names)."""
    if module_file(name, root) is None:
        raise ValueError(f"{name}: not a module of the project packages {PACKAGES} under {root}")
    return sorted(_closure(name, Path(root)))


def closure_files(name: str, root: Path = ROOT) -> list[str]:
    """The closure as source paths relative to ``root`` (POSIX), the module's own file first."""
    own = module_file(name, root).relative_to(root).as_posix()
    modules = closure(name, root)
    others = sorted(
        [module_file(module, root).relative_to(root).as_posix() for module in modules]
        + [path for module in modules for path in DATA_FILES.get(module, ())]
    )
    return [own, *(path for path in others if path != own)]


def package_modules(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Every module of ``packages`` under ``root`` (sorted names)."""
    return sorted(
        ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        for package in packages
        for path in (root / package).rglob("*.py")
    )


def import_cycles(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES, type_checking: bool = False) -> list[list[str]]:
    """Cycles among the modules of ``packages`` (package ``__init__`` edges left out), each as a module
    list; lazy imports count, and with ``type_checking`` so do the imports only type checkers read."""
    modules = package_modules(root, packages)
    graph = {
        module: sorted(
            target for target in imported_modules(module, root, packages, type_checking) if target not in _parents(module)
        )
        for module in modules
    }
    cycles, state, stack = [], {}, []

    def visit(module: str) -> None:
        state[module] = "open"
        stack.append(module)
        for target in graph.get(module, []):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in modules:
        if module not in state:
            visit(module)
    return cycles


# ---- dvc.yaml --------------------------------------------------------------------------------------


def _is_code(dep: str) -> bool:
    data = {path for paths in DATA_FILES.values() for path in paths}
    return (dep.endswith(".py") and dep.split("/", 1)[0] in PACKAGES) or dep in data


def stage_modules(dvc_yaml: Path = DVC_YAML) -> dict[str, str]:
    """Each stage of dvc.yaml (in file order) and the module its ``cmd`` runs with ``python -m``."""
    import yaml

    stages = yaml.safe_load(Path(dvc_yaml).read_text())["stages"]
    modules = {}
    for name, stage in stages.items():
        match = _STAGE_MODULE.search(str(stage.get("cmd", "")))
        if not match:
            raise ValueError(f"dvc.yaml stage {name}: cmd is not `python -m <module>`: {stage.get('cmd')!r}")
        modules[name] = match.group(1)
    return modules


def expected_code_deps(dvc_yaml: Path = DVC_YAML) -> dict[str, list[str]]:
    """The code deps each stage should declare: the closure of its stage module."""
    root = Path(dvc_yaml).resolve().parent
    return {stage: closure_files(module, root) for stage, module in stage_modules(dvc_yaml).items()}


def declared_code_deps(dvc_yaml: Path = DVC_YAML) -> dict[str, list[str]]:
    import yaml

    stages = yaml.safe_load(Path(dvc_yaml).read_text())["stages"]
    return {
        name: [dep for dep in stage.get("deps", []) if isinstance(dep, str) and _is_code(dep)]
        for name, stage in stages.items()
    }


def differences(dvc_yaml: Path = DVC_YAML) -> dict[str, dict[str, list[str]]]:
    """Per stage whose declared code deps differ from its closure: what is missing and what is extra."""
    declared = declared_code_deps(dvc_yaml)
    found = {}
    for stage, expected in expected_code_deps(dvc_yaml).items():
        missing = sorted(set(expected) - set(declared[stage]))
        extra = sorted(set(declared[stage]) - set(expected))
        if missing or extra:
            found[stage] = {"missing": missing, "extra": extra}
    return found


def rewrite(text: str, expected: dict[str, list[str]]) -> str:
    """dvc.yaml ``text`` with each stage's code deps replaced by ``expected`` (line-based: comments,
    other deps and every other key stay as written; the code deps take the place of the first one)."""
    out: list[str] = []
    section = stage = None
    in_deps = written = False
    deps_indent = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        content = bool(stripped) and not stripped.startswith("#")
        if content:
            if in_deps and (indent < deps_indent or (indent == deps_indent and not stripped.startswith("- "))):
                in_deps = False
            if indent == 0:
                section, stage = stripped.split(":")[0], None
            elif section == "stages" and indent == 2:
                stage = stripped.split(":")[0]
            elif stage in expected and stripped == "deps:":
                in_deps, written, deps_indent = True, False, indent
                out.append(line)
                continue
        if in_deps and content and stripped.startswith("- ") and _is_code(stripped[2:].strip()):
            if not written:
                out.extend(f"{' ' * indent}- {path}\n" for path in expected[stage])
                written = True
            continue
        out.append(line)
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m agingset.code_deps", description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="exit 1 when dvc.yaml's code deps differ")
    action.add_argument("--write", action="store_true", help="rewrite dvc.yaml's code deps from the closures")
    action.add_argument("--cycles", action="store_true", help="list import cycles among project modules")
    action.add_argument("module", nargs="?", help="print this module's closure")
    parser.add_argument("--dvc-yaml", default=str(DVC_YAML))
    args = parser.parse_args(argv)
    dvc_yaml = Path(args.dvc_yaml)
    if args.module:
        print("\n".join(closure_files(args.module)))
        return 0
    if args.cycles:
        cycles = import_cycles()
        for cycle in cycles:
            print(" -> ".join(cycle))
        return 1 if cycles else 0
    found = differences(dvc_yaml)
    if args.write:
        missing_deps = [stage for stage, modules in declared_code_deps(dvc_yaml).items() if not modules]
        if missing_deps:
            print(f"stages without any code dep in dvc.yaml (add one by hand): {missing_deps}", file=sys.stderr)
            return 1
        dvc_yaml.write_text(rewrite(dvc_yaml.read_text(), expected_code_deps(dvc_yaml)))
        print(f"{dvc_yaml}: code deps of {len(found)} stages rewritten" if found else f"{dvc_yaml}: up to date")
        return 0
    for stage, diff in found.items():
        print(f"{stage}: missing {diff['missing']}, extra {diff['extra']}")
    if found:
        print("fix: python -m agingset.code_deps --write", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

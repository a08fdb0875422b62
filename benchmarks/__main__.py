"""The benchmark suite's runner.

    python -m benchmarks list                                   every benchmark and its question
    python -m benchmarks run [--output FILE] NAME [args...]     run one; args go to the benchmark

A benchmark is a module of this package whose name does not start with ``_``; its question is the first
line of its docstring, and ``main(argv)`` runs it. Its headline figures go to ``benchmarks/results/NAME.json``,
or to FILE with ``--output`` (given before NAME: after it, every argument is the benchmark's own).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import os
import pkgutil
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def benchmark_names() -> list[str]:
    """The package's benchmark modules (``_``-prefixed ones, and this runner, are not benchmarks)."""
    return sorted(m.name for m in pkgutil.iter_modules([str(PACKAGE)]) if not m.name.startswith("_"))


def question(name: str) -> str:
    """The first line of a benchmark's docstring, read without importing it (no PyBaMM to load)."""
    docstring = ast.get_docstring(ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))) or ""
    return docstring.strip().splitlines()[0] if docstring.strip() else "(no docstring)"


def list_benchmarks() -> None:
    names = benchmark_names()
    width = max(map(len, names))
    for name in names:
        print(f"{name:{width}s}  {question(name)}")


def run(name: str, argv: list[str], output: str | None) -> int:
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    from benchmarks import _common

    _common.set_output(Path(output).resolve() if output else None)
    module = importlib.import_module(f"benchmarks.{name}")
    sys.argv = [f"benchmarks.{name}", *argv]  # as `python -m benchmarks.NAME args...` would see them
    status = module.main(argv)
    return status if isinstance(status, int) else 0


def main(argv: list[str] | None = None) -> int:
    names = benchmark_names()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0], epilog="benchmarks/README.md: results and machines"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every benchmark and the question it answers")
    runner = commands.add_parser("run", help="run one benchmark", description="Run one benchmark; arguments after NAME are its own.")
    runner.add_argument("--output", metavar="FILE", help="write the result JSON here instead of benchmarks/results/NAME.json")
    runner.add_argument("name", choices=names, metavar="NAME", help=", ".join(names))
    runner.add_argument("args", nargs=argparse.REMAINDER, help="the benchmark's own arguments (NAME --help lists them)")
    arguments = parser.parse_args(argv)
    if arguments.command == "list":
        list_benchmarks()
        return 0
    return run(arguments.name, arguments.args, arguments.output)


if __name__ == "__main__":
    sys.exit(main())

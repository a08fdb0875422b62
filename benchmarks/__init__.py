"""Timed and side-by-side comparisons of the pipeline's code paths: `python -m benchmarks list` names them with
their questions, `python -m benchmarks run NAME [args...]` runs one (benchmarks/README.md).

Each module's docstring opens with its question; its ``main(argv)`` runs it and records its headline figures
with ``benchmarks._common.write_result``. Benchmarks import ``agingset`` and ``benchmarks._common`` only.
"""

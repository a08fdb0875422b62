"""One-off studies: probes and diagnoses whose answers informed a decision (studies/README.md lists each
question and its answer). Each runs as `python -m studies.NAME` from the project root; studies import
``agingset`` only, never ``stages`` or ``benchmarks``.
"""

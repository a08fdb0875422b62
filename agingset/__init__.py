"""agingset: physics-labelled battery aging and impedance datasets from PyBaMM."""

import os

# PyBaMM may ask an interactive telemetry question on first import; a pipeline must never wait on it.
os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

__version__ = "0.1.0"

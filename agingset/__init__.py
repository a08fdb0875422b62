"""agingset: physics-labelled battery aging and impedance datasets from PyBaMM."""

__version__ = "0.1.0"

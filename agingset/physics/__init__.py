"""PyBaMM physics: model construction, aging experiments and impedance."""

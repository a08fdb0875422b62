"""Joint identification of the cell model against real measurements.

One parameter vector is fitted to several measurements at once, each simulated the way it was
measured (impedance spectra, constant-current discharges, a drive cycle, current pulses); held-out
records are simulated with the fitted values and reported, never fitted. The entry is
:func:`agingset.calibration.calibrate.calibrate` (``calibrate(params, measurements) ->
CalibrationResult``); the dataset's side of its result is :mod:`.dataset`.

Modules, one job each:

- :mod:`.measurements`: the measurement tables' formats and checks;
- :mod:`.observations`: the records as observations with their role (fit / held out) and weight;
- :mod:`.balance`: the rate-test cells' electrode balance from their measured OCV;
- :mod:`.cell_models`: the models, built once, solved for any trial values;
- :mod:`.prediction`: one record's residuals, Jacobian, tables and error metrics;
- :mod:`.optimiser`: the trust-region fit, standard errors and correlation;
- :mod:`.report`: error summaries, design ranges, where a cell puts the labelled SOCs;
- :mod:`.calibrate`: the entry, and which fitted values the dataset takes;
- :mod:`.dataset`: the dataset's model and design from a calibration;
- :mod:`.figures`: the dataset card's calibration section.

This file imports nothing, so a stage that needs only :mod:`.dataset` does not load the fit.
"""

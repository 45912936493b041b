"""The simulator as the forward model of a film's domain image (any film, its own constants).

``statistics`` reads an image or a relaxed state into instrument-robust geometry statistics;
``design`` chooses the simulation grid and the design points of a film and relaxes them (cached per
film on disk, common random numbers over seeds); ``emulator`` fits the statistics' mean and scatter
locally in (reduced wall energy, σ) with its own error; ``posterior`` samples D, σ and the film's
uncertain constants with NUTS on it and splits D's variance into an error budget.
"""

"""studies/ms_information.py: the per-image Ms error from a statistic's scatter at fixed parameters."""


import numpy as np


def load_benchmark():
    from studies import ms_information

    return ms_information


def test_the_floor_is_the_scatter_over_the_sensitivity():
    # log W = 1.2 log Ms + 6 σ + noise of sd 0.15: one image gives Ms to 0.15 / 1.2 = 12.5 %, and a
    # statistic that does not depend on Ms at all (slope 0) gives an error far beyond the box.
    bench = load_benchmark()
    rng = np.random.default_rng(0)
    n = 4000
    ms, sigma = rng.uniform(200e3, 700e3, n), rng.uniform(0.05, 0.2, n)
    y = 1.2 * np.log(ms) + 6.0 * sigma + rng.normal(0, 0.15, n)
    f = bench.floor(y, np.log(ms), sigma)
    assert abs(f["d_dlogMs"] - 1.2) < 0.03 and abs(f["d_dsigma"] - 6.0) < 0.2
    assert abs(f["residual_sd"] - 0.15) < 0.006
    assert abs(f["ms_relative_error"] - 0.125) < 0.006
    flat = bench.floor(6.0 * sigma + rng.normal(0, 0.15, n), np.log(ms), sigma)
    assert flat["ms_relative_error"] > 3
